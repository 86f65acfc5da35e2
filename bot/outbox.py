"""The outbox: Slack messages written with the change they announce, sent after the commit.

A feature that must tell people something (2,000 training invitations, a ticket update to its
reporter) does not call Slack inside its transaction. It adds rows to ``slack_outbox`` in the
*same* database transaction as its own change::

    outbox = get_outbox(services)
    with services.db.session() as session:
        ...                                   # the feature's own writes
        outbox.enqueue(session, f"training:invite:{assignment.id}", channel=user_id,
                       text="You have new training", blocks=[...], origin="training")
    outbox.kick()                             # start sending now (after the commit)

So the message exists if and only if the change was committed, and nothing is lost if the
process dies: a scheduler job (every 30 s, on one replica per slot) sends whatever is due.

Guarantees:

* **Idempotent enqueue** — ``key`` is unique; enqueueing the same key again does nothing
  (Slack retries, double clicks, two replicas doing the same job).
* **One sender per message** — a sender claims a batch with a lease (``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL; SQLite serialises writers), and marks each message ``sent`` only if
  it still holds the claim. Several replicas can drain the same outbox at once.
* **Within Slack's rate limits** — each process paces its calls (a token bucket,
  :attr:`Outbox.RATE_PER_SECOND` with short bursts). The Web API client already retries an
  HTTP 429 after Retry-After; if Slack still says "ratelimited", the message is put back for
  later and this drain stops.
* **Retries with backoff** — transient failures (rate limits, 5xx, network) are retried with
  exponential backoff up to :attr:`Outbox.MAX_ATTEMPTS`; errors that retrying cannot fix
  (``channel_not_found``, ``cannot_dm_bot``, ``account_inactive``...) fail at once. Failed
  messages stay in the table with their error for the feature to report.
* **At least once** — a message is marked sent right after Slack accepts it. Only if a
  process dies between Slack's answer and that commit can a message go twice (after its
  lease of :attr:`Outbox.LEASE` runs out). Slack has no idempotency key for posting.

The result of a sent message (its channel and ``ts``) is kept, so a feature can later update
it with ``method="chat.update"`` (look it up with :meth:`Outbox.lookup`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.orm import Session

from pacsbot.bot.models import OutboxMessage
from pacsbot.bot.storage import Database
from pacsbot.core.clock import Clock, SystemClock
from pacsbot.core.db import insert_or_skip

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"

METHODS = ("chat.postMessage", "chat.update")

# Errors that retrying will not fix: the message fails at once.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "user_not_found", "cannot_dm_bot", "account_inactive", "user_disabled",
    "not_in_channel", "is_archived", "channel_is_archived", "invalid_blocks", "invalid_blocks_format",
    "msg_too_long", "no_text", "too_many_attachments", "restricted_action", "message_not_found",
    "cant_update_message", "edit_window_closed", "invalid_arguments", "ekm_access_denied",
    "team_access_not_granted", "is_inactive", "duplicate_channel_not_found", "unknown_method",
})
RATE_LIMITED = "ratelimited"


@dataclass(frozen=True)
class Delivery:
    """What happened to one message, for the feature that enqueued it."""

    key: str
    status: str
    attempts: int
    last_error: str | None
    channel: str | None
    ts: str | None


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    lost_claims: int = 0
    rate_limited: bool = False


def _replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:128]


class Outbox:
    RATE_PER_SECOND = 4.0       # Slack: about one message per second per channel, and a workspace limit
    BURST = 10                  # short bursts are allowed
    BATCH = 50                  # messages claimed at a time
    LEASE = timedelta(minutes=5)
    MAX_ATTEMPTS = 8
    BACKOFF_BASE = timedelta(seconds=30)
    BACKOFF_MAX = timedelta(hours=1)
    RETENTION = timedelta(days=90)

    def __init__(
        self,
        db: Database,
        client: "WebClient | None",  # None: this outbox only queues (the CLI); the bot sends
        clock: Clock | None = None,
        *,
        replica: str | None = None,
        rate: float | None = None,
        burst: int | None = None,
        submit: Callable[..., Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.db = db
        self.client = client
        self.clock = clock or SystemClock()
        self.replica = replica or _replica_id()
        self.rate = rate or self.RATE_PER_SECOND
        self.burst = burst or self.BURST
        self._submit = submit
        self._sleep = sleep
        self._monotonic = monotonic
        self._tokens = float(self.burst)
        self._refilled = monotonic()
        self._lock = threading.Lock()
        self._draining = False
        self._rerun = False
        self._stop = threading.Event()

    # enqueueing ------------------------------------------------------------------------
    def _insert(self, session: Session) -> Any:
        return insert_or_skip(session, OutboxMessage).on_conflict_do_nothing(index_elements=["key"])

    def _row(self, key: str, method: str, payload: dict[str, Any], origin: str, not_before: datetime | None) -> dict[str, Any]:
        if method not in METHODS:
            raise ValueError(f"the outbox cannot send {method!r}; it sends {', '.join(METHODS)}")
        if len(key) > 200:
            raise ValueError("outbox keys are at most 200 characters")
        now = self.clock.now()
        return {
            "key": key, "origin": origin[:32], "method": method, "payload": payload, "status": PENDING,
            "attempts": 0, "created_at": now, "next_attempt_at": not_before or now,
        }

    def enqueue(
        self,
        session: Session,
        key: str,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        method: str = "chat.postMessage",
        origin: str = "bot",
        not_before: datetime | None = None,
        **extra: Any,
    ) -> bool:
        """Add one message in the caller's transaction. False if ``key`` was already queued."""
        payload = {"channel": channel, "text": text, **extra}
        if blocks is not None:
            payload["blocks"] = blocks
        stmt = self._insert(session).returning(OutboxMessage.id)
        return session.execute(stmt, self._row(key, method, payload, origin, not_before)).first() is not None

    def enqueue_many(self, session: Session, messages: Iterable[tuple[str, dict[str, Any]]], *,
                     method: str = "chat.postMessage", origin: str = "bot") -> int:
        """Add many ``(key, payload)`` messages in one statement; keys already queued are skipped."""
        rows = [self._row(key, method, payload, origin, None) for key, payload in messages]
        if not rows:
            return 0
        session.execute(self._insert(session), rows)
        return len(rows)

    def lookup(self, keys: Iterable[str], session: Session | None = None) -> dict[str, Delivery]:
        keys = list(keys)
        out: dict[str, Delivery] = {}

        def run(s: Session) -> None:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                for row in s.execute(select(OutboxMessage.key, OutboxMessage.status, OutboxMessage.attempts,
                                            OutboxMessage.last_error, OutboxMessage.result)
                                     .where(OutboxMessage.key.in_(chunk))):
                    result = row.result or {}
                    out[row.key] = Delivery(row.key, row.status, row.attempts, row.last_error, result.get("channel"), result.get("ts"))

        if session is not None:
            run(session)
        else:
            with self.db.session() as own:
                run(own)
        return out

    def pending_count(self) -> int:
        from sqlalchemy import func

        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status.in_((PENDING, SENDING)))) or 0)

    # sending ---------------------------------------------------------------------------
    def kick(self) -> None:
        """Start draining in the background now (one drain per process; a second kick reruns it)."""
        with self._lock:
            if self._draining:
                self._rerun = True
                return
            self._draining = True
        if self._submit is None:
            threading.Thread(target=self._drain_loop, name="pacsbot-outbox", daemon=True).start()
            return
        try:
            self._submit(self._drain_loop)
        except RuntimeError:  # the background pool is shutting down
            with self._lock:
                self._draining = False

    def _drain_loop(self) -> None:
        try:
            while True:
                self.drain()
                with self._lock:
                    if not self._rerun or self._stop.is_set():
                        self._draining = False
                        return
                    self._rerun = False
        except BaseException:
            with self._lock:
                self._draining = False
            raise

    def stop(self) -> None:
        self._stop.set()

    def drain(self, *, max_messages: int | None = None) -> DrainReport:
        """Send what is due until nothing is left (or Slack says to slow down)."""
        report = DrainReport()
        while not self._stop.is_set():
            batch = self._claim(self.BATCH if max_messages is None else min(self.BATCH, max_messages - report.sent - report.failed))
            if not batch:
                break
            for index, row in enumerate(batch):
                if self._stop.is_set():
                    self._release(batch[index:])
                    return report
                self._pace()
                outcome = self._send(row)
                if outcome == SENT:
                    report.sent += 1
                elif outcome == FAILED:
                    report.failed += 1
                elif outcome == "lost":
                    report.lost_claims += 1
                elif outcome == RATE_LIMITED:
                    report.rate_limited = True  # already paused for Retry-After; carry on
                    report.retried += 1
                else:
                    report.retried += 1
            if max_messages is not None and report.sent + report.failed >= max_messages:
                break
        return report

    def _claim(self, limit: int) -> list[Any]:
        if limit <= 0:
            return []
        now = self.clock.now()
        with self.db.session() as s:
            due = (
                select(OutboxMessage.id)
                .where(OutboxMessage.status.in_((PENDING, SENDING)))
                .where(OutboxMessage.next_attempt_at <= now)
                .where(or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
            )
            if s.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list(s.scalars(due))
            if not ids:
                return []
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(status=SENDING, claimed_by=self.replica, lease_until=now + self.LEASE,
                        attempts=OutboxMessage.attempts + 1)
            )
            rows = s.execute(
                select(OutboxMessage.id, OutboxMessage.key, OutboxMessage.method, OutboxMessage.payload, OutboxMessage.attempts)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == self.replica)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            ).all()
        return list(rows)

    def _release(self, rows: list[Any]) -> None:
        """Give back claimed messages this drain will not send (they keep their attempt count)."""
        if not rows:
            return
        with self.db.session() as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([r.id for r in rows]), OutboxMessage.claimed_by == self.replica,
                       OutboxMessage.status == SENDING)
                .values(status=PENDING, lease_until=None, claimed_by=None, attempts=OutboxMessage.attempts - 1)
            )

    def _pace(self) -> None:
        while True:
            now = self._monotonic()
            self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) * self.rate)
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            self._sleep((1.0 - self._tokens) / self.rate)

    def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.client is None:
            raise RuntimeError("this outbox only queues messages: it has no Slack client to send them with")
        if method == "chat.update":
            response = self.client.chat_update(**payload)
        else:
            response = self.client.chat_postMessage(**payload)
        return {"channel": response.get("channel"), "ts": response.get("ts")}

    def _send(self, row: Any) -> str:
        try:
            result = self._call(row.method, dict(row.payload))
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"http_{exc.response.status_code}")
            if exc.response.status_code == 429 or error == RATE_LIMITED:
                retry_after = _retry_after(exc)
                self._reschedule(row, RATE_LIMITED, delay=timedelta(seconds=retry_after))
                log.warning("outbox: Slack is rate limiting; pausing %ss", retry_after)
                self._sleep(min(retry_after, 30))
                return RATE_LIMITED
            if error in PERMANENT_ERRORS:
                return self._fail(row, error)
            return self._retry(row, error)
        except (SlackClientError, OSError) as exc:
            return self._retry(row, type(exc).__name__)
        return self._finish(row, result)

    def _finish(self, row: Any, result: dict[str, Any]) -> str:
        with self.db.session() as s:
            changed = cast(CursorResult[Any], s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.replica, OutboxMessage.status == SENDING)
                .values(status=SENT, sent_at=self.clock.now(), lease_until=None, last_error=None, result=result)
            )).rowcount
        if not changed:
            log.warning("outbox: message %s was sent after its claim expired; it may have gone twice", row.id)
            return "lost"
        return SENT

    def _fail(self, row: Any, error: str) -> str:
        log.warning("outbox: message %s (%s) failed for good: %s", row.id, row.key.split(":", 1)[0], error)
        with self.db.session() as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.replica)
                .values(status=FAILED, lease_until=None, last_error=error[:200])
            )
        return FAILED

    def _retry(self, row: Any, error: str) -> str:
        if row.attempts >= self.MAX_ATTEMPTS:
            return self._fail(row, f"{error} (gave up after {row.attempts} attempts)")
        delay = min(self.BACKOFF_MAX, self.BACKOFF_BASE * (2 ** max(0, row.attempts - 1)))
        self._reschedule(row, error, delay=delay)
        log.info("outbox: message %s will be retried in %ss (%s)", row.id, int(delay.total_seconds()), error)
        return "retry"

    def _reschedule(self, row: Any, error: str, *, delay: timedelta) -> None:
        with self.db.session() as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.replica)
                .values(status=PENDING, lease_until=None, claimed_by=None, last_error=error[:200],
                        next_attempt_at=self.clock.now() + delay)
            )

    # upkeep ----------------------------------------------------------------------------
    def forget_old(self) -> int:
        """Delete sent and failed messages older than :attr:`RETENTION` (they are not records)."""
        cutoff = self.clock.now() - self.RETENTION
        with self.db.session() as s:
            result = cast(CursorResult[Any], s.execute(delete(OutboxMessage).where(OutboxMessage.status.in_((SENT, FAILED)),
                                                                                   OutboxMessage.created_at < cutoff)))
            return int(result.rowcount or 0)


def _retry_after(exc: SlackApiError) -> int:
    headers = getattr(exc.response, "headers", None) or {}
    for name, value in dict(headers).items():
        if str(name).lower() == "retry-after":
            try:
                return max(1, min(int(float(value)), 300))
            except (TypeError, ValueError):
                break
    return 30


# ---------------------------------------------------------------------------------------
# wiring



def get_outbox(services: "Services") -> Outbox:
    outbox = services.features.outbox
    if outbox is None:
        raise RuntimeError("the outbox is not registered (bot.outbox.register)")
    return outbox


def register(services: "Services") -> None:
    """Create the process's outbox and the jobs that keep it moving."""
    outbox = Outbox(services.db, services.client, services.clock, submit=services.background.submit)
    services.features.outbox = outbox
    registry = services.registry

    @registry.job("outbox", every=timedelta(seconds=30))
    def send_outbox(services: "Services") -> None:
        """Send what is due (retries after backoff, anything left by a replica that stopped)."""
        get_outbox(services).kick()

    @registry.job("outbox-housekeeping", every=timedelta(hours=24))
    def outbox_housekeeping(services: "Services") -> int:
        return get_outbox(services).forget_old()
