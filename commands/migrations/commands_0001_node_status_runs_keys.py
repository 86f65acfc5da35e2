"""commands: last echo per node, the run ledger for the rate limit, the audit pseudonym key

Revision ID: commands_0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import BigId, UTCDateTime

revision = "commands_0001"
down_revision = None
branch_labels = ("commands",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dicom_node_status",
        sa.Column("node", sa.String(32), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("elapsed_ms", sa.Integer(), nullable=False),
        sa.Column("failure_code", sa.String(32), nullable=True),
        sa.Column("message", sa.String(300), nullable=False),
        sa.Column("checked_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("node", name="pk_dicom_node_status"),
    )
    op.create_table(
        "dicom_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("command", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dicom_runs"),
    )
    op.create_index("ix_dicom_runs_actor_at", "dicom_runs", ["actor", "at"])
    op.create_table(
        "dicom_keys",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_dicom_keys"),
    )


def downgrade() -> None:
    op.drop_table("dicom_keys")
    op.drop_index("ix_dicom_runs_actor_at", table_name="dicom_runs")
    op.drop_table("dicom_runs")
    op.drop_table("dicom_node_status")
