"""People: users, their team and queue scopes, their API tokens (hashed), and the audit trail.

Revision ID: 0007_people
Revises: 0006_call_interactions
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_people"
down_revision = "0006_call_interactions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_users")),
    )
    op.create_table(
        "user_scopes",
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["user"], ["users.name"], ondelete="CASCADE", name=op.f("fk_user_scopes_user_users")),
        sa.PrimaryKeyConstraint("user", "kind", "value", name=op.f("pk_user_scopes")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("lookup_id", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user"], ["users.name"], ondelete="CASCADE", name=op.f("fk_api_tokens_user_users")),
        sa.PrimaryKeyConstraint("lookup_id", name=op.f("pk_api_tokens")),
    )
    op.create_index(op.f("ix_api_tokens_user"), "api_tokens", ["user"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    for column in ("at", "actor", "action"):
        op.create_index(op.f(f"ix_audit_events_{column}"), "audit_events", [column])


def downgrade() -> None:
    for table in ("audit_events", "api_tokens", "user_scopes", "users"):
        op.drop_table(table)
