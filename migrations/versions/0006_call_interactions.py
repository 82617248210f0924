"""Queue stints, offers and agent legs in tables of their own, keyed by the call's call_id (was calls.queue_stints).

The upgrade moves each call's JSON stints into the tables (ISO times parsed, missing keys of older rows
tolerated) and drops the column; the downgrade writes them back as the JSON the code before kept.

Revision ID: 0006_call_interactions
Revises: 0005_acd_callbacks
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from callcontrol.adapters.db.models import UtcDateTime

revision = "0006_call_interactions"
down_revision = "0005_acd_callbacks"
branch_labels = None
depends_on = None

BATCH = 500  # calls read and written per round of the move
UNKNOWN = "unknown"  # the outcome of a stored stint that had none

_calls = sa.table("calls", sa.column("id", sa.Integer), sa.column("call_id", sa.String),
                  sa.column("started_at", UtcDateTime), sa.column("queue_stints", sa.JSON))
_stints = sa.table("call_queue_stints", sa.column("call_id", sa.String), sa.column("position", sa.Integer),
                   sa.column("queue", sa.String), sa.column("entered_at", UtcDateTime),
                   sa.column("left_at", UtcDateTime), sa.column("outcome", sa.String),
                   sa.column("waited_s", sa.Float), sa.column("estimated_wait_s", sa.Float),
                   sa.column("recovered", sa.Boolean))
_offers = sa.table("call_offers", sa.column("call_id", sa.String), sa.column("stint_position", sa.Integer),
                   sa.column("position", sa.Integer), sa.column("agent", sa.String),
                   sa.column("offered_at", UtcDateTime), sa.column("result", sa.String))
_legs = sa.table("call_agent_legs", sa.column("call_id", sa.String), sa.column("stint_position", sa.Integer),
                 sa.column("agent", sa.String), sa.column("endpoint", sa.String),
                 sa.column("answered_at", UtcDateTime), sa.column("ended_at", UtcDateTime))


def _call_key() -> list[Any]:
    return [sa.Column("call_id", sa.String(64), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "call_queue_stints", *_call_key(),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("waited_s", sa.Float(), nullable=True),
        sa.Column("estimated_wait_s", sa.Float(), nullable=True),
        sa.Column("recovered", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"], ondelete="CASCADE",
                                name=op.f("fk_call_queue_stints_call_id_calls")),
        sa.PrimaryKeyConstraint("call_id", "position", name=op.f("pk_call_queue_stints")),
    )
    op.create_index(op.f("ix_call_queue_stints_queue"), "call_queue_stints", ["queue"])
    op.create_index(op.f("ix_call_queue_stints_entered_at"), "call_queue_stints", ["entered_at"])
    op.create_table(
        "call_offers", *_call_key(),
        sa.Column("stint_position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"], ondelete="CASCADE",
                                name=op.f("fk_call_offers_call_id_calls")),
        sa.PrimaryKeyConstraint("call_id", "stint_position", "position", name=op.f("pk_call_offers")),
    )
    op.create_index(op.f("ix_call_offers_agent"), "call_offers", ["agent"])
    op.create_table(
        "call_agent_legs", *_call_key(),
        sa.Column("stint_position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"], ondelete="CASCADE",
                                name=op.f("fk_call_agent_legs_call_id_calls")),
        sa.PrimaryKeyConstraint("call_id", "stint_position", name=op.f("pk_call_agent_legs")),
    )
    op.create_index(op.f("ix_call_agent_legs_agent"), "call_agent_legs", ["agent"])
    op.create_index(op.f("ix_call_agent_legs_answered_at"), "call_agent_legs", ["answered_at"])
    op.create_index(op.f("ix_acd_agent_transitions_call_id"), "acd_agent_transitions", ["call_id"])
    _move_json_to_tables(op.get_bind())
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("queue_stints")


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("queue_stints", sa.JSON(), nullable=True))
    _move_tables_to_json(op.get_bind())
    op.drop_index(op.f("ix_acd_agent_transitions_call_id"), table_name="acd_agent_transitions")
    for table in ("call_agent_legs", "call_offers", "call_queue_stints"):
        op.drop_table(table)


# ------------------------------------------------------------------ JSON -> tables


def _time(value: object) -> datetime | None:
    """An ISO time as the JSON kept it (aware; a naive one is UTC); None when absent or unreadable."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed is not None and parsed.tzinfo is None else parsed


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: object, size: int, default: str | None = None) -> str | None:
    return value[:size] if isinstance(value, str) else default


