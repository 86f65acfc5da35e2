"""Assignments, attempts, completions, reminders and reports, on a SQLAlchemy ``Session``.

Every function takes the caller's session (so the caller can add its own writes, such as
outbox messages, to the same transaction) and plain values, and returns small dataclasses.
Nothing here knows about Slack. Writes are idempotent: the unique keys in ``models`` decide,
so a repeated or concurrent request records each thing once.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from pacsbot.core.db import insert_or_skip
from pacsbot.core.errors import NotFound, NotYours, Refused
from pacsbot.training.content import Module
from pacsbot.training.models import (
    ASSIGNED,
    CANCELLED,
    COMPLETED,
    FAILED,
    OPEN,
    RENEWAL,  # noqa: F401 - part of this module's vocabulary: callers write records.RENEWAL
    RETRAIN,
    Assignment,
    Attempt,
    Attestation,
    Completion,
    ModuleVersion,
    Person,
    Reminder,
)
from pacsbot.training.quiz import ATTESTATION, Grade, grade
from pacsbot.training.schedule import local_date, reminder_step

CHUNK = 500


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def new_batch() -> str:
    return secrets.token_hex(8)


# --------------------------------------------------------------------------------------
# versions

@dataclass(frozen=True)
class VersionInfo:
    module_id: str
    version: str          # the label in records: the front matter's, or r1, r2...
    revision: int
    content_hash: str
    first_seen_at: datetime


def ensure_version(session: Session, module: Module, now: datetime) -> VersionInfo:
    """The recorded version of this content, recording it the first time it is seen."""
    for _ in range(5):
        row = session.scalars(select(ModuleVersion).where(ModuleVersion.module_id == module.id,
                                                          ModuleVersion.content_hash == module.content_hash)).first()
        if row is not None:
            return VersionInfo(row.module_id, row.version, row.revision, row.content_hash, row.first_seen_at)
        existing = session.execute(select(ModuleVersion.revision, ModuleVersion.version)
                                   .where(ModuleVersion.module_id == module.id)).all()
        revision = max((r.revision for r in existing), default=0) + 1
        label = module.version or f"r{revision}"
        if label in {r.version for r in existing}:
            label = f"{label}-r{revision}"  # the content changed but the version label did not
        session.execute(insert_or_skip(session, ModuleVersion).on_conflict_do_nothing(), [{
            "module_id": module.id, "revision": revision, "version": label[:48], "content_hash": module.content_hash,
            "title": module.title[:200], "first_seen_at": now,
        }])
    raise RuntimeError(f"could not record a version of module {module.id}")


def versions_of(session: Session, module_id: str) -> list[VersionInfo]:
    rows = session.scalars(select(ModuleVersion).where(ModuleVersion.module_id == module_id).order_by(ModuleVersion.revision))
    return [VersionInfo(r.module_id, r.version, r.revision, r.content_hash, r.first_seen_at) for r in rows]


# --------------------------------------------------------------------------------------
# assigning

@dataclass(frozen=True)
class AssignmentInfo:
    id: int
    module_id: str
    user_id: str
    version: str
    content_hash: str
    assigned_by: str
    assigned_at: datetime
    due_date: date | None
    reason: str
    status: str
    renewal_of: int | None = None
    page: int = 0
    started_at: datetime | None = None
    closed_at: datetime | None = None

    @classmethod
    def of(cls, a: Assignment) -> "AssignmentInfo":
        return cls(a.id, a.module_id, a.user_id, a.version, a.content_hash, a.assigned_by, a.assigned_at, a.due_date,
                   a.reason, a.status, a.renewal_of, a.page, a.started_at, a.closed_at)


@dataclass
class AssignOutcome:
    module_id: str
    version: str
    batch: str
    created: list[AssignmentInfo] = field(default_factory=list)
    already_open: list[AssignmentInfo] = field(default_factory=list)
    already_done: list[tuple[str, str, datetime]] = field(default_factory=list)  # user, version, completed_at

    @property
    def changed(self) -> bool:
        return bool(self.created)


def _open_for(session: Session, module_id: str, users: Sequence[str]) -> dict[str, Assignment]:
    found: dict[str, Assignment] = {}
    for chunk in _chunks(users):
        for a in session.scalars(select(Assignment).where(Assignment.module_id == module_id, Assignment.is_open.is_(True),
                                                          Assignment.user_id.in_(chunk))):
            found[a.user_id] = a
    return found


def _latest_completions(session: Session, module_id: str, users: Sequence[str]) -> dict[str, Completion]:
    latest: dict[str, Completion] = {}
    for chunk in _chunks(users):
        for c in session.scalars(select(Completion).where(Completion.module_id == module_id, Completion.user_id.in_(chunk))
                                 .order_by(Completion.completed_at)):
            latest[c.user_id] = c
    return latest


def assign(
    session: Session,
    module: Module,
    version: VersionInfo,
    user_ids: Iterable[str],
    *,
    by: str,
    now: datetime,
    due: date | None,
    reason: str = ASSIGNED,
    renewal_of: dict[str, int] | None = None,
    batch: str | None = None,
) -> AssignOutcome:
    """Assign ``module`` to each user once.

    Unchanged: a user with the module already open ("already assigned"); for ``assigned``, a
    user whose latest completion is of this version and has not expired ("already done");
    for ``retrain``, a user whose latest completion is already of this version.
    """
    users = list(dict.fromkeys(u for u in user_ids if u))
    batch = batch or new_batch()
    outcome = AssignOutcome(module.id, version.version, batch)
    if not users:
        return outcome
    open_now = _open_for(session, module.id, users)
    outcome.already_open.extend(AssignmentInfo.of(a) for u, a in open_now.items())
    latest = _latest_completions(session, module.id, [u for u in users if u not in open_now])
    todo = []
    for user in users:
        if user in open_now:
            continue
        done = latest.get(user)
        if done is not None and reason in (ASSIGNED, RETRAIN) and done.content_hash == module.content_hash \
                and (done.expires_at is None or done.expires_at > now):
            outcome.already_done.append((user, done.version, done.completed_at))
            continue
        todo.append(user)
    if not todo:
        return outcome
    rows = [{
        "module_id": module.id, "version": version.version, "content_hash": module.content_hash, "user_id": user,
        "assigned_by": by[:64], "assigned_at": now, "due_date": due, "reason": reason, "batch": batch,
        "renewal_of": (renewal_of or {}).get(user), "status": OPEN, "is_open": True, "page": 0,
    } for user in todo]
    created_ids: list[int] = []
    stmt = insert_or_skip(session, Assignment).on_conflict_do_nothing().returning(Assignment.id)
    for chunk in _chunks(rows):
        created_ids.extend(r.id for r in session.execute(stmt, list(chunk)))
    created: list[Assignment] = []
    for chunk in _chunks(created_ids):
        created.extend(session.scalars(select(Assignment).where(Assignment.id.in_(chunk))))
    created.sort(key=lambda a: a.id)
    outcome.created.extend(AssignmentInfo.of(a) for a in created)
    made = {a.user_id for a in created}  # once, not per learner: 2,000 learners made this 1.5 s
    raced = [u for u in todo if u not in made]
    if raced:  # assigned at the same moment by another request: that one counts
        outcome.already_open.extend(AssignmentInfo.of(a) for a in _open_for(session, module.id, raced).values())
    return outcome


def retrain_targets(session: Session, module: Module) -> list[str]:
    """Everyone whose latest completion of ``module`` is of an older version."""
    latest: dict[str, Completion] = {}
    for c in session.scalars(select(Completion).where(Completion.module_id == module.id).order_by(Completion.completed_at)):
        latest[c.user_id] = c
    return sorted(u for u, c in latest.items() if c.content_hash != module.content_hash)


def unassign(session: Session, module_id: str, user_ids: Iterable[str], *, by: str, now: datetime) -> tuple[list[AssignmentInfo], list[str]]:
    """Cancel the open assignments; returns (cancelled, users who had none open)."""
    users = list(dict.fromkeys(user_ids))
    open_now = _open_for(session, module_id, users)
    for a in open_now.values():
        a.status, a.is_open, a.closed_at, a.closed_by = CANCELLED, None, now, by[:64]
    session.flush()
    return [AssignmentInfo.of(a) for a in open_now.values()], [u for u in users if u not in open_now]


def assigned_module_ids(session: Session) -> list[str]:
    return sorted(set(session.scalars(select(Assignment.module_id).distinct())))


def assignees(session: Session, module_id: str | None = None) -> list[str]:
    stmt = select(Assignment.user_id).distinct()
    if module_id:
        stmt = stmt.where(Assignment.module_id == module_id)
    return list(session.scalars(stmt))


def open_assignees(session: Session, module_id: str) -> list[str]:
    return list(session.scalars(select(Assignment.user_id).where(Assignment.module_id == module_id, Assignment.is_open.is_(True))))


# --------------------------------------------------------------------------------------
# the learner

def get_assignment(session: Session, assignment_id: int, user_id: str | None = None, *, lock: bool = False) -> Assignment:
    a = session.get(Assignment, assignment_id, with_for_update=lock) if lock else session.get(Assignment, assignment_id)
    if a is None:
        raise NotFound("I can't find that training assignment. It may have been withdrawn; type `/pacs train me` to see yours.")
    if user_id is not None and a.user_id != user_id:
        raise NotYours("This training was assigned to someone else, so you can't open it. Type `/pacs train me` to see yours.")
    return a


def mark_progress(session: Session, assignment_id: int, user_id: str, page: int, now: datetime) -> Assignment:
    a = get_assignment(session, assignment_id, user_id)
    if a.status == OPEN:
        if a.started_at is None:
            a.started_at = now
        if page > a.page:
            a.page = page
    return a


def attempts_used(session: Session, assignment_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(Attempt).where(Attempt.assignment_id == assignment_id)) or 0)


@dataclass(frozen=True)
class CompletionInfo:
    id: int
    assignment_id: int
    user_id: str
    module_id: str
    version: str
    score: int
    attempts: int
    completed_at: datetime
    expires_at: datetime | None
    attested_at: datetime | None
    statement: str | None


@dataclass(frozen=True)
class SubmitOutcome:
    grade: Grade
    attempt_number: int
    attempts_allowed: int
    status: str                  # the assignment's status afterwards
    completion: CompletionInfo | None
    duplicate: bool = False      # this attempt had already been recorded (a repeated submission)

    @property
    def attempts_left(self) -> int:
        return max(0, self.attempts_allowed - self.attempt_number)


def _completion_info(session: Session, c: Completion) -> CompletionInfo:
    att = session.scalars(select(Attestation).where(Attestation.completion_id == c.id)).first()
    return CompletionInfo(c.id, c.assignment_id, c.user_id, c.module_id, c.version, c.score, c.attempts, c.completed_at,
                          c.expires_at, att.attested_at if att else None, att.statement if att else None)


def completion_of(session: Session, assignment_id: int) -> CompletionInfo | None:
    c = session.scalars(select(Completion).where(Completion.assignment_id == assignment_id)).first()
    return _completion_info(session, c) if c else None


def _regrade(module: Module, attempt: Attempt) -> Grade:
    chosen = {int(k): set(v) for k, v in (attempt.answers or {}).get("chosen", {}).items()}
    return grade(module, chosen)


def submit_attempt(
    session: Session,
    assignment_id: int,
    user_id: str,
    module: Module,
    version: VersionInfo,
    answers: dict[int, set[int]],
    number: int,
    *,
    now: datetime,
    attested: bool,
) -> SubmitOutcome:
    """Record attempt ``number`` (from the quiz window) and its consequences, once.

    A second submission of the same attempt (a retry, a double click, a second window) is
    answered with the first one's result and records nothing.
    """
    a = get_assignment(session, assignment_id, user_id, lock=True)
    if a.module_id != module.id:
        raise Refused("That quiz belongs to a different module. Open the training again from `/pacs train me`.")
    recorded = session.scalars(select(Attempt).where(Attempt.assignment_id == a.id, Attempt.number == number)).first()
    if recorded is not None:
        return SubmitOutcome(_regrade(module, recorded), recorded.number, module.attempts, a.status,
                             completion_of(session, a.id), duplicate=True)
    if a.status != OPEN:
        done = completion_of(session, a.id)
        if done is not None:
            raise Refused(f"You already passed this module on {done.completed_at:%d %b %Y} with {done.score}%. Nothing more to do.")
        if a.status == FAILED:
            raise Refused("You have used all your attempts at this quiz. Your trainer has been told and can give you another go.")
        raise Refused("This training has been withdrawn, so there is nothing to submit.")
    used = attempts_used(session, a.id)
    if number != used + 1:
        raise Refused("This quiz window is out of date (you have taken the quiz since). Open the training again from `/pacs train me`.")
    if used >= module.attempts:
        raise Refused("You have used all your attempts at this quiz. Ask your trainer for another go.")
    result = grade(module, answers)
    attempt = Attempt(
        assignment_id=a.id, number=number, user_id=user_id, module_id=module.id, version=version.version,
        content_hash=module.content_hash, answers={"chosen": result.answers_record(), "attested": bool(attested)},
        correct=result.correct, total=result.total, score=result.score, pass_mark=module.pass_mark,
        passed=result.passed, submitted_at=now,
    )
    session.add(attempt)
    session.flush()
    completion = None
    if result.passed:
        expires = now + timedelta(days=module.recurrence_days) if module.recurrence_days else None
        c = Completion(assignment_id=a.id, attempt_id=attempt.id, user_id=user_id, module_id=module.id, version=version.version,
                       content_hash=module.content_hash, score=result.score, attempts=number, completed_at=now, expires_at=expires)
        session.add(c)
        session.flush()
        if attested:
            session.add(Attestation(completion_id=c.id, user_id=user_id, statement=ATTESTATION, attested_at=now))
        a.status, a.is_open, a.closed_at, a.closed_by = COMPLETED, None, now, user_id
        session.flush()
        completion = _completion_info(session, c)
    elif number >= module.attempts:
        a.status, a.is_open, a.closed_at, a.closed_by = FAILED, None, now, user_id
    if a.started_at is None:
        a.started_at = now
    return SubmitOutcome(result, number, module.attempts, a.status, completion)


def best_score(session: Session, assignment_id: int) -> int | None:
    return session.scalar(select(func.max(Attempt.score)).where(Attempt.assignment_id == assignment_id))


def last_attempt(session: Session, assignment_id: int) -> Attempt | None:
    return session.scalars(select(Attempt).where(Attempt.assignment_id == assignment_id).order_by(Attempt.number.desc())).first()


# --------------------------------------------------------------------------------------
# what a person has

@dataclass(frozen=True)
class LearnerItem:
    assignment: AssignmentInfo
    attempts_used: int
    best_score: int | None
    completion: CompletionInfo | None


def learner_items(session: Session, user_id: str, *, include_closed: int = 5) -> list[LearnerItem]:
    """Open assignments (soonest due first), then the most recent closed ones."""
    counts = dict(session.execute(select(Attempt.assignment_id, func.count()).where(Attempt.user_id == user_id)
                                  .group_by(Attempt.assignment_id)).all())
    best = dict(session.execute(select(Attempt.assignment_id, func.max(Attempt.score)).where(Attempt.user_id == user_id)
                                .group_by(Attempt.assignment_id)).all())
    rows = list(session.scalars(select(Assignment).where(Assignment.user_id == user_id)))
    open_rows = sorted((a for a in rows if a.status == OPEN), key=lambda a: (a.due_date or date.max, a.id))
    closed = sorted((a for a in rows if a.status != OPEN), key=lambda a: a.closed_at or a.assigned_at, reverse=True)
    closed = [a for a in closed if a.status != CANCELLED][:include_closed]
    out = []
    for a in open_rows + closed:
        completion = completion_of(session, a.id) if a.status == COMPLETED else None
        out.append(LearnerItem(AssignmentInfo.of(a), int(counts.get(a.id, 0)), best.get(a.id), completion))
    return out


# --------------------------------------------------------------------------------------
# status and reports

@dataclass
class ModuleStatus:
    module_id: str
    assigned: int = 0
    open: int = 0
    not_started: int = 0
    overdue: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    completed_old_version: int = 0     # completions (latest per person) of an older version
    overdue_users: list[str] = field(default_factory=list)
    open_users: list[str] = field(default_factory=list)
    failed_users: list[str] = field(default_factory=list)

    @property
    def completion_rate(self) -> int:
        counted = self.open + self.completed + self.failed
        return (100 * self.completed) // counted if counted else 0


def module_status(session: Session, module_id: str, *, today: date, current_hash: str | None = None, list_limit: int = 200) -> ModuleStatus:
    st = ModuleStatus(module_id)
    for status, count in session.execute(select(Assignment.status, func.count()).where(Assignment.module_id == module_id)
                                         .group_by(Assignment.status)):
        setattr(st, status, int(count))
        st.assigned += int(count)
    st.overdue = int(session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.module_id == module_id, Assignment.status == OPEN, Assignment.due_date < today)) or 0)
    st.not_started = int(session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.module_id == module_id, Assignment.status == OPEN, Assignment.started_at.is_(None))) or 0)
    st.overdue_users = list(session.scalars(select(Assignment.user_id).where(
        Assignment.module_id == module_id, Assignment.status == OPEN, Assignment.due_date < today)
        .order_by(Assignment.due_date, Assignment.id).limit(list_limit)))
    st.open_users = list(session.scalars(select(Assignment.user_id).where(
        Assignment.module_id == module_id, Assignment.status == OPEN).order_by(Assignment.due_date, Assignment.id).limit(list_limit)))
    st.failed_users = list(session.scalars(select(Assignment.user_id).where(
        Assignment.module_id == module_id, Assignment.status == FAILED).order_by(Assignment.closed_at.desc()).limit(list_limit)))
    if current_hash:
        later = aliased(Completion)
        newest = select(Completion.content_hash).where(
            Completion.module_id == module_id,
            ~exists().where(later.user_id == Completion.user_id, later.module_id == Completion.module_id,
                            later.completed_at > Completion.completed_at))
        st.completed_old_version = sum(1 for h in session.scalars(newest) if h != current_hash)
    return st


@dataclass(frozen=True)
class ReportRow:
    user_id: str
    name: str
    module_id: str
    version: str
    assigned_by: str
    assigned_at: datetime
    due_date: date | None
    completed_at: datetime | None
    score: int | None
    attempts: int
    attestation: str | None
    attested_at: datetime | None
    status: str
    reason: str
    valid_until: datetime | None
    content_hash: str
    assignment_id: int


def report_rows(
    session: Session,
    *,
    module_id: str | None = None,
    user_id: str | None = None,
    since: datetime | None = None,
) -> list[ReportRow]:
    """One row per assignment (cancelled ones included, marked so), oldest first.

    ``score`` is the passing score for a completion, else the best score so far. With
    ``since``, the assignments made or completed since then.
    """
    tries = (select(Attempt.assignment_id.label("aid"), func.count().label("n"), func.max(Attempt.score).label("best"))
             .group_by(Attempt.assignment_id).subquery())
    stmt = (
        select(Assignment, Completion, Attestation.statement, Attestation.attested_at, tries.c.n, tries.c.best, Person.name)
        .outerjoin(Completion, Completion.assignment_id == Assignment.id)
        .outerjoin(Attestation, Attestation.completion_id == Completion.id)
        .outerjoin(tries, tries.c.aid == Assignment.id)
        .outerjoin(Person, Person.user_id == Assignment.user_id)
        .order_by(Assignment.assigned_at, Assignment.id)
    )
    if module_id:
        stmt = stmt.where(Assignment.module_id == module_id)
    if user_id:
        stmt = stmt.where(Assignment.user_id == user_id)
    if since is not None:
        stmt = stmt.where(or_(Assignment.assigned_at >= since, and_(Completion.id.is_not(None), Completion.completed_at >= since)))
    rows = []
    for a, c, statement, attested_at, n, best, name in session.execute(stmt):
        rows.append(ReportRow(
            user_id=a.user_id, name=name or "", module_id=a.module_id,
            version=c.version if c is not None else a.version,
            assigned_by=a.assigned_by, assigned_at=a.assigned_at, due_date=a.due_date,
            completed_at=c.completed_at if c is not None else None,
            score=c.score if c is not None else best, attempts=int(n or 0),
            attestation=statement, attested_at=attested_at, status=a.status, reason=a.reason,
            valid_until=c.expires_at if c is not None else None,
            content_hash=c.content_hash if c is not None else a.content_hash, assignment_id=a.id,
        ))
    return rows


CSV_COLUMNS = ("user", "name", "module", "version", "assigned_by", "assigned_at", "due", "completed_at", "score",
               "attempts", "attestation", "attested_at", "status", "reason", "valid_until", "content_hash")


def _iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else ""


def to_csv(rows: Iterable[ReportRow]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([
            r.user_id, _csv_safe(r.name), r.module_id, r.version, r.assigned_by, _iso(r.assigned_at),
            r.due_date.isoformat() if r.due_date else "", _iso(r.completed_at), "" if r.score is None else r.score,
            r.attempts, r.attestation or "", _iso(r.attested_at), r.status, r.reason, _iso(r.valid_until), r.content_hash[:12],
        ])
    return out.getvalue()


def _csv_safe(text: str) -> str:
    """Names come from Slack profiles; keep spreadsheet formulas from running when opened."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


