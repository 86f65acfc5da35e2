"""bot: the outbox of Slack messages to send after the commit (bot.outbox)

Revision ID: bot_0002
Revises: bot_0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import BigId, Json, UTCDateTime

revision = "bot_0002"
down_revision = "bot_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("result", Json, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_slack_outbox"),
        sa.UniqueConstraint("key", name="uq_slack_outbox_key"),
    )
    op.create_index("ix_slack_outbox_status_next", "slack_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_slack_outbox_created_at", "slack_outbox", ["created_at"])


def downgrade() -> None:
    op.drop_table("slack_outbox")
