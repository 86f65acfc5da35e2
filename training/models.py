"""Tables owned by ``training``: module versions, assignments, attempts, completions,
attestations, reminders, and a small cache of people's names.

Records for auditors (HIPAA asks for six years of workforce training records) are append-only
in the database itself (migration ``training_0001``): module versions, attempts, completions
and attestations refuse UPDATE and DELETE; assignments and reminders refuse DELETE (an
assignment's status moves on, but the row stays). Unique keys make every write idempotent:
one open assignment per person and module, one attempt per number, one completion per
assignment, one reminder per step.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pacsbot.core.db import NAMING_CONVENTION, BigId, Json, UTCDateTime

# Assignment.status values
OPEN = "open"
COMPLETED = "completed"
FAILED = "failed"          # out of attempts
CANCELLED = "cancelled"    # unassigned by a trainer
STATUSES = (OPEN, COMPLETED, FAILED, CANCELLED)

# Assignment.reason values
ASSIGNED = "assigned"      # a trainer assigned it
RENEWAL = "renewal"        # a recurring module came round again
RETRAIN = "retrain"        # a trainer asked for re-training on a new version

SYSTEM_ACTOR = "pacsbot"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION, info={"owner": "training"})


class ModuleVersion(Base):
    """Each distinct content of a module, as first seen. Append-only."""

    __tablename__ = "training_module_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    module_id: Mapped[str] = mapped_column(String(64), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    version: Mapped[str] = mapped_column(String(48), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        UniqueConstraint("module_id", "content_hash", name="uq_training_module_versions_module_hash"),
        UniqueConstraint("module_id", "revision", name="uq_training_module_versions_module_revision"),
    )


class Assignment(Base):
    """A module assigned to one person. Never deleted; ``status`` records how it ended."""

    __tablename__ = "training_assignments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    module_id: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[str] = mapped_column(String(48), nullable=False)        # current when assigned
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    assigned_by: Mapped[str] = mapped_column(String(64), nullable=False)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    due_date: Mapped[date | None] = mapped_column(Date(), nullable=True)    # a local date
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    batch: Mapped[str] = mapped_column(String(32), nullable=False)          # one assign command
    renewal_of: Mapped[int | None] = mapped_column(BigId, nullable=True)    # completion id
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=OPEN)
    # True while open, NULL otherwise: with the unique key below, at most one open assignment
    # per person and module, on every backend (NULLs never collide).
    is_open: Mapped[bool | None] = mapped_column(Boolean(), nullable=True, default=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    page: Mapped[int] = mapped_column(Integer, nullable=False, default=0)   # furthest page read
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        UniqueConstraint("user_id", "module_id", "is_open", name="uq_training_assignments_one_open"),
        UniqueConstraint("renewal_of", name="uq_training_assignments_renewal_of"),
        Index("ix_training_assignments_module_status", "module_id", "status"),
        Index("ix_training_assignments_user_status", "user_id", "status"),
        Index("ix_training_assignments_batch", "batch"),
        Index("ix_training_assignments_assigned_at", "assigned_at"),
    )


class Attempt(Base):
    """One quiz submission with its score. Append-only."""

    __tablename__ = "training_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(BigId, ForeignKey("training_assignments.id"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    module_id: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[str] = mapped_column(String(48), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    answers: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    correct: Mapped[int] = mapped_column(Integer, nullable=False)
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)             # percent
    pass_mark: Mapped[int] = mapped_column(Integer, nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean(), nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        UniqueConstraint("assignment_id", "number", name="uq_training_attempts_assignment_number"),
        Index("ix_training_attempts_user", "user_id"),
    )


class Completion(Base):
    """A passed module: who, which version, when, with what score. Append-only."""

    __tablename__ = "training_completions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(BigId, ForeignKey("training_assignments.id"), nullable=False)
    attempt_id: Mapped[int] = mapped_column(BigId, ForeignKey("training_attempts.id"), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    module_id: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[str] = mapped_column(String(48), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("assignment_id", name="uq_training_completions_assignment_id"),
        Index("ix_training_completions_user_module", "user_id", "module_id"),
        Index("ix_training_completions_completed_at", "completed_at"),
        Index("ix_training_completions_expires_at", "expires_at"),
    )


class Attestation(Base):
    """"I have read and understood", signed by the learner with the quiz that passed. Append-only."""

    __tablename__ = "training_attestations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    completion_id: Mapped[int] = mapped_column(BigId, ForeignKey("training_completions.id"), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    statement: Mapped[str] = mapped_column(Text(), nullable=False)
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (UniqueConstraint("completion_id", name="uq_training_attestations_completion_id"),)


class Reminder(Base):
    """A reminder step sent for an assignment (``before:7``, ``overdue:2``, ``manual:2027-01-10``)."""

    __tablename__ = "training_reminders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(BigId, ForeignKey("training_assignments.id"), nullable=False)
    step: Mapped[str] = mapped_column(String(32), nullable=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    sent_by: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (UniqueConstraint("assignment_id", "step", name="uq_training_reminders_assignment_step"),)


class Person(Base):
    """A cache of Slack display names for reports (ids are the keys for people)."""

    __tablename__ = "training_people"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
