"""Delivering the webhook outbox: JSON POSTs to a queue's inbound endpoint, retried until
they succeed, so nothing is lost while ServiceNow or Jira is down."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tickets.config import TicketSettings, WebhookSettings
from tickets.models import WebhookDelivery

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


def deliver_due(session: Session, settings: TicketSettings, now: datetime, *, post: Poster = post_json, limit: int = 50) -> DeliveryReport:
    """Send what is due. Each row is locked while sent, so two replicas never send it twice."""
    stmt = (select(WebhookDelivery).where(WebhookDelivery.delivered_at.is_(None), WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    delivered = failed = 0
    for row in session.scalars(stmt).all():
        queue = settings.queue(row.queue)
        if queue is None or queue.webhook is None:
            row.last_error = "the queue no longer has a webhook; kept for the record"
            row.next_attempt_at = now + MAX_BACKOFF
            failed += 1
            continue
        row.attempts += 1
        try:
            status = post(queue.webhook, row.payload, row.dedupe_key)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except OSError as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        if error is None:
            row.delivered_at, row.last_error = now, None
            delivered += 1
        else:
            row.last_error = error[:300]
            row.next_attempt_at = now + backoff(row.attempts)
            failed += 1
            log.warning("webhook for queue %s failed (attempt %d): %s", row.queue, row.attempts, error)
    pending = len(session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.delivered_at.is_(None))).all())
    return DeliveryReport(delivered, failed, pending)