# --------------------------------------------------------------------------------------
# reminders and renewals

@dataclass(frozen=True)
class ReminderDue:
    assignment: AssignmentInfo
    step: str


def due_reminders(
    session: Session,
    *,
    now: datetime,
    tz: ZoneInfo,
    before_days: list[int],
    overdue_every: int,
    overdue_max: int,
    weekdays: Collection[int],
    by: str,
    module_ids: set[str] | None = None,
) -> list[ReminderDue]:
    """Record and return the reminder step due now for each open assignment (each step once).

    ``before_days`` count working days (``weekdays``, Monday is 0) in ``tz``; see
    :func:`training.schedule.reminder_step`. ``module_ids`` limits reminders to modules that are
    still offered.
    """
    today = local_date(now, tz)
    candidates: list[tuple[Assignment, str]] = []
    for a in session.scalars(select(Assignment).where(Assignment.is_open.is_(True), Assignment.due_date.is_not(None))):
        if module_ids is not None and a.module_id not in module_ids:
            continue
        step = reminder_step(today=today, due=a.due_date, assigned_on=local_date(a.assigned_at, tz),
                             before_days=before_days, overdue_every=overdue_every, overdue_max=overdue_max,
                             weekdays=weekdays)
        if step:
            candidates.append((a, step))
    return _record_reminders(session, candidates, now=now, by=by)


