"""bot: form drafts kept on the server between two steps of a modal

Revision ID: bot_0005
Revises: bot_0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import Json, UTCDateTime

revision = "bot_0005"
down_revision = "bot_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_drafts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_slack_drafts"),
    )
    op.create_index("ix_slack_drafts_created_at", "slack_drafts", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_slack_drafts_created_at", table_name="slack_drafts")
    op.drop_table("slack_drafts")