def _rows_of(call_id: str, started_at: datetime, stints: list[Any]) -> tuple[list[dict], list[dict], list[dict]]:
    """The stint, offer and leg rows of one call's JSON stints."""
    stint_rows: list[dict] = []
    offer_rows: list[dict] = []
    leg_rows: list[dict] = []
    for position, stint in enumerate(item for item in stints if isinstance(item, dict)):
        entered_at = _time(stint.get("entered_at")) or started_at
        waited_s = _number(stint.get("waited_s"))
        stint_rows.append({
            "call_id": call_id, "position": position, "queue": _text(stint.get("queue"), 64, ""),
            "entered_at": entered_at, "left_at": _time(stint.get("left_at")),
            "outcome": _text(stint.get("outcome"), 32, UNKNOWN), "waited_s": waited_s,
            "estimated_wait_s": _number(stint.get("estimated_wait_s")), "recovered": stint.get("recovered") is True})
        offers = stint.get("offers") if isinstance(stint.get("offers"), list) else []
        offer_rows.extend(
            {"call_id": call_id, "stint_position": position, "position": index,
             "agent": _text(offer.get("agent"), 64, ""), "offered_at": _time(offer.get("at")) or entered_at,
             "result": _text(offer.get("result"), 32, "")}
            for index, offer in enumerate(item for item in offers if isinstance(item, dict)))
        agent = _text(stint.get("agent"), 64)
        if agent:  # answered: the stints written when answered say when; older ones, after the wait
            answered_at = _time(stint.get("answered_at")) or entered_at + timedelta(seconds=waited_s or 0.0)
            talk_s = _number(stint.get("talk_s"))
            leg_rows.append({
                "call_id": call_id, "stint_position": position, "agent": agent,
                "endpoint": _text(stint.get("endpoint"), 128), "answered_at": answered_at,
                "ended_at": None if talk_s is None else answered_at + timedelta(seconds=talk_s)})
    return stint_rows, offer_rows, leg_rows


def _move_json_to_tables(conn: sa.Connection) -> None:
    last_id = 0
    while True:
        calls = conn.execute(sa.select(_calls.c.id, _calls.c.call_id, _calls.c.started_at, _calls.c.queue_stints)
                             .where(_calls.c.id > last_id).order_by(_calls.c.id).limit(BATCH)).all()
        if not calls:
            return
        last_id = calls[-1].id
        rows: tuple[list[dict], list[dict], list[dict]] = ([], [], [])
        for call in calls:
            if isinstance(call.queue_stints, list):
                for found, made in zip(rows, _rows_of(call.call_id, call.started_at, call.queue_stints)):
                    found.extend(made)
        for table, made in zip((_stints, _offers, _legs), rows):
            if made:
                conn.execute(table.insert(), made)


# ------------------------------------------------------------------ tables -> JSON


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _move_tables_to_json(conn: sa.Connection) -> None:
    offers: dict[tuple[str, int], list[dict]] = {}
    for row in conn.execute(sa.select(_offers).order_by(_offers.c.call_id, _offers.c.stint_position,
                                                        _offers.c.position)):
        offers.setdefault((row.call_id, row.stint_position), []).append(
            {"agent": row.agent, "at": _iso(row.offered_at), "result": row.result})
    legs = {(row.call_id, row.stint_position): row for row in conn.execute(sa.select(_legs))}
    stints: dict[str, list[dict]] = {}
    for row in conn.execute(sa.select(_stints).order_by(_stints.c.call_id, _stints.c.position)):
        leg = legs.get((row.call_id, row.position))
        talk_s = None if leg is None or leg.ended_at is None else round(
            (leg.ended_at - leg.answered_at).total_seconds(), 3)
        stint = {"queue": row.queue, "entered_at": _iso(row.entered_at), "left_at": _iso(row.left_at),
                 "outcome": row.outcome, "waited_s": row.waited_s, "agent": leg.agent if leg else None,
                 "talk_s": talk_s, "offers": offers.get((row.call_id, row.position), []),
                 "estimated_wait_s": row.estimated_wait_s}
        if leg is not None:
            stint.update(answered_at=_iso(leg.answered_at), endpoint=leg.endpoint)
        if row.recovered:
            stint["recovered"] = True
        stints.setdefault(row.call_id, []).append(stint)
    for call_id, kept in stints.items():
        conn.execute(_calls.update().where(_calls.c.call_id == call_id).values(queue_stints=kept))
