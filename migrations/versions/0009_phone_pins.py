"""Users' phone PINs: what a supervisor keys in on the supervision line (*71) of its own phone, argon2-hashed.

Revision ID: 0009_phone_pins
Revises: 0008_recordings
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_phone_pins"
down_revision = "0008_recordings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("phone_pin_hash", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("phone_pin_hash")
