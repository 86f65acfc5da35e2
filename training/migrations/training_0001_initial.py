"""training: module versions, assignments, attempts, completions, attestations, reminders, people

Records for auditors are append-only in the database: module versions, attempts, completions
and attestations refuse UPDATE, DELETE and TRUNCATE; assignments and reminders refuse DELETE
and TRUNCATE (an assignment's status changes as it is worked on, but it is never removed).

Revision ID: training_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pacsbot.core.db import BigId, Json, UTCDateTime

revision = "training_0001"
down_revision = None
branch_labels = ("training",)
depends_on = None

FROZEN = ("training_module_versions", "training_attempts", "training_completions", "training_attestations")
NO_DELETE = ("training_assignments", "training_reminders")


def _triggers(dialect: str) -> list[str]:
    statements: list[str] = []
    if dialect == "postgresql":
        statements.append(
            """CREATE OR REPLACE FUNCTION training_records_append_only() RETURNS trigger AS $$
               BEGIN RAISE EXCEPTION '% is append-only: training records are kept as written', TG_TABLE_NAME; END;
               $$ LANGUAGE plpgsql"""
        )
        for table in FROZEN:
            statements.append(f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
                                  FOR EACH ROW EXECUTE FUNCTION training_records_append_only()""")
        for table in NO_DELETE:
            statements.append(f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
                                  FOR EACH ROW EXECUTE FUNCTION training_records_append_only()""")
        for table in FROZEN + NO_DELETE:
            statements.append(f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                                  FOR EACH STATEMENT EXECUTE FUNCTION training_records_append_only()""")
        return statements
    for table in FROZEN:
        statements.append(f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
                              BEGIN SELECT RAISE(ABORT, '{table} is append-only: training records are kept as written'); END""")
    for table in FROZEN + NO_DELETE:
        statements.append(f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
                              BEGIN SELECT RAISE(ABORT, '{table} is append-only: training records are kept as written'); END""")
    return statements


def upgrade() -> None:
    op.create_table(
        "training_module_versions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("module_id", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(48), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_training_module_versions"),
        sa.UniqueConstraint("module_id", "content_hash", name="uq_training_module_versions_module_hash"),
        sa.UniqueConstraint("module_id", "revision", name="uq_training_module_versions_module_revision"),
    )

    op.create_table(
        "training_assignments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("module_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(48), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("assigned_by", sa.String(64), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("batch", sa.String(32), nullable=False),
        sa.Column("renewal_of", BigId, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_training_assignments"),
        sa.UniqueConstraint("user_id", "module_id", "is_open", name="uq_training_assignments_one_open"),
        sa.UniqueConstraint("renewal_of", name="uq_training_assignments_renewal_of"),
    )
    op.create_index("ix_training_assignments_module_status", "training_assignments", ["module_id", "status"])
    op.create_index("ix_training_assignments_user_status", "training_assignments", ["user_id", "status"])
    op.create_index("ix_training_assignments_batch", "training_assignments", ["batch"])
    op.create_index("ix_training_assignments_assigned_at", "training_assignments", ["assigned_at"])

    op.create_table(
        "training_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("assignment_id", BigId, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("module_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(48), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("answers", Json, nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("pass_mark", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_training_attempts"),
        sa.ForeignKeyConstraint(["assignment_id"], ["training_assignments.id"],
                                name="fk_training_attempts_assignment_id_training_assignments"),
        sa.UniqueConstraint("assignment_id", "number", name="uq_training_attempts_assignment_number"),
    )
    op.create_index("ix_training_attempts_user", "training_attempts", ["user_id"])

    op.create_table(
        "training_completions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("assignment_id", BigId, nullable=False),
        sa.Column("attempt_id", BigId, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("module_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(48), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_training_completions"),
        sa.ForeignKeyConstraint(["assignment_id"], ["training_assignments.id"],
                                name="fk_training_completions_assignment_id_training_assignments"),
        sa.ForeignKeyConstraint(["attempt_id"], ["training_attempts.id"],
                                name="fk_training_completions_attempt_id_training_attempts"),
        sa.UniqueConstraint("assignment_id", name="uq_training_completions_assignment_id"),
    )
    op.create_index("ix_training_completions_user_module", "training_completions", ["user_id", "module_id"])
    op.create_index("ix_training_completions_completed_at", "training_completions", ["completed_at"])
    op.create_index("ix_training_completions_expires_at", "training_completions", ["expires_at"])

    op.create_table(
        "training_attestations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("completion_id", BigId, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("attested_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_training_attestations"),
        sa.ForeignKeyConstraint(["completion_id"], ["training_completions.id"],
                                name="fk_training_attestations_completion_id_training_completions"),
        sa.UniqueConstraint("completion_id", name="uq_training_attestations_completion_id"),
    )

    op.create_table(
        "training_reminders",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("assignment_id", BigId, nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("sent_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_training_reminders"),
        sa.ForeignKeyConstraint(["assignment_id"], ["training_assignments.id"],
                                name="fk_training_reminders_assignment_id_training_assignments"),
        sa.UniqueConstraint("assignment_id", "step", name="uq_training_reminders_assignment_step"),
    )

    op.create_table(
        "training_people",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_training_people"),
    )

    for statement in _triggers(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    # Dropping the tables drops their triggers on both backends.
    for table in ("training_people", "training_reminders", "training_attestations", "training_completions",
                  "training_attempts", "training_assignments", "training_module_versions"):
        op.execute(f"DROP TABLE {table}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS training_records_append_only()")
