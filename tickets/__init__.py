"""Issue reports -> tickets: model, routing rules, duplicate linking, lifecycle.

Knows nothing of Slack; ``bot`` adapts it to Slack and to the command line.
"""
