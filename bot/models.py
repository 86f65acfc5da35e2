"""Tables owned by ``bot``: the audit log, Slack event receipts, scheduler claims, the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pacsbot.core.db import NAMING_CONVENTION, BigId, Json, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION, info={"owner": "bot"})


class AuditEntry(Base):
    """One row per audited act. Append-only: the database refuses UPDATE and DELETE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
        Index("ix_audit_log_action_at", "action", "at"),
    )


class EventReceipt(Base):
    """A Slack event, stored before Slack is told it arrived (the event inbox).

    A second delivery of the same id is a retry and is skipped. ``body`` is kept until the
    event has been handled (then cleared: it may hold patient data); an event whose handling
    never finished (a process that died after the ack) is handled again by the inbox job."""

    __tablename__ = "slack_event_receipts"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    event_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    body: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


class SchedulerClaim(Base):
    """A periodic job's run for one time slot; the primary key lets only one replica claim it."""

    __tablename__ = "scheduler_claims"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[str] = mapped_column(String(64), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    claimed_by: Mapped[str] = mapped_column(String(128), nullable=False)


class OutboxMessage(Base):
    """A Slack Web API call to make later, durably (see ``bot.outbox``).

    Written in the same transaction as the change it announces; sent after the commit by
    whichever replica claims it. ``key`` makes enqueueing idempotent; ``lease_until`` and
    ``claimed_by`` let exactly one replica send a message at a time.
    """

    __tablename__ = "slack_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), nullable=False)
    origin: Mapped[str] = mapped_column(String(32), nullable=False)
    method: Mapped[str] = mapped_column(String(40), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)

    __table_args__ = (
        UniqueConstraint("key", name="uq_slack_outbox_key"),
        Index("ix_slack_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_slack_outbox_created_at", "created_at"),
    )


class SeenIdentifier(Base):
    """A keyed hash of a patient ID or name a DICOM node returned lately (never the value).

    The privacy gate masks these wherever they appear in a channel post, on every replica,
    until ``expires_at`` (``privacy.remember_hours``)."""

    __tablename__ = "privacy_seen"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_privacy_seen_expires_at", "expires_at"),)


class Draft(Base):
    """A form's values kept between two steps of a modal (Slack's private_metadata holds only
    3,000 characters, and a long description did not fit). Deleted once used; housekeeping
    removes the rest after a day (they may hold patient data)."""

    __tablename__ = "slack_drafts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
