"""Tables owned by ``commands``: the last C-ECHO result per node, the per-user run ledger
behind the rate limit, and the key that pseudonymises patient IDs in the audit log.

Nothing here holds PHI: node names, outcomes in plain words, Slack user ids and times.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.db import NAMING_CONVENTION, BigId, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION, info={"owner": "commands"})


class NodeStatus(Base):
    """The last C-ECHO of a node (by anyone, from chat or the terminal), for ``/pacs nodes``."""

    __tablename__ = "dicom_node_status"

    node: Mapped[str] = mapped_column(String(32), primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    elapsed_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    failure_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    checked_by: Mapped[str] = mapped_column(String(64), nullable=False)


class DicomRun(Base):
    """One echo/locate command by one user: the ledger the per-user rate limit counts."""

    __tablename__ = "dicom_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    command: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_dicom_runs_actor_at", "actor", "at"),)


class DicomKey(Base):
    """Per-installation secrets of the diagnostics (the audit pseudonym key), made on first use."""

    __tablename__ = "dicom_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
