"""Transfers: a queue stint keeps a transferred caller's original arrival (call_queue_stints.arrived_at).

A caller blind-transferred to another queue is ordered there by its first arrival in the ACD; the stint keeps that
time so the service level may count from it (docs/transfers.md). NULL: the caller arrived with the stint.

Revision ID: 0011_transfers
Revises: 0010_agent_legs
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_transfers"
down_revision = "0010_agent_legs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_queue_stints") as batch:
        batch.add_column(sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_queue_stints") as batch:
        batch.drop_column("arrived_at")
