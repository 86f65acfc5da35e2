"""``pacsbot serve``: HTTP mode behind gunicorn, or Socket Mode.

HTTP mode serves ``POST /slack/events`` (commands, events and interactivity; Bolt verifies
every signature) and ``GET /healthz`` (JSON: database and Slack status) from gunicorn's
threaded workers, so one slow request never blocks another. Each worker process builds its
own services and Bolt app after the fork; migrations run once, in the master, before.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt.adapter.wsgi import SlackRequestHandler

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.services import Services

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


class SlackStatus:
    """``auth.test`` at most once a minute, so health checks do not spend Slack's rate limit."""

    def __init__(self, services: "Services", ttl: float = 60.0):
        self.services = services
        self.ttl = ttl
        self._lock = threading.Lock()
        self._at = 0.0
        self._value: dict[str, Any] = {"ok": False, "error": "not checked yet"}

    def get(self) -> dict[str, Any]:
        with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return self._value
            try:
                response = self.services.client.auth_test()
                self._value = {"ok": True, "team": response.get("team"), "bot_user": response.get("user_id")}
            except Exception as exc:  # noqa: BLE001 - reported as a status, not raised
                error = getattr(getattr(exc, "response", None), "get", lambda *_: None)("error") or type(exc).__name__
                self._value = {"ok": False, "error": str(error)}
            self._at = time.monotonic()
            return self._value


def health(services: "Services", slack: SlackStatus) -> tuple[int, dict[str, Any]]:
    try:
        services.db.check()
        database: dict[str, Any] = {"ok": True, "backend": services.db.backend}
    except Exception as exc:  # noqa: BLE001
        database = {"ok": False, "error": str(exc)}
    slack_state = slack.get()
    ok = bool(database["ok"] and slack_state["ok"])
    return (200 if ok else 503), {"status": "ok" if ok else "degraded", "database": database, "slack": slack_state}


def wsgi_app(app: "App", services: "Services") -> Callable[..., Iterable[bytes]]:
    """The WSGI application: Bolt on ``/slack/events``, health on ``/healthz``."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)
    slack = SlackStatus(services)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            status, body = health(services, slack)
            data = json.dumps(body).encode()
            start_response(f"{status} {'OK' if status == 200 else 'Service Unavailable'}",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data] if method == "GET" else [b""]
        if path == EVENTS_PATH and method == "POST":
            return bolt(environ, start_response)
        data = b'{"error": "not found"}'
        start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    return application


def build_wsgi(factory: Callable[[], tuple["App", "Services"]]) -> Callable[..., Iterable[bytes]]:
    app, services = factory()
    return wsgi_app(app, services)


def run_gunicorn(
    factory: Callable[[], Callable[..., Iterable[bytes]]],
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    on_worker_start: Callable[[], None] | None = None,
    on_worker_exit: Callable[[], None] | None = None,
) -> None:
    """Serve the WSGI app made by ``factory`` (called in each worker) with gunicorn gthread."""
    from gunicorn.app.base import BaseApplication

    class PacsbotServer(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 60)
            self.cfg.set("graceful_timeout", 30)
            self.cfg.set("keepalive", 5)
            self.cfg.set("backlog", 2048)
            self.cfg.set("accesslog", None)
            self.cfg.set("errorlog", "-")
            self.cfg.set("loglevel", "warning")
            self.cfg.set("preload_app", False)
            self.cfg.set("proc_name", "pacsbot")
            if on_worker_start is not None:
                self.cfg.set("post_worker_init", lambda worker: on_worker_start())
            if on_worker_exit is not None:
                # in the worker, before the interpreter joins its thread pools: stop queued work now
                self.cfg.set("worker_exit", lambda server, worker: on_worker_exit())

        def load(self) -> Callable[..., Iterable[bytes]]:
            return factory()

    PacsbotServer().run()


def run_socket_mode(app: "App", services: "Services", app_token: str) -> None:
    """Connect to Slack over Socket Mode (no public URL needed) until SIGTERM/SIGINT."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, app_token, web_client=services.client, concurrency=16)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    handler.connect()
    log.warning("pacsbot: connected to Slack in Socket Mode")
    stop.wait()
    handler.close()
