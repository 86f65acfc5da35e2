"""Once per key across replicas: a submitted form, a retried click (the receipts table).

Slack can deliver the same view submission or click twice; a change must still happen once.
The key is recorded in ``slack_event_receipts`` (the event inbox's table, pruned after
``slack.event_dedupe_hours``); the primary key lets exactly one replica record it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from pacsbot.bot.models import EventReceipt

if TYPE_CHECKING:
    from pacsbot.bot.services import Services


def once(services: "Services", key: str) -> bool:
    """True the first time ``key`` is seen on any replica (a modal submitted twice, a retried
    click); kept like an event id for ``slack.event_dedupe_hours``."""
    now = services.clock.now()
    try:
        with services.db.session() as session:
            session.add(EventReceipt(event_id=key[:64], received_at=now, event_type="once", handled_at=now, attempts=1))
    except IntegrityError:
        return False
    return True
