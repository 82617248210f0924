"""Call records keep each wait in an ACD queue (queue stints): the source of service level, ASA and abandons.

Revision ID: 0004_call_queue_stints
Revises: 0003_acd
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_call_queue_stints"
down_revision = "0003_acd"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("queue_stints", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("queue_stints")
