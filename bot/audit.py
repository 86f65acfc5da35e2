"""The append-only audit log: who did what, to what, with what outcome.

Every diagnostic, ticket change, training change and every refused request writes one row.
Rows are never updated or deleted (the database refuses it, see migration ``bot_0001``).
Details must carry neither PHI nor secrets: keys that look like either are redacted here as a
last line of defence, but callers should not pass them in the first place.

Every row is also counted for ``/metrics`` (``bot.metrics.count_audit``: by action and outcome,
DICOM checks by node, ticket events) once it is committed: a row in the caller's transaction
is counted when that commits, and not at all when it rolls back.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from pacsbot.bot import metrics
from pacsbot.bot.models import AuditEntry
from pacsbot.bot.storage import Database
from pacsbot.core.clock import Clock, SystemClock

OUTCOMES = ("ok", "denied", "refused", "failed", "error")

_REDACT_KEYS = re.compile(
    r"(patient|birth|dob|name$|^name|mrn|token|secret|password|passwd|authorization|cookie|ssn)",
    re.IGNORECASE,
)
_SAFE_NAME_KEYS = {"node_name", "nodes", "module_name", "queue_name", "command", "subcommand", "action_name", "file_name"}
_MAX_TEXT = 300


def _clean(value: Any, depth: int = 0) -> Any:
    if depth > 4:
        return "…"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {
            str(k): ("[redacted]" if _REDACT_KEYS.search(str(k)) and str(k) not in _SAFE_NAME_KEYS else _clean(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v, depth + 1) for v in list(value)[:50]]
    return _clean(str(value), depth + 1)


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    details: dict[str, Any]


class Audit:
    def __init__(self, db: Database, clock: Clock | None = None):
        self.db = db
        self.clock = clock or SystemClock()

    def record(
        self,
        actor: str,
        action: str,
        *,
        target: str = "",
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
        session: Session | None = None,
    ) -> None:
        """Append one row. Pass ``session`` to make it part of the caller's transaction."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown audit outcome {outcome!r}; use one of {OUTCOMES}")
        entry = AuditEntry(
            at=self.clock.now(),
            actor=(actor or "unknown")[:64],
            action=action[:64],
            target=(target or "")[:200],
            outcome=outcome,
            details=_clean(details or {}),
        )
        counted = (entry.action, entry.target, outcome)
        if session is not None:
            session.add(entry)
            session.info.setdefault(_UNCOUNTED, []).append(counted)
            return
        with self.db.session() as own:
            own.add(entry)
        metrics.count_audit(*counted)

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditRow]:
        stmt = select(AuditEntry).order_by(AuditEntry.at, AuditEntry.id)
        if since is not None:
            stmt = stmt.where(AuditEntry.at >= since)
        if until is not None:
            stmt = stmt.where(AuditEntry.at < until)
        if actor:
            stmt = stmt.where(AuditEntry.actor == actor)
        if action:
            stmt = stmt.where(
                (AuditEntry.action == action) | AuditEntry.action.startswith(action.rstrip(".*") + ".")
            )
        if limit:
            # the newest `limit` rows, still printed oldest first
            stmt = stmt.order_by(None).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        with self.db.session() as session:
            rows = [
                AuditRow(r.id, r.at, r.actor, r.action, r.target, r.outcome, dict(r.details or {}))
                for r in session.scalars(stmt)
            ]
        if limit:
            rows.reverse()
        return rows


_UNCOUNTED = "pacsbot.audit.uncounted"  # session.info: rows added, counted when the session commits


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for counted in session.info.pop(_UNCOUNTED, ()):
        metrics.count_audit(*counted)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_UNCOUNTED, None)


CSV_FIELDS = ("id", "at", "actor", "action", "target", "outcome", "details")


def to_csv(rows: Iterable[AuditRow]) -> str:
    import json

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in rows:
        writer.writerow([r.id, r.at.isoformat(), r.actor, r.action, r.target, r.outcome, json.dumps(r.details, sort_keys=True)])
    return out.getvalue()


def to_table(rows: Sequence[AuditRow]) -> str:
    if not rows:
        return "No audit entries match."
    lines = []
    for r in rows:
        extra = " ".join(f"{k}={v}" for k, v in sorted(r.details.items()))
        lines.append(
            f"{r.at:%Y-%m-%d %H:%M:%S}Z  {r.actor:<12} {r.action:<24} {r.outcome:<8} {r.target}"
            + (f"  ({extra})" if extra else "")
        )
    return "\n".join(lines)