def _record_reminders(session: Session, candidates: list[tuple[Assignment, str]], *, now: datetime, by: str) -> list[ReminderDue]:
    if not candidates:
        return []
    by_key = {(a.id, step): a for a, step in candidates}
    stmt = insert_or_skip(session, Reminder).on_conflict_do_nothing().returning(Reminder.assignment_id, Reminder.step)
    recorded: list[ReminderDue] = []
    rows = [{"assignment_id": a.id, "step": step, "sent_at": now, "sent_by": by[:64]} for a, step in candidates]
    for chunk in _chunks(rows):
        for r in session.execute(stmt, list(chunk)):
            recorded.append(ReminderDue(AssignmentInfo.of(by_key[(r.assignment_id, r.step)]), r.step))
    recorded.sort(key=lambda r: r.assignment.id)
    return recorded


def manual_reminders(session: Session, module_id: str, user_ids: Iterable[str] | None, *, now: datetime, tz: ZoneInfo,
                     by: str) -> tuple[list[ReminderDue], int]:
    """A trainer's nudge to open assignees (at most one per person per day); returns (sent, skipped)."""
    stmt = select(Assignment).where(Assignment.module_id == module_id, Assignment.is_open.is_(True))
    rows = list(session.scalars(stmt))
    if user_ids is not None:
        wanted = set(user_ids)
        rows = [a for a in rows if a.user_id in wanted]
    step = f"manual:{local_date(now, tz).isoformat()}"
    recorded = _record_reminders(session, [(a, step) for a in rows], now=now, by=by)
    return recorded, len(rows) - len(recorded)


