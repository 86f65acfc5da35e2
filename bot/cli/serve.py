"""``pacsbot serve``: connect the bot to Slack (Socket Mode or HTTP)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from pacsbot.bot.cli.common import open_database, settings_from, subparser
from pacsbot.bot.logs import setup_logging
from pacsbot.bot.settings import ConfigError, Secrets, Settings
from pacsbot.bot.storage import StorageError
from pacsbot.core.errors import UserError

log = logging.getLogger("pacsbot")

# This worker process's services and scheduler, stopped by gunicorn's worker_exit hook.
_worker: dict[str, Any] = {}


def add_parser(sub: Any) -> None:
    parser = subparser(
        sub, "serve", "Run the bot for Slack (Socket Mode if SLACK_APP_TOKEN is set, else HTTP).",
        "Run the bot. Secrets come from the environment: SLACK_BOT_TOKEN, and SLACK_APP_TOKEN (Socket Mode) "
        "or SLACK_SIGNING_SECRET (HTTP mode). SLACK_API_URL overrides the Slack Web API base URL.",
    )
    parser.add_argument("--host", help="address to listen on: Slack's requests in HTTP mode, /healthz only in Socket Mode "
                                       "(default: server.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port for the same (default: server.port, 3000)")
    parser.add_argument("--workers", type=int, help="HTTP mode: worker processes (default: server.workers)")
    parser.add_argument("--threads", type=int, help="HTTP mode: threads per worker (default: server.threads)")
    parser.add_argument("--http", action="store_true", help="HTTP mode even if SLACK_APP_TOKEN is set")
    parser.set_defaults(func=run)


def _check_slack(settings: Settings, secrets: Secrets) -> None:
    from slack_sdk.errors import SlackApiError

    from pacsbot.bot.slack_client import make_web_client

    client = make_web_client(secrets.bot_token, secrets.api_url, timeout=10)
    try:
        client.auth_test()
    except SlackApiError as exc:
        raise SystemExit(f"pacsbot: Slack refused the bot token ({exc.response.get('error')}). Check SLACK_BOT_TOKEN.") from None
    except Exception as exc:  # noqa: BLE001
        raise SystemExit(f"pacsbot: cannot reach the Slack Web API at {client.base_url} ({type(exc).__name__}).") from None


def make_worker(settings: Settings, secrets: Secrets, extend: Callable[[Any], None] | None = None) -> Any:
    """Build services, app and scheduler in the current (worker) process.

    ``extend(services)`` may declare more entry points before the app is built (plug-ins,
    benchmarks).
    """
    from pacsbot.bot.app import build_app
    from pacsbot.bot.scheduler import Scheduler
    from pacsbot.bot.server import wsgi_app
    from pacsbot.bot.services import build_services

    services = build_services(settings, secrets)
    if extend is not None:
        extend(services)
    app = build_app(services)
    scheduler = Scheduler(services)
    scheduler.start()
    _worker.update(services=services, scheduler=scheduler)
    if services.access.directory is not None:
        services.access.directory.warm(services.access.group_refs())
    return wsgi_app(app, services)


def migrate_apart(settings: Settings) -> Callable[[], None]:
    """Start applying the pending migrations in a child process; return the function that
    waits for it and raises what the migrations raised.

    Alembic and the migration scripts (~13 MiB) then never enter the gunicorn master, whose
    memory every worker inherits, and they run while the master loads what the workers need
    (:func:`preload`). Without ``os.fork`` they run here, before returning.
    """
    from pacsbot.bot.storage import Database, upgrade

    def migrate() -> None:
        db = Database(settings.database_url, pool_size=1)
        try:
            upgrade(db)
        finally:
            db.dispose()

    if not hasattr(os, "fork"):
        migrate()
        return lambda: None
    read_end, write_end = os.pipe()
    sys.stdout.flush(), sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: migrate, hand back what went wrong, and leave at once
        code = 1
        try:
            os.close(read_end)
            payload = b""
            try:
                migrate()
            except BaseException as exc:  # noqa: BLE001 - raised again in the parent
                payload = _pickled_error(exc)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
            code = 0
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush(), sys.stderr.flush()
            os._exit(code)
    os.close(write_end)

    def wait() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        if payload:
            raise _unpickled_error(payload)
        if status != 0:
            raise StorageError(f"applying the database migrations failed (the process exited with status "
                               f"{os.waitstatus_to_exitcode(status)})")

    return wait


def _pickled_error(exc: BaseException) -> bytes:
    import pickle
    import traceback

    if not isinstance(exc, (StorageError, UserError, ConfigError)):  # unexpected: keep where it happened
        exc.add_note("Raised while applying the migrations (in a child process):\n" + traceback.format_exc().rstrip())
    try:
        return pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - an exception that does not pickle: its type and message
        return pickle.dumps(StorageError(f"applying the database migrations failed: {type(exc).__name__}: {exc}"))


def _unpickled_error(payload: bytes) -> BaseException:
    import pickle

    try:
        return pickle.loads(payload)  # noqa: S301 - written by our own child process
    except Exception as exc:  # noqa: BLE001
        return StorageError(f"applying the database migrations failed ({type(exc).__name__} reading why)")


def preload(settings: Settings) -> None:
    """Load in the gunicorn master, before it forks, what every worker needs anyway: the
    modules of the app and its features, and what the features' ``warm_up`` prepares (the
    manuals' index; ``bot.features.warm_all``). The workers share it copy-on-write instead of
    each loading its own, and boot in a fraction of the time. Nothing here opens a database
    connection or a socket, or starts a thread: each worker still builds its own services,
    app and scheduler after the fork (:func:`make_worker`)."""
    import gc

    import pacsbot.bot.app  # noqa: F401 - for the workers (above)
    import pacsbot.bot.scheduler  # noqa: F401
    import pacsbot.bot.server  # noqa: F401
    import pacsbot.bot.services  # noqa: F401
    from pacsbot.bot.features import warm_all

    warm_all(settings)
    # What is loaded by now lives as long as the process: keep the workers' garbage
    # collections off it, so that they do not copy the pages they share with the master.
    gc.collect()
    gc.freeze()


def stop_worker() -> None:
    """Stop this worker's scheduler and background work (queued work is dropped)."""
    if "scheduler" in _worker:
        _worker.pop("scheduler").stop(timeout=2)
    if "services" in _worker:
        services = _worker.pop("services")
        services.background.shutdown(wait=False)
        services.db.dispose()


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    secrets = Secrets.from_env()
    setup_logging(settings.logging.level, settings.logging.format,
                  extra_secrets=tuple(s for s in (secrets.signing_secret, secrets.bot_token, secrets.app_token) if s))
    socket_mode = secrets.socket_mode and not args.http
    problems = secrets.problems_for_serving()
    if not socket_mode and not secrets.signing_secret:
        problems.append("HTTP mode needs SLACK_SIGNING_SECRET (from the app's Basic Information page).")
    if problems:
        print("pacsbot: cannot connect to Slack:", file=sys.stderr)
        for problem in dict.fromkeys(problems):
            print(f"  - {problem}", file=sys.stderr)
        print("To try pacsbot without Slack, run `pacsbot console`.", file=sys.stderr)
        return 2
    if socket_mode:
        db = open_database(settings)  # fails clearly if the database is unreachable; migrates
        db.dispose()
        _check_slack(settings, secrets)

        from pacsbot.bot.app import build_app
        from pacsbot.bot.scheduler import Scheduler
        from pacsbot.bot.server import run_socket_mode
        from pacsbot.bot.services import build_services

        services = build_services(settings, secrets)
        app = build_app(services)
        scheduler = Scheduler(services)
        scheduler.start()
        try:
            assert secrets.app_token is not None
            health = (args.host or settings.server.host, args.port or settings.server.port)
            run_socket_mode(app, services, secrets.app_token, scheduler=scheduler, health_address=health)
        finally:
            scheduler.stop()
            services.close()
        return 0

    from pacsbot.bot.server import run_gunicorn

    host = args.host or settings.server.host
    port = args.port or settings.server.port
    workers = args.workers or settings.server.workers
    threads = args.threads or settings.server.threads
    open_database(settings, migrate=False).dispose()  # fails clearly if the database is unreachable
    finish_migrations = migrate_apart(settings)
    try:
        _check_slack(settings, secrets)
        preload(settings)
    finally:
        finish_migrations()  # a failed migration is reported first, as when it ran before the Slack check
    log.info("pacsbot: HTTP mode on http://%s:%s/slack/events (%d workers x %d threads)", host, port, workers, threads)
    run_gunicorn(lambda: make_worker(settings, secrets), host=host, port=port, workers=workers, threads=threads,
                 on_worker_exit=stop_worker)
    return 0
