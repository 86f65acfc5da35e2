"""bot: the event inbox — a Slack event's body is stored before the ack, until it is handled

Revision ID: bot_0004
Revises: bot_0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import Json, UTCDateTime

revision = "bot_0004"
down_revision = "bot_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slack_event_receipts") as batch:
        batch.add_column(sa.Column("event_type", sa.String(64), nullable=True))
        batch.add_column(sa.Column("body", Json, nullable=True))
        batch.add_column(sa.Column("handled_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("slack_event_receipts") as batch:
        batch.drop_column("attempts")
        batch.drop_column("handled_at")
        batch.drop_column("body")
        batch.drop_column("event_type")
