"""What the diagnostics keep in the database (see :mod:`commands.models`). Functions take a
SQLAlchemy ``Session`` from the caller, so the caller decides the transaction."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from pacsbot.commands.config import RateLimitSettings
from pacsbot.commands.models import DicomKey, DicomRun, NodeCheck, NodeStatus
from pacsbot.commands.results import EchoResult
from pacsbot.commands.verdict import plural
from pacsbot.core.db import insert_or_skip
from pacsbot.core.errors import Refused

PSEUDONYM_KEY = "audit-pseudonym-key"
RUN_RETENTION = timedelta(days=2)


@dataclass(frozen=True)
class LastEcho:
    node: str
    checked_at: datetime
    ok: bool
    elapsed_ms: int
    failure_code: str | None
    message: str
    checked_by: str


def _upsert(session: Session, model: type, values: dict[str, object], key: str) -> None:
    stmt = insert_or_skip(session, model).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=[key], set_={k: v for k, v in values.items() if k != key})
    session.execute(stmt)


def record_echoes(session: Session, results: Sequence[EchoResult], *, actor: str, at: datetime) -> None:
    for result in results:
        _upsert(session, NodeStatus, {
            "node": result.node.name,
            "checked_at": at,
            "ok": result.ok,
            "elapsed_ms": result.ms,
            "failure_code": result.failure.code if result.failure else None,
            "message": (result.failure.message if result.failure else "ok")[:300],
            "checked_by": actor[:64],
        }, "node")


def last_echoes(session: Session) -> dict[str, LastEcho]:
    rows = session.scalars(select(NodeStatus)).all()
    return {r.node: LastEcho(r.node, r.checked_at, r.ok, r.elapsed_ms, r.failure_code, r.message, r.checked_by) for r in rows}


def take_run(session: Session, *, actor: str, command: str, now: datetime, limit: RateLimitSettings) -> None:
    """Count this run against ``actor``'s rate limit, or refuse it with when to try again.

    Several replicas share the ledger, so the limit holds across them (two requests racing
    in the same instant may both pass: it is a brake, not a lock).
    """
    window_start = now - timedelta(seconds=limit.per_seconds)
    recent = session.scalars(
        select(DicomRun.at).where(DicomRun.actor == actor, DicomRun.at > window_start).order_by(DicomRun.at.desc()).limit(limit.runs)
    ).all()
    if len(recent) >= limit.runs:
        oldest = min(recent)
        raise Refused(over_limit(limit, max(1, math.ceil((oldest + timedelta(seconds=limit.per_seconds) - now).total_seconds()))))
    session.add(DicomRun(actor=actor[:64], command=command[:16], at=now))


def over_limit(limit: RateLimitSettings, wait: int) -> str:
    """The refusal of a run over ``limit``, with when to try again."""
    window = f"{limit.per_seconds} s" if limit.per_seconds < 120 else f"{round(limit.per_seconds / 60)} min"
    return f"You have run {plural(limit.runs, 'DICOM check')} in the last {window}, the most allowed. Try again in {wait} s."


def prune_runs(session: Session, *, now: datetime) -> int:
    result = cast(CursorResult[Any], session.execute(delete(DicomRun).where(DicomRun.at < now - RUN_RETENTION)))
    return int(result.rowcount or 0)


def runs_of(session: Session, actor: str) -> int:
    return int(session.scalar(select(func.count()).select_from(DicomRun).where(DicomRun.actor == actor)) or 0)


def pseudonym_key(session: Session, *, now: datetime) -> bytes:
    """The installation's key for audit pseudonyms, created once (safe with several replicas)."""
    value = session.scalar(select(DicomKey.value).where(DicomKey.name == PSEUDONYM_KEY))
    if value is None:
        session.execute(insert_or_skip(session, DicomKey).values(name=PSEUDONYM_KEY, value=secrets.token_hex(32), created_at=now)
                        .on_conflict_do_nothing(index_elements=["name"]))
        value = session.scalar(select(DicomKey.value).where(DicomKey.name == PSEUDONYM_KEY))
    assert value is not None
    return bytes.fromhex(value)


def pseudonym(patient_id: str, key: bytes) -> str:
    """What the audit log stores instead of a patient ID: a keyed hash (HMAC-SHA-256, 16 hex).

    The same ID always gives the same pseudonym in one installation, so an auditor can ask
    "who looked this patient up?" (``pacsbot locate --patient ID --pseudonym``) — but the ID
    cannot be recovered from the log by trying every possible MRN without the key.
    """
    return "pid:" + hmac.new(key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class CheckRow:
    """One scheduled echo by the node watch, as the weekly report reads it."""

    node: str
    ok: bool
    elapsed_ms: int
    in_downtime: bool
    failure_code: str | None


def checks_between(session: Session, start: datetime, end: datetime) -> list[CheckRow]:
    """Every check the watch recorded in ``[start, end)``."""
    stmt = (select(NodeCheck.node, NodeCheck.ok, NodeCheck.elapsed_ms, NodeCheck.in_downtime, NodeCheck.failure_code)
            .where(NodeCheck.at >= start, NodeCheck.at < end))
    return [CheckRow(n, bool(ok), int(ms), bool(dt), code) for n, ok, ms, dt, code in session.execute(stmt)]
