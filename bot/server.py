"""``pacsbot serve``: HTTP mode behind gunicorn, or Socket Mode.

HTTP mode serves ``POST /slack/events`` (commands, events and interactivity; Bolt verifies
every signature), ``GET /healthz`` (JSON: database and Slack status) and ``GET /metrics``
(Prometheus, summed over the workers: ``bot.metrics_http``) from gunicorn's
threaded workers, so one slow request never blocks another. Each worker process builds its
own services and Bolt app after the fork; migrations run once, before (``pacsbot serve`` runs
them in a child process of the master), and the master preloads what every worker needs (the
modules, the manuals' index: ``bot.cli.serve.preload``), which the workers share copy-on-write.
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

from pacsbot.bot import metrics
from pacsbot.bot.metrics_http import MetricsPage, metrics_response, process_exited, use_multiprocess

if TYPE_CHECKING:
    from slack_bolt import App

    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"


class BoundedCheck:
    """A status check that never holds a request thread: ``fn`` runs on one thread of its
    own, at most once at a time, its answer kept for ``ttl`` seconds; a caller waits at most
    ``wait`` seconds for a fresh answer and otherwise hears that the check is not answering.

    A hung database or a slow Slack can no longer pile health checks onto the server's
    threads (each used to wait for its own ``SELECT 1``), delaying unrelated acks.
    """

    def __init__(self, name: str, fn: Callable[[], dict[str, Any]], *, ttl: float, wait: float):
        self.name = name
        self.fn = fn
        self.ttl = ttl
        self.wait = wait
        self._lock = threading.Lock()
        self._value: dict[str, Any] | None = None
        self._at = float("-inf")
        self._running: threading.Event | None = None

    def get(self, deadline: float | None = None) -> dict[str, Any]:
        """The latest answer; waits for a fresh one until ``deadline`` (monotonic) at most."""
        done = self.start()
        if done is None:
            return self._value  # type: ignore[return-value]  # fresh
        remaining = (deadline if deadline is not None else time.monotonic() + self.wait) - time.monotonic()
        if done.wait(max(0.0, remaining)):
            with self._lock:
                if self._value is not None:
                    return self._value
        return {"ok": False, "error": f"no answer within {self.wait:g} s (still checking)"}

    def start(self) -> threading.Event | None:
        """Start a check unless the answer is fresh (None) or one is running (its event)."""
        with self._lock:
            if self._value is not None and time.monotonic() - self._at < self.ttl:
                return None
            if self._running is None:
                self._running = threading.Event()
                threading.Thread(target=self._run, args=(self._running,), name=f"health-{self.name}", daemon=True).start()
            return self._running

    def _run(self, done: threading.Event) -> None:
        try:
            value = self.fn()
        except Exception as exc:  # noqa: BLE001 - reported as a status, not raised
            value = {"ok": False, "error": str(exc) or type(exc).__name__}
        with self._lock:
            self._value, self._at, self._running = value, time.monotonic(), None
        done.set()


def _database_status(services: "Services") -> dict[str, Any]:
    services.db.check()
    return {"ok": True, "backend": services.db.backend}


def _slack_status(services: "Services") -> dict[str, Any]:
    try:
        response = services.client.auth_test()
    except Exception as exc:  # noqa: BLE001 - reported as a status, not raised
        error = getattr(getattr(exc, "response", None), "get", lambda *_: None)("error") or type(exc).__name__
        return {"ok": False, "error": str(error)}
    return {"ok": True, "team": response.get("team"), "bot_user": response.get("user_id")}


OUTBOX_STUCK_SECONDS = 900  # a message waiting longer than this means sending is stuck


def _outbox_status(services: "Services") -> dict[str, Any]:
    """How many Slack messages wait to be sent, and for how long the oldest has waited."""
    from sqlalchemy import func, select

    from pacsbot.bot.models import OutboxMessage
    from pacsbot.bot.outbox import PENDING, SENDING

    with services.db.session() as s:
        count, oldest = s.execute(select(func.count(), func.min(OutboxMessage.created_at))
                                  .where(OutboxMessage.status.in_((PENDING, SENDING)))).one()
    age = max(0.0, (services.clock.now() - oldest).total_seconds()) if oldest is not None else 0.0
    return {"ok": age < OUTBOX_STUCK_SECONDS, "backlog": int(count or 0), "oldest_seconds": round(age)}


def outbox_check(services: "Services", wait: float = 0.9) -> BoundedCheck:
    """The outbox backlog, read at most every 10 s, waited for ``wait`` s at most (/healthz, /metrics)."""
    return BoundedCheck("outbox", lambda: _outbox_status(services), ttl=10.0, wait=wait)


class Health:
    """``/healthz``: the database (checked every few seconds) and Slack (``auth.test`` at most
    once a minute, so health checks do not spend Slack's rate limit), answered within 1 s.

    ``live`` adds checks that read this process's own state (no I/O), such as the Socket Mode
    connection and the scheduler's heartbeat; ``outbox`` adds the outbox backlog."""

    def __init__(self, services: "Services", *, wait: float = 0.9, outbox: bool = False,
                 live: dict[str, Callable[[], dict[str, Any]]] | None = None):
        self.wait = wait
        self.database = BoundedCheck("database", lambda: _database_status(services), ttl=5.0, wait=wait)
        self.slack = BoundedCheck("slack", lambda: _slack_status(services), ttl=60.0, wait=wait)
        self.outbox = outbox_check(services, wait) if outbox else None
        self.live = dict(live or {})

    def get(self) -> tuple[int, dict[str, Any]]:
        deadline = time.monotonic() + self.wait
        checks = [c for c in (self.database, self.slack, self.outbox) if c is not None]
        for check in checks:
            check.start()  # all at once: one wait for them all
        body: dict[str, Any] = {check.name: check.get(deadline) for check in checks}
        for name, fn in self.live.items():
            try:
                body[name] = fn()
            except Exception as exc:  # noqa: BLE001 - reported as a status, not raised
                body[name] = {"ok": False, "error": str(exc) or type(exc).__name__}
        ok = all(part["ok"] for part in body.values())
        return (200 if ok else 503), {"status": "ok" if ok else "degraded", **body}


def health_response(checks: Health, method: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
    status, body = checks.get()
    data = json.dumps(body).encode()
    start_response(f"{status} {'OK' if status == 200 else 'Service Unavailable'}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data] if method == "GET" else [b""]


def _well_formed_signature_headers(environ: dict[str, Any]) -> bool:
    """Slack's timestamp is whole seconds and its signature ``v0=`` + hex. Bolt answered 200
    to a timestamp it could not parse (the request was then dropped); refuse it as unsigned."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
    return timestamp.isdigit() and len(timestamp) <= 12 and signature.startswith("v0=") and len(signature) <= 200


def wsgi_app(app: "App", services: "Services") -> Callable[..., Iterable[bytes]]:
    """The WSGI application: Bolt on ``/slack/events``, health on ``/healthz``, ``/metrics``."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)
    checks = Health(services)
    page = MetricsPage(outbox=outbox_check(services).get)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return health_response(checks, method, start_response)
        if path == METRICS_PATH and method in ("GET", "HEAD"):
            return metrics_response(page, environ, start_response)
        if path == EVENTS_PATH and method == "POST":
            metrics.request_arrived()
            if not _well_formed_signature_headers(environ):
                metrics.count_ack("unknown", "unknown", 401, metrics.dispatch_started())
                data = b'{"error": "invalid request"}'
                start_response("401 Unauthorized", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
                return [data]
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
    """Serve the WSGI app made by ``factory`` (called in each worker) with gunicorn gthread.
    The workers count metrics into files in a folder of this run's, which ``/metrics`` adds up."""
    from gunicorn.app.base import BaseApplication

    class PacsbotServer(BaseApplication):
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
            # the app (services, database, threads) is built in each worker, after the fork;
            # what can be shared is loaded before it by the caller (bot.cli.serve.preload)
            self.cfg.set("preload_app", False)
            self.cfg.set("proc_name", "pacsbot")
            if on_worker_start is not None:
                self.cfg.set("post_worker_init", lambda worker: on_worker_start())
            if on_worker_exit is not None:
                # in the worker, before the interpreter joins its thread pools: stop queued work now
                self.cfg.set("worker_exit", lambda server, worker: on_worker_exit())
            # in the master, once a worker has exited: its live gauges are dropped from /metrics
            self.cfg.set("child_exit", lambda server, worker: process_exited(worker.pid))

        def load(self) -> Callable[..., Iterable[bytes]]:
            return factory()

    remove_metrics = use_multiprocess()  # before the workers fork: they inherit the folder
    try:
        PacsbotServer().run()
    finally:
        remove_metrics()


def run_socket_mode(app: "App", services: "Services", app_token: str, *, scheduler: Any = None,
                    health_address: tuple[str, int] | None = None) -> None:
    """Connect to Slack over Socket Mode (no public URL needed) until SIGTERM/SIGINT. With
    ``health_address``, ``GET /healthz`` there reports the WebSocket, the database, Slack,
    the outbox backlog and the scheduler's heartbeat (for a container or load balancer), and
    ``GET /metrics`` the same metrics as in HTTP mode."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, app_token, web_client=services.client, concurrency=16)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    handler.connect()
    log.info("pacsbot: connected to Slack in Socket Mode")
    websocket = handler.client  # slack_sdk's Socket Mode client (not a Web API client)
    live: dict[str, Callable[[], dict[str, Any]]] = {"socket_mode": lambda: {"ok": bool(websocket.is_connected())}}
    if scheduler is not None:
        live["scheduler"] = scheduler.heartbeat
    health = serve_health(Health(services, outbox=True, live=live), health_address) if health_address else None
    stop.wait()
    if health is not None:
        health.shutdown()
        health.server_close()
    handler.close()


def serve_health(checks: Health, address: tuple[str, int], *, page: MetricsPage | None = None) -> Any:
    """``GET /healthz`` and ``GET /metrics`` on ``address`` on a thread of its own (Socket Mode
    has no web server); None, with a warning, when the port cannot be had: the bot runs on
    without it. The metrics read the outbox backlog through the health check's own."""
    metrics_page = page or MetricsPage(outbox=checks.outbox.get if checks.outbox is not None else None)
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

    class Threaded(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return health_response(checks, method, start_response)
        if path == METRICS_PATH and method in ("GET", "HEAD"):
            return metrics_response(metrics_page, environ, start_response)
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": "not found"}']

    try:
        server = make_server(address[0], address[1], application, server_class=Threaded, handler_class=Quiet)
    except OSError as exc:
        log.warning("pacsbot: no /healthz: cannot listen on %s:%s (%s)", address[0], address[1], exc.strerror or exc)
        return None
    threading.Thread(target=server.serve_forever, name="pacsbot-health", daemon=True).start()
    log.info("pacsbot: health at http://%s:%s%s, metrics at %s", address[0], server.server_port, HEALTH_PATH, METRICS_PATH)
    return server
