"""tickets: incidents with a life cycle (node, last report, recovery); how a follower follows

Revision ID: tickets_0002
Revises: tickets_0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import UTCDateTime

revision = "tickets_0002"
down_revision = "tickets_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_incidents") as batch:
        batch.add_column(sa.Column("node", sa.String(64)))
        batch.add_column(sa.Column("last_report_at", UTCDateTime()))
        batch.add_column(sa.Column("recovered_at", UTCDateTime()))
    with op.batch_alter_table("ticket_followers") as batch:
        batch.add_column(sa.Column("via", sa.String(12), nullable=False, server_default="report"))
    # an incident declared before this revision took reports until resolved; from now on it
    # counts as live from its last linked report
    op.execute("UPDATE ticket_incidents SET last_report_at = opened_at")


def downgrade() -> None:
    with op.batch_alter_table("ticket_followers") as batch:
        batch.drop_column("via")
    with op.batch_alter_table("ticket_incidents") as batch:
        batch.drop_column("recovered_at")
        batch.drop_column("last_report_at")
        batch.drop_column("node")
