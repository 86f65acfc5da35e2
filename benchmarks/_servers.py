"""Servers for benchmarks/http_acks.py, all on the same gunicorn configuration.

    python -m benchmarks._servers bare|bare-slow|bare-healthz|pacsbot-slow --port P --workers W --threads T

``bare``: a bare Bolt app that acks /pacs (the ceiling); ``bare-bm25`` is ``bare`` answering
``/pacs ask`` inside the ack with the best section by a plain BM25 (rank_bm25 over the bundled
manuals' sections: the least an answering bot must do); ``bare-slow`` adds 2 s of lazy work
per request; ``bare-healthz`` is ``bare`` with a trivial ``GET /healthz`` (the peer of
benchmarks/startup.py); ``pacsbot-slow`` is ``pacsbot serve`` plus one subcommand that queues
2 s of work after the ack. Plain ``pacsbot serve`` is run through its own command line.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pacsbot.bot.server import run_gunicorn

SLOW_SECONDS = 2.0


_executors: list[ThreadPoolExecutor] = []


def bare(slow: bool, answer: Any = None) -> Any:
    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    from pacsbot.bot.slack_client import make_web_client

    executor = ThreadPoolExecutor(max_workers=8)
    _executors.append(executor)
    app = App(
        client=make_web_client(os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_API_URL"]),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=True,
        listener_executor=executor,
    )

    def ack_only(ack: Any, command: dict[str, Any]) -> None:
        if answer is None:
            ack("ok")
        else:
            text = answer(command.get("text") or "")
            ack(text=text[:200], blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}])

    def sleep(body: Any) -> None:
        time.sleep(SLOW_SECONDS)

    app.command("/pacs")(ack=ack_only, lazy=[sleep] if slow else [])
    return SlackRequestHandler(app)


def bare_bm25() -> Any:
    """``bare`` answering from the bundled manuals with rank_bm25, top section's text as is."""
    from pathlib import Path

    from rank_bm25 import BM25Okapi

    from pacsbot.knowledge.manuals import load_library
    from pacsbot.knowledge.text import STOPWORDS, words

    sections = [s for s in load_library([Path(__file__).resolve().parent.parent / "knowledge" / "manuals"]).sections
                if s.text.strip()]

    def tokens(text: str) -> list[str]:
        return [w for w in words(text) if w not in STOPWORDS]

    peer = BM25Okapi([tokens(f"{s.heading} {s.text}") for s in sections])

    def answer(text: str) -> str:
        scores = peer.get_scores(tokens(text.partition(" ")[2]))
        best = sections[int(scores.argmax())]
        return f"*{best.heading}*\n{best.markdown}"

    return bare(False, answer)


def bare_healthz() -> Any:
    """``bare`` plus ``GET /healthz`` answering 200 at once (no checks)."""
    slack = bare(False)

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "16")])
            return [b'{"status": "ok"}']
        return slack(environ, start_response)

    return application


def pacsbot_slow() -> Any:
    from pacsbot.bot.access import Role
    from pacsbot.bot.cli.serve import make_worker
    from pacsbot.bot.settings import Secrets, config_path_from, load_settings

    def extend(services: Any) -> None:
        @services.registry.subcommand("bench-sleep", role=Role.CLINICIAN, summary="benchmark: 2 s of work after the ack", hidden=True)
        def bench_sleep(ctx: Any) -> None:
            time.sleep(SLOW_SECONDS)

    return make_worker(load_settings(config_path_from(None)), Secrets.from_env(), extend)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["bare", "bare-bm25", "bare-slow", "bare-healthz", "pacsbot-slow"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    from pacsbot.bot.cli.serve import stop_worker

    def stop() -> None:
        stop_worker()
        for executor in _executors:
            executor.shutdown(wait=False, cancel_futures=True)

    factory = {"bare": lambda: bare(False), "bare-bm25": bare_bm25, "bare-slow": lambda: bare(True), "bare-healthz": bare_healthz,
               "pacsbot-slow": pacsbot_slow}[args.kind]
    run_gunicorn(factory, host="127.0.0.1", port=args.port, workers=args.workers, threads=args.threads, on_worker_exit=stop)


if __name__ == "__main__":
    main()
