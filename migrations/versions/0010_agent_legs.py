"""Agent legs get their hold spans, wrap-up code (note, when, by whom, required), and a transfer-out field;
queues get their wrap-up codes.

call_agent_legs: hold_spans (JSON [{start, end}]), wrapup_code (indexed: reports count calls by code),
wrapup_note, wrapup_set_at, wrapup_set_by, wrapup_required (false for the legs already stored: their queues had
no codes), transferred_to. acd_queues: wrapup (JSON {codes: [{id, label}], required}; null: no codes). The
downgrade drops them.

Revision ID: 0010_agent_legs
Revises: 0009_phone_pins
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op


revision = "0010_agent_legs"
down_revision = "0009_phone_pins"
branch_labels = None
depends_on = None

_LEG_COLUMNS = ("hold_spans", "wrapup_code", "wrapup_note", "wrapup_set_at", "wrapup_set_by", "wrapup_required",
                "transferred_to")


def upgrade() -> None:
    with op.batch_alter_table("call_agent_legs") as batch:
        batch.add_column(sa.Column("hold_spans", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("wrapup_code", sa.String(32), nullable=True))
        batch.add_column(sa.Column("wrapup_note", sa.String(500), nullable=True))
        batch.add_column(sa.Column("wrapup_set_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("wrapup_set_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("wrapup_required", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("transferred_to", sa.String(128), nullable=True))
    op.create_index(op.f("ix_call_agent_legs_wrapup_code"), "call_agent_legs", ["wrapup_code"])
    with op.batch_alter_table("acd_queues") as batch:
        batch.add_column(sa.Column("wrapup", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acd_queues") as batch:
        batch.drop_column("wrapup")
    op.drop_index(op.f("ix_call_agent_legs_wrapup_code"), table_name="call_agent_legs")
    with op.batch_alter_table("call_agent_legs") as batch:
        for name in reversed(_LEG_COLUMNS):
            batch.drop_column(name)