@dataclass(frozen=True)
class RenewalDue:
    user_id: str
    completion_id: int
    completed_at: datetime
    expires_at: datetime
    version: str


def renewals_due(session: Session, module: Module, *, now: datetime, lead_days: int) -> list[RenewalDue]:
    """Latest completions of a recurring module that expire within ``lead_days`` and are not yet renewed."""
    if not module.recurrence_days:
        return []
    later = aliased(Completion)
    renewal = aliased(Assignment)
    opened = aliased(Assignment)
    stmt = (
        select(Completion)
        .where(Completion.module_id == module.id, Completion.expires_at.is_not(None),
               Completion.expires_at <= now + timedelta(days=lead_days))
        .where(~exists().where(later.user_id == Completion.user_id, later.module_id == Completion.module_id,
                               later.completed_at > Completion.completed_at))
        .where(~exists().where(renewal.renewal_of == Completion.id))
        .where(~exists().where(opened.user_id == Completion.user_id, opened.module_id == Completion.module_id,
                               opened.is_open.is_(True)))
        .order_by(Completion.expires_at, Completion.id)
    )
    return [RenewalDue(c.user_id, c.id, c.completed_at, c.expires_at, c.version) for c in session.scalars(stmt)]  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# names for reports

def names(session: Session, user_ids: Iterable[str]) -> dict[str, str]:
    ids = list(dict.fromkeys(user_ids))
    out: dict[str, str] = {}
    for chunk in _chunks(ids):
        out.update(dict(session.execute(select(Person.user_id, Person.name).where(Person.user_id.in_(chunk))).all()))
    return out


