"""tickets: tickets, their history, followers, incidents and the webhook outbox

Revision ID: tickets_0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import BigId, Json, UTCDateTime

revision = "tickets_0001"
down_revision = None
branch_labels = ("tickets",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("source_ref", sa.String(160), nullable=False),
        sa.Column("source", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("category", sa.String(24), nullable=False),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("queue", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(24)),
        sa.Column("card_ts", sa.String(32)),
        sa.Column("reporter", sa.String(32), nullable=False),
        sa.Column("assignee", sa.String(32)),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("phi_suspected", sa.Boolean(), nullable=False),
        sa.Column("accession", sa.String(16)),
        sa.Column("modality", sa.String(8)),
        sa.Column("location", sa.String(100)),
        sa.Column("source_channel", sa.String(24)),
        sa.Column("source_ts", sa.String(32)),
        sa.Column("permalink", sa.String(300)),
        sa.Column("parent_id", BigId),
        sa.Column("is_incident", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("acknowledged_by", sa.String(32)),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("resolved_by", sa.String(32)),
        sa.Column("resolution", sa.Text()),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("source_ref", name="uq_tickets_source_ref"),
        sa.ForeignKeyConstraint(["parent_id"], ["tickets.id"], name="fk_tickets_parent_id_tickets"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tickets_status_created", "tickets", ["status", "created_at"])
    op.create_index("ix_tickets_reporter", "tickets", ["reporter"])
    op.create_index("ix_tickets_accession", "tickets", ["accession"])
    op.create_index("ix_tickets_parent", "tickets", ["parent_id"])

    op.create_table(
        "ticket_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.Column("dedupe_key", sa.String(160)),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_events"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_ticket_events_ticket_id_tickets"),
        sa.UniqueConstraint("dedupe_key", name="uq_ticket_events_dedupe_key"),
    )
    op.create_index("ix_ticket_events_ticket", "ticket_events", ["ticket_id", "at"])

    op.create_table(
        "ticket_followers",
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", "user_id", name="pk_ticket_followers"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_ticket_followers_ticket_id_tickets"),
    )

    op.create_table(
        "ticket_incidents",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("category", sa.String(24), nullable=False),
        sa.Column("window_key", sa.String(64), nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_incidents"),
        sa.UniqueConstraint("window_key", name="uq_ticket_incidents_window_key"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_ticket_incidents_ticket_id_tickets"),
    )

    op.create_table(
        "ticket_webhooks",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(160), nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("queue", sa.String(32), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(300)),
        sa.Column("delivered_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_webhooks"),
        sa.UniqueConstraint("dedupe_key", name="uq_ticket_webhooks_dedupe_key"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_ticket_webhooks_ticket_id_tickets"),
    )
    op.create_index("ix_ticket_webhooks_due", "ticket_webhooks", ["delivered_at", "next_attempt_at"])


def downgrade() -> None:
    for table in ("ticket_webhooks", "ticket_incidents", "ticket_followers", "ticket_events", "tickets"):
        op.drop_table(table)
