"""tickets: references of their own (PACS-12, PACS-12.1 for a report linked to it), and no
resolution left on a reopened ticket

Revision ID: tickets_0003
Revises: tickets_0002
Create Date: 2026-12-10

Every existing ticket and report keeps the reference it was given (its number is its id);
new tickets continue from the highest number, and a report linked to a ticket from now on
is PACS-<that ticket's number>.<n> instead of using up a number. Columns are added in place
(no table copy on SQLite, where the tickets table is referenced by four others).

A ticket that was resolved and then reopened kept its old resolution (and the reports linked
to it kept theirs): it is cleared, as reopening now does. The history keeps every resolution.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import BigId

revision = "tickets_0003"
down_revision = "tickets_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("number", BigId, nullable=False, server_default="0"))
    op.add_column("tickets", sa.Column("sub", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE tickets SET number = id")
    op.create_index("ix_tickets_number_sub", "tickets", ["number", "sub"], unique=True)
    # reports under a reopened ticket: not resolved any more
    op.execute("UPDATE tickets SET resolved_at = NULL, resolved_by = NULL, resolution = NULL "
               "WHERE resolved_at IS NOT NULL AND parent_id IN (SELECT id FROM tickets WHERE status <> 'resolved')")
    # a reopened ticket: the resolution that no longer holds (the history keeps it)
    op.execute("UPDATE tickets SET resolution = NULL WHERE resolved_at IS NULL AND resolution IS NOT NULL")


def downgrade() -> None:
    # Reports linked since the upgrade share their ticket's number: they fall back on the id.
    op.drop_index("ix_tickets_number_sub", table_name="tickets")
    op.drop_column("tickets", "sub")
    op.drop_column("tickets", "number")
