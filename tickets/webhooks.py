"""Delivering the webhook outbox: JSON POSTs to a queue's inbound endpoint, retried until
they succeed, so nothing is lost while ServiceNow or Jira is down."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pacsbot.tickets.config import TicketSettings, WebhookSettings
from pacsbot.tickets.models import WebhookDelivery

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)

Poster = Callable[[WebhookSettings, dict, str], int]


def post_json(hook: WebhookSettings, payload: dict, idempotency_key: str) -> int:
    """POST the payload; return the HTTP status (raises OSError on network failure)."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key, "User-Agent": "pacsbot"}
    if hook.token_env and os.environ.get(hook.token_env):
        headers["Authorization"] = f"Bearer {os.environ[hook.token_env]}"
    request = urllib.request.Request(hook.url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=hook.timeout_seconds) as response:  # noqa: S310 - configured URL
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    failed: int
    pending: int


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2 ** max(0, attempts - 1)), MAX_BACKOFF)


LEASE = timedelta(minutes=5)  # a claimed delivery is not tried by another replica meanwhile


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for sending: what to POST, and where."""

    id: int
    queue: str
    payload: dict
    key: str
    attempts: int


def claim_due(session: Session, settings: TicketSettings, now: datetime, *, limit: int = 50) -> list[Claimed]:
    """Take the deliveries that are due (each row locked while taken, so two replicas never
    take the same one) and push their next attempt past a lease; commit before sending."""
    stmt = (select(WebhookDelivery).where(WebhookDelivery.delivered_at.is_(None), WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    taken = []
    for row in session.scalars(stmt).all():
        queue = settings.queue(row.queue)
        if queue is None or queue.webhook is None:
            row.last_error = "the queue no longer has a webhook; kept for the record"
            row.next_attempt_at = now + MAX_BACKOFF
            continue
        row.attempts += 1
        row.next_attempt_at = now + LEASE
        taken.append(Claimed(row.id, row.queue, dict(row.payload), row.dedupe_key, row.attempts))
    return taken


def send(claimed: Claimed, settings: TicketSettings, post: Poster = post_json) -> str | None:
    """POST one delivery (no database here); the error, or None when the endpoint took it."""
    queue = settings.queue(claimed.queue)
    if queue is None or queue.webhook is None:
        return "the queue no longer has a webhook"
    try:
        status = post(queue.webhook, claimed.payload, claimed.key)
    except OSError as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None if 200 <= status < 300 else f"HTTP {status}"


def record(session: Session, results: list[tuple[Claimed, str | None]], now: datetime) -> DeliveryReport:
    """Write what sending did: delivered, or the error and the next try (with backoff)."""
    delivered = failed = 0
    for claimed, error in results:
        row = session.get(WebhookDelivery, claimed.id)
        if row is None:
            continue
        if error is None:
            row.delivered_at, row.last_error = now, None
            delivered += 1
        else:
            row.last_error = error[:300]
            row.next_attempt_at = now + backoff(claimed.attempts)
            failed += 1
            log.warning("webhook for queue %s failed (attempt %d): %s", claimed.queue, claimed.attempts, error)
    pending = len(session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.delivered_at.is_(None))).all())
    return DeliveryReport(delivered, failed, pending)


def deliver_due(session_factory: Callable[[], "AbstractContextManager[Session]"], settings: TicketSettings, now: datetime, *,
                post: Poster = post_json, limit: int = 50) -> DeliveryReport:
    """Send what is due: claim (commit), POST with no transaction open, record (commit).

    A slow ticketing system used to hold a database transaction for as long as each POST took
    (on SQLite: the write lock, which every other request waits for)."""
    with session_factory() as session:
        claimed = claim_due(session, settings, now, limit=limit)
    results = [(c, send(c, settings, post)) for c in claimed]
    with session_factory() as session:
        return record(session, results, now)
