"""The mock Slack Web API in a process of its own, so that it does not share the load
generator's interpreter (and GIL) during a benchmark. Prints its API URL, then serves until
stdin closes."""

from __future__ import annotations

import sys

from pacsbot.bot.slackmock import MockSlack


def main() -> None:
    token = sys.argv[1] if len(sys.argv) > 1 else None
    with MockSlack(token=token) as mock:
        print(mock.api_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
