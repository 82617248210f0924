"""Call records keep the flow's public variables (secure ones never), survey scores included.

Revision ID: 0002_call_variables
Revises: 0001_calls
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_call_variables"
down_revision = "0001_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("variables", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("variables")
