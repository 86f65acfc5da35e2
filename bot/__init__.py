"""pacsbot's Slack adapter and process: the only package that imports slack_bolt."""
