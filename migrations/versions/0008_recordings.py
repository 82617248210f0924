"""Call recordings: the registry (recordings, their paused spans) and the queue's structured recording policy.

acd_queues.recording was a placeholder (a policy name nothing used); it becomes the policy as JSON. Old names
have no meaning as a policy, so the upgrade clears them (the queue is then not recorded) and the downgrade
writes NULL back. No foreign key to the calls or people tables: a recording row is written when MixMonitor
starts, which may be before the call record's first flush, and it outlives a deleted person.

Revision ID: 0008_recordings
Revises: 0007_people
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_recordings"
down_revision = "0007_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mixmonitor_id", sa.String(32), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("agents_may_listen", sa.Boolean(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("problem", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    op.create_index(op.f("ix_recordings_call_id"), "recordings", ["call_id"])
    op.create_index(op.f("ix_recordings_queue"), "recordings", ["queue"])
    op.create_index(op.f("ix_recordings_agent"), "recordings", ["agent"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])
    op.create_table(
        "recording_spans",
        sa.Column("recording_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"], ondelete="CASCADE",
                                name=op.f("fk_recording_spans_recording_id_recordings")),
        sa.PrimaryKeyConstraint("recording_id", "position", name=op.f("pk_recording_spans")),
    )
    op.execute("UPDATE acd_queues SET recording = NULL")
    with op.batch_alter_table("acd_queues") as batch:
        batch.alter_column("recording", type_=sa.JSON(), existing_type=sa.String(64), existing_nullable=True,
                           postgresql_using="NULL::json")


def downgrade() -> None:
    op.execute("UPDATE acd_queues SET recording = NULL")
    with op.batch_alter_table("acd_queues") as batch:
        batch.alter_column("recording", type_=sa.String(64), existing_type=sa.JSON(), existing_nullable=True,
                           postgresql_using="NULL::varchar")
    op.drop_table("recording_spans")
    op.drop_index("ix_recordings_started_at", table_name="recordings")
    op.drop_index(op.f("ix_recordings_agent"), table_name="recordings")
    op.drop_index(op.f("ix_recordings_queue"), table_name="recordings")
    op.drop_index(op.f("ix_recordings_call_id"), table_name="recordings")
    op.drop_table("recordings")
