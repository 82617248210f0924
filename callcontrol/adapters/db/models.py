"""SQLAlchemy table definitions; Alembic migrations in migrations/ must match these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CallRow(Base):
    """One row per call, keyed on Asterisk's linkedid."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    uniqueid: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(128))
    caller_number: Mapped[str] = mapped_column(String(80))
    caller_name: Mapped[str] = mapped_column(String(80))
    dialed_number: Mapped[str] = mapped_column(String(80), index=True)
    flow_id: Mapped[str | None] = mapped_column(String(64))
    flow_version: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ivr_ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ivr_path: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(64))
    end_observed_by: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


def _call_key() -> Mapped[str]:
    """The call_id column of a call's interaction rows: the call record's key, the first of their primary key."""
    return mapped_column(String(64), ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True)


class CallQueueStintRow(Base):
    """A call's wait in an ACD queue (callcontrol.core.interactions.QueueStint), `position` in the call's order."""

    __tablename__ = "call_queue_stints"

    call_id: Mapped[str] = _call_key()
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    queue: Mapped[str] = mapped_column(String(64), index=True)
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(32))
    waited_s: Mapped[float | None] = mapped_column(Float)
    estimated_wait_s: Mapped[float | None] = mapped_column(Float)
    recovered: Mapped[bool] = mapped_column(Boolean)
    arrived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # a transferred caller's original arrival


class CallOfferRow(Base):
    """An agent rung for a stint's caller (OfferAttempt), `position` in the stint's order."""

    __tablename__ = "call_offers"

    call_id: Mapped[str] = _call_key()
    stint_position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agent: Mapped[str] = mapped_column(String(64), index=True)
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    result: Mapped[str] = mapped_column(String(32))


class CallAgentLegRow(Base):
    """A stint's conversation with the agent who answered (AgentLeg); ended_at None while it goes on."""

    __tablename__ = "call_agent_legs"

    call_id: Mapped[str] = _call_key()
    stint_position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agent: Mapped[str] = mapped_column(String(64), index=True)
    endpoint: Mapped[str | None] = mapped_column(String(128))
    answered_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hold_spans: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # [{start, end (null: on hold)}]
    wrapup_code: Mapped[str | None] = mapped_column(String(32), index=True)  # core/wrapup.py WRAPUP_CODE
    wrapup_note: Mapped[str | None] = mapped_column(String(500))
    wrapup_set_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    wrapup_set_by: Mapped[str | None] = mapped_column(String(64))
    wrapup_required: Mapped[bool] = mapped_column(Boolean, server_default=false())
    transferred_to: Mapped[str | None] = mapped_column(String(128))  # where the agent transferred the caller


class AcdAgentRow(Base):
    """An ACD agent's profile (callcontrol.core.acd.model.Agent) and the hash of its PIN (never the PIN)."""

    __tablename__ = "acd_agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    endpoint: Mapped[str] = mapped_column(String(128))
    pin_hash: Mapped[str | None] = mapped_column(String(200))  # pbkdf2_sha256$iterations$salt_hex$hash_hex
    teams: Mapped[list[str]] = mapped_column(JSON)
    skills: Mapped[dict[str, int]] = mapped_column(JSON)
    wrap_up_s: Mapped[float | None] = mapped_column(Float)  # None: the wrap-up time of the call's queue
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AcdQueueRow(Base):
    """An ACD queue (callcontrol.core.acd.model.Queue): simple fields as columns, skills/teams/rules as JSON."""

    __tablename__ = "acd_queues"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    required_skills: Mapped[dict[str, int]] = mapped_column(JSON)
    preferred_skills: Mapped[dict[str, int]] = mapped_column(JSON)
    strategy: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float)
    ring_timeout_s: Mapped[float] = mapped_column(Float)
    wrap_up_s: Mapped[float] = mapped_column(Float)
    max_wait_s: Mapped[float | None] = mapped_column(Float)
    max_length: Mapped[int | None] = mapped_column(Integer)
    service_level_s: Mapped[float] = mapped_column(Float)
    callback_allowed: Mapped[bool] = mapped_column(Boolean)
    short_abandon_s: Mapped[float] = mapped_column(Float)
    teams: Mapped[list[str]] = mapped_column(JSON)
    escalations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{after_s, relax|drop_preferred|...: ...}]
    expected_handle_s: Mapped[float] = mapped_column(Float)
    moh_class: Mapped[str] = mapped_column(String(64))
    announce_position: Mapped[bool] = mapped_column(Boolean)
    announce_estimated_wait: Mapped[bool] = mapped_column(Boolean)
    announce_every_s: Mapped[float] = mapped_column(Float)
    periodic_prompts: Mapped[list[str]] = mapped_column(JSON)  # sound names in playing order
    recording: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the recording policy; null: not recorded
    wrapup: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {codes: [{id, label}], required}; null: none
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AcdAgentTransitionRow(Base):
    """One agent state change with its time and cause (occupancy and pause reports; state after a restart)."""

    __tablename__ = "acd_agent_transitions"
    __table_args__ = (Index("ix_acd_agent_transitions_agent_id_at", "agent_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    cause: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(120))
    call_id: Mapped[str | None] = mapped_column(String(64), index=True)  # the call record's call_id


class AcdCallbackRow(Base):
    """A booked callback waiting for its turn (callcontrol.core.acd.model.BookedCallback)."""

    __tablename__ = "acd_callbacks"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    queue_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(32))
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime)
    priority: Mapped[int | None] = mapped_column(Integer)
    skills: Mapped[dict[str, int]] = mapped_column(JSON)


class RecordingRow(Base):
    """One call recording (callcontrol.core.recordings.Recording); its file is <recordings dir>/<relative path>."""

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_started_at", "started_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # identifiers.RECORDING_ID
    call_id: Mapped[str] = mapped_column(String(64), index=True)  # the call record's call_id (no FK: see 0008)
    channel: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str | None] = mapped_column(String(64), index=True)
    agent: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    mixmonitor_id: Mapped[str | None] = mapped_column(String(32))
    retention_days: Mapped[int] = mapped_column(Integer)
    agents_may_listen: Mapped[bool] = mapped_column(Boolean)
    legal_hold: Mapped[bool] = mapped_column(Boolean)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    problem: Mapped[str | None] = mapped_column(String(200))


class RecordingSpanRow(Base):
    """A paused span of a recording: the file holds silence from started_at to ended_at, for `reason`."""

    __tablename__ = "recording_spans"

    recording_id: Mapped[str] = mapped_column(String(40), ForeignKey("recordings.id", ondelete="CASCADE"),
                                              primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(String(32))


from callcontrol.adapters.db import people_rows  # noqa: E402  (users, tokens, audit: in their own module)

PEOPLE_TABLES = people_rows  # imported with the models, the people's tables join Base's metadata (Alembic's too)
