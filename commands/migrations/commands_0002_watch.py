"""commands: the node watch (check history, per-node state) and planned downtimes

Revision ID: commands_0002
Revises: commands_0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import BigId, UTCDateTime

revision = "commands_0002"
down_revision = "commands_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dicom_node_checks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("node", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("elapsed_ms", sa.Integer(), nullable=False),
        sa.Column("failure_code", sa.String(32), nullable=True),
        sa.Column("in_downtime", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dicom_node_checks"),
    )
    op.create_index("ix_dicom_node_checks_node_at", "dicom_node_checks", ["node", "at"])
    op.create_table(
        "dicom_node_watch",
        sa.Column("node", sa.String(32), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", UTCDateTime(), nullable=True),
        sa.Column("last_check_at", UTCDateTime(), nullable=True),
        sa.Column("last_ok", sa.Boolean(), nullable=True),
        sa.Column("last_elapsed_ms", sa.Integer(), nullable=True),
        sa.Column("last_failure_code", sa.String(32), nullable=True),
        sa.Column("last_message", sa.String(300), nullable=False),
        sa.Column("last_change_at", UTCDateTime(), nullable=True),
        sa.Column("outage_ticket", BigId, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("node", name="pk_dicom_node_watch"),
    )
    op.create_table(
        "dicom_downtimes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("node", sa.String(32), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(64), nullable=True),
        sa.Column("announced_at", UTCDateTime(), nullable=True),
        sa.Column("reminded_at", UTCDateTime(), nullable=True),
        sa.Column("started_notice_at", UTCDateTime(), nullable=True),
        sa.Column("ended_notice_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dicom_downtimes"),
    )
    op.create_index("ix_dicom_downtimes_node_window", "dicom_downtimes", ["node", "starts_at", "ends_at"])


def downgrade() -> None:
    op.drop_index("ix_dicom_downtimes_node_window", table_name="dicom_downtimes")
    op.drop_table("dicom_downtimes")
    op.drop_table("dicom_node_watch")
    op.drop_index("ix_dicom_node_checks_node_at", table_name="dicom_node_checks")
    op.drop_table("dicom_node_checks")
