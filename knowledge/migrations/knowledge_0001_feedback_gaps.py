"""knowledge: answer feedback and knowledge gaps

Revision ID: knowledge_0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import BigId, UTCDateTime

revision = "knowledge_0001"
down_revision = None
branch_labels = ("knowledge",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_feedback",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("section", sa.String(400), nullable=False),
        sa.Column("manual_title", sa.String(200), nullable=False),
        sa.Column("heading", sa.String(200), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_feedback"),
    )
    op.create_index("ix_kb_feedback_section_at", "kb_feedback", ["section", "at"])
    op.create_index("ix_kb_feedback_at", "kb_feedback", ["at"])
    op.create_table(
        "kb_gaps",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("normalized", sa.String(300), nullable=False),
        sa.Column("best_section", sa.String(400), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_gaps"),
    )
    op.create_index("ix_kb_gaps_normalized", "kb_gaps", ["normalized"])
    op.create_index("ix_kb_gaps_at", "kb_gaps", ["at"])


def downgrade() -> None:
    op.drop_table("kb_gaps")
    op.drop_table("kb_feedback")
