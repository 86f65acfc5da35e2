"""Events API: stored before the ack, de-duplicated by event id, handled after the ack.

Store before you promise: the event (its body included) is written to the event inbox
(``slack_event_receipts``) *before* Slack gets its 200. If it cannot be stored — the database
is down or hung — Slack gets a 503 and delivers it again (at once, after 1 and after 5
minutes), so a :ticket: reaction or a DM made during an outage is not lost. A redelivery of
a stored event is dropped, on every replica. The body is cleared once the event has been
handled; an event whose handling never finished (the process died after the ack) is handled
again by the ``event-inbox`` job.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from slack_bolt import BoltResponse
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pacsbot.bot.background import Busy
from pacsbot.bot.listeners.policy import make_ctx
from pacsbot.bot.models import EventReceipt
from pacsbot.bot.registry import EventSpec
from pacsbot.bot.storage import StorageError

if TYPE_CHECKING:
    from slack_bolt import App

    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(minutes=2)   # an event not handled by then is handled again
MAX_ATTEMPTS = 3
STORE_WAIT = 2.0                     # seconds to store an event before the ack (Slack waits 3)
ABANDONED_AFTER = timedelta(seconds=5)


def store_event(services: "Services", event_id: str | None, event_type: str, body: dict[str, Any]) -> bool:
    """Store the event; True the first time its id is seen (on any replica), False for a
    redelivery. Raises SQLAlchemyError when it cannot be stored."""
    if not event_id:
        return True
    try:
        with services.db.session() as session:
            session.add(EventReceipt(event_id=event_id[:64], received_at=services.clock.now(), event_type=event_type[:64],
                                     body=body, attempts=1))
    except IntegrityError:
        return False
    return True


def take_abandoned(services: "Services", event_id: str) -> bool:
    """A redelivery of an event that is stored but was never handled (its first delivery
    timed out while the database hung, and the write landed later): take it over, once."""
    now = services.clock.now()
    with services.db.session() as session:
        result = cast(CursorResult[Any], session.execute(
            update(EventReceipt).where(
                EventReceipt.event_id == event_id[:64], EventReceipt.handled_at.is_(None), EventReceipt.body.is_not(None),
                EventReceipt.received_at <= now - ABANDONED_AFTER, EventReceipt.attempts < MAX_ATTEMPTS,
            ).values(attempts=EventReceipt.attempts + 1, received_at=now)
        ))
    return bool(result.rowcount)


def register(app: "App", services: "Services") -> None:
    for event_type, specs in services.registry.events.items():
        app.event(event_type)(_make_listener(services, event_type, specs))


def _make_listener(services: "Services", event_type: str, specs: list[EventSpec]) -> Any:
    def listener(body: dict[str, Any]) -> BoltResponse | None:
        event_id = body.get("event_id")
        try:
            first = services.db.bounded(lambda: store_event(services, event_id, event_type, body), STORE_WAIT)
            if not first and event_id:
                first = services.db.bounded(lambda: take_abandoned(services, event_id), STORE_WAIT)
        except (SQLAlchemyError, StorageError, OSError) as exc:
            log.error("events: could not store %s (%s); asking Slack to deliver it again", event_id, type(exc).__name__)
            return BoltResponse(status=503, body="the event store is unavailable")
        if not first:
            log.info("events: skipped a redelivery of %s (%s)", event_id, event_type)
            return None
        try:
            services.background.submit(_handle, services, event_type, specs, body)
        except Busy:
            log.error("events: queue full; asking Slack to redeliver %s later", event_id)
            _forget(services, event_id)
            return BoltResponse(status=503, body="busy")
        return None  # Bolt acks now; the event is stored

    listener.__name__ = f"event_{event_type}"
    return listener


def _forget(services: "Services", event_id: str | None) -> None:
    """Drop a stored event that Slack is asked to deliver again."""
    if not event_id:
        return
    try:
        with services.db.session() as session:
            session.execute(delete(EventReceipt).where(EventReceipt.event_id == event_id[:64], EventReceipt.handled_at.is_(None)))
    except SQLAlchemyError:
        log.warning("events: could not drop %s; the inbox job will handle it", event_id)


def _handle(services: "Services", event_type: str, specs: list[EventSpec], body: dict[str, Any]) -> None:
    event = body.get("event") or {}
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
    _handled(services, body.get("event_id"))


def _handled(services: "Services", event_id: str | None) -> None:
    if not event_id:
        return
    try:
        with services.db.session() as session:
            session.execute(update(EventReceipt).where(EventReceipt.event_id == event_id[:64])
                            .values(handled_at=services.clock.now(), body=None))
    except SQLAlchemyError:
        log.warning("events: %s was handled but could not be marked; the inbox job may handle it again", event_id)


def redeliver_unhandled(services: "Services", *, limit: int = 20) -> int:
    """Handle the stored events whose handling never finished; returns how many."""
    now = services.clock.now()
    with services.db.session() as session:
        rows = session.execute(
            select(EventReceipt.event_id, EventReceipt.event_type, EventReceipt.body).where(
                EventReceipt.handled_at.is_(None), EventReceipt.body.is_not(None),
                EventReceipt.received_at <= now - RETRY_AFTER, EventReceipt.attempts < MAX_ATTEMPTS,
            ).order_by(EventReceipt.received_at).limit(limit)
        ).all()
        for event_id, _, _ in rows:
            session.execute(update(EventReceipt).where(EventReceipt.event_id == event_id)
                            .values(attempts=EventReceipt.attempts + 1))
    done = 0
    for event_id, event_type, body in rows:
        specs = services.registry.events.get(event_type or "", [])
        if not specs or not isinstance(body, dict):
            continue
        log.warning("events: handling %s (%s) again: its handling did not finish", event_id, event_type)
        _handle(services, event_type, specs, body)
        done += 1
    return done
