"""Booked callbacks waiting for their turn, so a restart of the service does not lose them.

Revision ID: 0005_acd_callbacks
Revises: 0004_call_queue_stints
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_acd_callbacks"
down_revision = "0004_call_queue_stints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acd_callbacks",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("queue_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_acd_callbacks")),
    )


def downgrade() -> None:
    op.drop_table("acd_callbacks")