def missing_names(session: Session, *, limit: int, stale_before: datetime | None = None) -> list[str]:
    """People with training records whose name is unknown (or older than ``stale_before``)."""
    stmt = (select(Assignment.user_id).distinct().outerjoin(Person, Person.user_id == Assignment.user_id)
            .where(Person.user_id.is_(None) if stale_before is None else or_(Person.user_id.is_(None), Person.updated_at < stale_before))
            .limit(limit))
    return list(session.scalars(stmt))


def save_names(session: Session, found: dict[str, str], now: datetime) -> None:
    if not found:
        return
    rows = [{"user_id": u, "name": n[:200], "updated_at": now} for u, n in found.items()]
    stmt = insert_or_skip(session, Person)
    stmt = stmt.on_conflict_do_update(index_elements=["user_id"], set_={"name": stmt.excluded.name, "updated_at": stmt.excluded.updated_at})
    session.execute(stmt, rows)


def renewal_due_dates(renewals: list[RenewalDue], tz: ZoneInfo, today: date, min_days: int) -> dict[str, date]:
    """Due date for each renewal: the day the completion expires, but never sooner than ``min_days`` from today."""
    out = {}
    for r in renewals:
        due = local_date(r.expires_at, tz)
        out[r.user_id] = max(due, today + timedelta(days=min_days))
    return out

