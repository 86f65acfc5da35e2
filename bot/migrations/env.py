"""Alembic environment shared by every package's migration branch (see bot.storage)."""

from __future__ import annotations

from alembic import context

from pacsbot.bot.storage import all_metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from the alembic CLI
    raise SystemExit("Run migrations with `pacsbot db upgrade`, not the alembic command.")

context.configure(
    connection=connection,
    target_metadata=all_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
