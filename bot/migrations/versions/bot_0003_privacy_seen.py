"""bot: keyed hashes of patient identifiers the archive returned, for the privacy gate

Revision ID: bot_0003
Revises: bot_0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import UTCDateTime

revision = "bot_0003"
down_revision = "bot_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_seen",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_privacy_seen"),
    )
    op.create_index("ix_privacy_seen_expires_at", "privacy_seen", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_privacy_seen_expires_at", table_name="privacy_seen")
    op.drop_table("privacy_seen")
