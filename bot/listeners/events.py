"""Events API: acked at once, de-duplicated by event id, handled after the ack.

Slack redelivers an event it thinks we missed (``X-Slack-Retry-Num``), and Bolt does not
de-duplicate. The first delivery of an ``event_id`` inserts a receipt row; a later delivery
finds it and is dropped, on every replica, because the row is in the shared database.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import BoltResponse
from sqlalchemy.exc import IntegrityError

from bot.background import Busy
from bot.listeners.policy import make_ctx
from bot.models import EventReceipt
from bot.registry import EventSpec

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.services import Services

log = logging.getLogger(__name__)


def first_delivery(services: "Services", event_id: str | None) -> bool:
    """True the first time an event id is seen (on any replica); False for a redelivery."""
    if not event_id:
        return True
    try:
        with services.db.session() as session:
            session.add(EventReceipt(event_id=event_id[:64], received_at=services.clock.now()))
    except IntegrityError:
        return False
    return True


def register(app: "App", services: "Services") -> None:
    for event_type, specs in services.registry.events.items():
        app.event(event_type)(_make_listener(services, event_type, specs))


def _make_listener(services: "Services", event_type: str, specs: list[EventSpec]) -> Any:
    def listener(body: dict[str, Any]) -> BoltResponse | None:
        # Events are acked by Bolt when this returns; everything else happens after.
        try:
            services.background.submit(_handle, services, event_type, specs, body)
        except Busy:
            log.error("events: queue full; asking Slack to redeliver %s later", body.get("event_id"))
            return BoltResponse(status=503, body="busy")
        return None

    listener.__name__ = f"event_{event_type}"
    return listener


def _handle(services: "Services", event_type: str, specs: list[EventSpec], body: dict[str, Any]) -> None:
    event = body.get("event") or {}
    if not first_delivery(services, body.get("event_id")):
        log.info("events: skipped a redelivery of %s (%s)", body.get("event_id"), event_type)
        return
    flat = {**body, "user": event.get("user"), "channel": event.get("channel")}
    ctx = make_ctx(services, "event", event_type, flat)
    for spec in specs:
        try:
            spec.handler(ctx)
        except Exception as exc:  # noqa: BLE001 - one handler's failure must not stop the others
            if event.get("user") and event.get("channel") and event_type in ("app_mention", "message"):
                ctx.report_error(exc, "your message")
            else:
                log.exception("events: %s handler failed", event_type)
