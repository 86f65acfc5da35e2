"""Tables owned by ``tickets``.

A ticket's row id is internal (buttons, history, the outbox). What people see is its
reference, ``PACS-<number>`` or, for a report linked to a ticket when it was filed,
``PACS-<number>.<sub>``: the ticket's number and the report's place under it. Tickets the
team works take the next number (``sub`` 0), so the queue reads PACS-1, PACS-2, PACS-3;
linked reports do not use one up. A reference never changes once given, except that a
linked report split off into a ticket of its own takes the next number then."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pacsbot.core.db import NAMING_CONVENTION, BigId, Json, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION, info={"owner": "tickets"})


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_reporter", "reporter"),
        Index("ix_tickets_accession", "accession"),
        Index("ix_tickets_parent", "parent_id"),
        Index("ix_tickets_number_sub", "number", "sub", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # the reference: PACS-<number> (sub 0) or PACS-<number>.<sub> (a report linked when filed)
    number: Mapped[int] = mapped_column(BigId, nullable=False)
    sub: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    source_ref: Mapped[str] = mapped_column(String(160), nullable=False, unique=True)
    source: Mapped[str] = mapped_column(String(24), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    category: Mapped[str] = mapped_column(String(24), nullable=False)
    urgency: Mapped[str] = mapped_column(String(8), nullable=False)
    priority: Mapped[str] = mapped_column(String(2), nullable=False)
    queue: Mapped[str] = mapped_column(String(32), nullable=False)
    channel: Mapped[str | None] = mapped_column(String(24))
    card_ts: Mapped[str | None] = mapped_column(String(32))
    reporter: Mapped[str] = mapped_column(String(32), nullable=False)
    assignee: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    phi_suspected: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    accession: Mapped[str | None] = mapped_column(String(16))
    modality: Mapped[str | None] = mapped_column(String(8))
    location: Mapped[str | None] = mapped_column(String(100))
    source_channel: Mapped[str | None] = mapped_column(String(24))
    source_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(String(300))
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tickets.id"))
    is_incident: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(Text)
    reopen_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class TicketEvent(Base):
    """The ticket's history: every change, note, thread reply and reminder."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        Index("ix_ticket_events_ticket", "ticket_id", "at"),
        UniqueConstraint("dedupe_key", name="uq_ticket_events_dedupe_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id"), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    details: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(160))


class TicketFollower(Base):
    """Who is told about changes: the reporter, and everyone whose report was linked to it."""

    __tablename__ = "ticket_followers"

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # how they came to follow it: "report" (their own, or one linked to it) or "told" (they
    # were told "PACS is down, the team is on it" and hear only when it is back and resolved)
    via: Mapped[str] = mapped_column(String(12), nullable=False, default="report", server_default="report")


class Incident(Base):
    """An outage: declared by reports from several people (or places) in one category in a
    short time, or by the node watch. It takes new reports only while it is live: while the
    watch says ``node`` is down, or while reports keep arriving within ``outage.minutes``
    (``last_report_at``); ``recovered_at`` is when the watch saw the system come back."""

    __tablename__ = "ticket_incidents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(24), nullable=False)
    window_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id"), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reports: Mapped[int] = mapped_column(Integer, nullable=False)
    node: Mapped[str | None] = mapped_column(String(64))
    last_report_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """Outbox of JSON POSTs to a queue's webhook: kept until delivered, retried with backoff."""

    __tablename__ = "ticket_webhooks"
    __table_args__ = (Index("ix_ticket_webhooks_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), nullable=False, unique=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id"), nullable=False)
    queue: Mapped[str] = mapped_column(String(32), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
