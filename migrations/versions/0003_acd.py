"""ACD tables: agents (with a PIN hash), queues (with music on hold, announcements and the recording policy hook),
and the log of agent state transitions.

Revision ID: 0003_acd
Revises: 0002_call_variables
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from callcontrol.adapters.db.models import UtcDateTime

revision = "0003_acd"
down_revision = "0002_call_variables"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acd_agents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("pin_hash", sa.String(200), nullable=True),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("wrap_up_s", sa.Float(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acd_agents")),
    )
    op.create_table(
        "acd_queues",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("required_skills", sa.JSON(), nullable=False),
        sa.Column("preferred_skills", sa.JSON(), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("ring_timeout_s", sa.Float(), nullable=False),
        sa.Column("wrap_up_s", sa.Float(), nullable=False),
        sa.Column("max_wait_s", sa.Float(), nullable=True),
        sa.Column("max_length", sa.Integer(), nullable=True),
        sa.Column("service_level_s", sa.Float(), nullable=False),
        sa.Column("callback_allowed", sa.Boolean(), nullable=False),
        sa.Column("short_abandon_s", sa.Float(), nullable=False),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("escalations", sa.JSON(), nullable=False),
        sa.Column("expected_handle_s", sa.Float(), nullable=False),
        sa.Column("moh_class", sa.String(64), nullable=False),
        sa.Column("announce_position", sa.Boolean(), nullable=False),
        sa.Column("announce_estimated_wait", sa.Boolean(), nullable=False),
        sa.Column("announce_every_s", sa.Float(), nullable=False),
        sa.Column("periodic_prompts", sa.JSON(), nullable=False),
        sa.Column("recording", sa.String(64), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acd_queues")),
    )
    op.create_table(
        "acd_agent_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(120), nullable=True),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acd_agent_transitions")),
    )
    op.create_index("ix_acd_agent_transitions_agent_id_at", "acd_agent_transitions", ["agent_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_acd_agent_transitions_agent_id_at", table_name="acd_agent_transitions")
    op.drop_table("acd_agent_transitions")
    op.drop_table("acd_queues")
    op.drop_table("acd_agents")
