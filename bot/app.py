"""``build_app(services) -> slack_bolt.App``: the only place that creates the Bolt app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from pacsbot.bot import listeners, metrics
from pacsbot.bot.privacy_gate import scrub_incoming

if TYPE_CHECKING:
    from pacsbot.bot.registry import Registry
    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)


class ScrubIncoming(Middleware):
    """No NUL bytes, and no privacy-gate markers from outside, in any request body. A Middleware
    rather than a function: Bolt builds every injectable argument for a function middleware on
    every request, which cost more than the scrub itself."""

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse | None:  # noqa: A002
        scrub_incoming(req.body)
        return next()


class CountedApp(App):
    """Bolt's App, counting each ack (``pacsbot_acks_total``) and its latency: ``dispatch`` is
    where both adapters (HTTP and Socket Mode) hand over a request, and with
    ``process_before_response`` it returns the ack itself. The latency counts from the
    request's arrival at the web server in HTTP mode (signature check included)."""

    pacsbot_registry: "Registry"  # the entry points, to name what is acked

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        start = metrics.dispatch_started()
        response = super().dispatch(req)
        kind, name = metrics.ack_labels(req.body, self.pacsbot_registry)
        metrics.count_ack(kind, name, response.status, start)
        return response


def build_app(services: "Services", *, token_verification: bool = True) -> App:
    """Create the Bolt app on the services' Web API client and register every listener.

    ``process_before_response=True`` runs each ack in the request thread, so acks never wait
    behind slow work; slow work goes to ``services.background``, a pool of its own.
    ``App()`` calls ``auth.test`` (token verification), so the Web API must answer by now.
    """
    secrets = services.secrets
    app = CountedApp(
        # the name Bolt would derive (the caller's file name; it names Bolt's listener loggers),
        # given so that App() does not call inspect.stack(): ~30 ms of every worker's start
        name="app.py",
        client=services.client,
        signing_secret=secrets.signing_secret or "",
        request_verification_enabled=True,
        token_verification_enabled=token_verification,
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(max_workers=4, thread_name_prefix="bolt-listener"),
        raise_error_for_unhandled_request=False,
        ssl_check_enabled=True,
        url_verification_enabled=True,
        ignoring_self_events_enabled=True,
        logger=logging.getLogger("slack_bolt"),
    )
    app.pacsbot_registry = services.registry
    app.use(ScrubIncoming())

    listeners.register(app, services)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        # Listeners report their own failures; this only catches what slipped past them.
        log.error("bolt: unhandled %s for a %s request", type(error).__name__, body.get("type") or "command")
        return BoltResponse(status=200, body="")

    return app
