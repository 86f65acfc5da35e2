"""Database building blocks every feature's ``models.py`` uses.

Each package that owns tables declares its own base, so it owns its tables and migrations::

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

``bot.storage`` gathers every package's metadata and runs all migrations.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so that migrations can name what they alter on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# An auto-increment id that is BIGINT on PostgreSQL and INTEGER (the rowid) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class _Json(TypeDecorator[Any]):
    """JSON that is JSONB on PostgreSQL. (Not ``JSON().with_variant(JSONB(), ...)``: that
    imports SQLAlchemy's whole PostgreSQL dialect into every process, ~50 ms of start-up and
    ~2 MiB per process on SQLite, where it is never used.)"""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


Json = _Json()


def insert_or_skip(session: Session, model: Any) -> Any:
    """An ``INSERT`` into ``model``'s table that takes ``on_conflict_do_nothing`` and
    ``on_conflict_do_update``, in the dialect of the session's database (imported when first
    needed, for the reason above)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(model)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(model)
    raise RuntimeError(f"unsupported database {dialect}")  # pragma: no cover - settings refuse others


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime; use timezone-aware UTC")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
