"""Form drafts kept on the server between two steps of a modal.

A modal's ``private_metadata`` holds 3,000 characters; a report's description alone may be
3,000. The first step saves the values here and carries only the draft's id; the second
step takes them back (once, and only for the same person).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, delete, select

from pacsbot.bot.models import Draft

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

KEEP = timedelta(days=1)


def save(services: "Services", user_id: str, payload: dict[str, Any]) -> str:
    draft_id = secrets.token_hex(12)
    with services.db.session() as session:
        session.add(Draft(id=draft_id, user_id=user_id[:32], created_at=services.clock.now(), payload=payload))
    return draft_id


def take(services: "Services", draft_id: str, user_id: str) -> dict[str, Any] | None:
    """The draft's values, removed as they are read; None if gone, expired or someone else's."""
    with services.db.session() as session:
        draft = session.scalar(select(Draft).where(Draft.id == str(draft_id)[:32], Draft.user_id == user_id[:32]))
        if draft is None or draft.created_at < services.clock.now() - KEEP:
            return None
        payload = dict(draft.payload)
        session.delete(draft)
    return payload


def prune(services: "Services") -> int:
    with services.db.session() as session:
        result = cast(CursorResult[Any], session.execute(delete(Draft).where(Draft.created_at < services.clock.now() - KEEP)))
    return int(result.rowcount or 0)
