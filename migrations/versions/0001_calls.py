"""The calls table: one interaction record per call, keyed on Asterisk's linkedid.

Revision ID: 0001_calls
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from callcontrol.adapters.db.models import UtcDateTime

revision = "0001_calls"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("caller_number", sa.String(80), nullable=False),
        sa.Column("caller_name", sa.String(80), nullable=False),
        sa.Column("dialed_number", sa.String(80), nullable=False),
        sa.Column("flow_id", sa.String(64), nullable=True),
        sa.Column("flow_version", sa.String(64), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("answered_at", UtcDateTime(), nullable=True),
        sa.Column("ivr_ended_at", UtcDateTime(), nullable=True),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("ivr_path", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_cause_text", sa.String(64), nullable=True),
        sa.Column("end_observed_by", sa.String(16), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("call_id", name=op.f("uq_calls_call_id")),
    )
    op.create_index(op.f("ix_calls_dialed_number"), "calls", ["dialed_number"])
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"])
    op.create_index(op.f("ix_calls_status"), "calls", ["status"])


def downgrade() -> None:
    op.drop_table("calls")
