"""Tables owned by ``commands``: the last C-ECHO result per node, the per-user run ledger
behind the rate limit, and the key that pseudonymises patient IDs in the audit log.

Nothing here holds PHI: node names, outcomes in plain words, Slack user ids and times.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pacsbot.core.db import NAMING_CONVENTION, BigId, UTCDateTime


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


class NodeCheck(Base):
    """One scheduled C-ECHO of a node by the watch: the history behind uptime and latency."""

    __tablename__ = "dicom_node_checks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(32), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    elapsed_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    failure_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # True when the check fell inside a planned downtime of the node.
    in_downtime: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (Index("ix_dicom_node_checks_node_at", "node", "at"),)


class NodeWatch(Base):
    """The watch's view of one node: up/down/unknown, streaks, and the open outage if any.

    ``version`` is bumped on every update so that two replicas cannot both apply a state
    change (compare-and-set), and so each down/up alert is posted once.
    """

    __tablename__ = "dicom_node_watch"

    node: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(8), nullable=False)  # unknown | up | down
    since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    successes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    last_elapsed_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_failure_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_message: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    last_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outage_ticket: Mapped[int | None] = mapped_column(BigId, nullable=True)  # tickets.id, no FK across packages
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Downtime(Base):
    """A planned downtime of a node: announced, reminded, and down-alerts suppressed inside it."""

    __tablename__ = "dicom_downtimes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(32), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reason: Mapped[str] = mapped_column(String(300), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_dicom_downtimes_node_window", "node", "starts_at", "ends_at"),)
