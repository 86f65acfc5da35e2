"""Tables owned by ``knowledge``: answer feedback and knowledge gaps.

Both keep the question as asked, because the point is to learn which manual to write next,
but pass it through :func:`knowledge.privacy.mask` first: obvious identifiers (record
numbers, accession-like codes, dates, phone numbers, e-mail addresses, "Mr Smith") are
replaced before anything is stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pacsbot.core.db import NAMING_CONVENTION, BigId, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION, info={"owner": "knowledge"})


class Feedback(Base):
    """A click on Helpful / Not helpful under an answer (and the reason, if one was given)."""

    __tablename__ = "kb_feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    question: Mapped[str] = mapped_column(Text, nullable=False)
    section: Mapped[str] = mapped_column(String(400), nullable=False)        # file#anchor
    manual_title: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    heading: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    helpful: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    surface: Mapped[str] = mapped_column(String(16), nullable=False, default="")

    __table_args__ = (
        Index("ix_kb_feedback_section_at", "section", "at"),
        Index("ix_kb_feedback_at", "at"),
    )


class Gap(Base):
    """A question the manuals could not answer (the bot said it didn't know)."""

    __tablename__ = "kb_gaps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    question: Mapped[str] = mapped_column(Text, nullable=False)
    normalized: Mapped[str] = mapped_column(String(300), nullable=False)     # for grouping repeats
    best_section: Mapped[str | None] = mapped_column(String(400), nullable=True)
    confidence: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    surface: Mapped[str] = mapped_column(String(16), nullable=False, default="")

    __table_args__ = (
        Index("ix_kb_gaps_normalized", "normalized"),
        Index("ix_kb_gaps_at", "at"),
    )
