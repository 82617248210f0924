"""The call-record store over SQLAlchemy async: idempotent upserts keyed on call_id, bound parameters only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from callcontrol.adapters.db.models import CallRow
from callcontrol.core.calls import CallRecord, CallStatus, EndObservedBy, EndReason

_UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One writer at a time anyway; wait for the lock instead of failing under a concurrent reader.
        return create_async_engine(url, connect_args={"timeout": 30})
    return create_async_engine(url, pool_pre_ping=True, pool_size=5)


def _row_values(record: CallRecord, now: datetime) -> dict[str, Any]:
    return {
        "call_id": record.call_id,
        "uniqueid": record.uniqueid,
        "channel": record.channel[:128],
        "caller_number": record.caller_number[:80],
        "caller_name": record.caller_name[:80],
        "dialed_number": record.dialed_number[:80],
        "flow_id": record.flow_id,
        "flow_version": record.flow_version,
        "started_at": record.started_at,
        "answered_at": record.answered_at,
        "ivr_ended_at": record.ivr_ended_at,
        "ended_at": record.ended_at,
        "ivr_path": record.ivr_path,
        "status": str(record.status),
        "end_reason": str(record.end_reason) if record.end_reason else None,
        "hangup_cause": record.hangup_cause,
        "hangup_cause_text": (record.hangup_cause_text or None) and record.hangup_cause_text[:64],
        "end_observed_by": str(record.end_observed_by) if record.end_observed_by else None,
        "updated_at": now,
    }


def row_to_record(row: CallRow) -> CallRecord:
    return CallRecord(
        call_id=row.call_id,
        uniqueid=row.uniqueid,
        channel=row.channel,
        caller_number=row.caller_number,
        caller_name=row.caller_name,
        dialed_number=row.dialed_number,
        started_at=row.started_at,
        flow_id=row.flow_id,
        flow_version=row.flow_version,
        answered_at=row.answered_at,
        ivr_ended_at=row.ivr_ended_at,
        ended_at=row.ended_at,
        ivr_path=list(row.ivr_path or []),
        status=CallStatus(row.status),
        end_reason=EndReason(row.end_reason) if row.end_reason else None,
        hangup_cause=row.hangup_cause,
        hangup_cause_text=row.hangup_cause_text,
        end_observed_by=EndObservedBy(row.end_observed_by) if row.end_observed_by else None,
    )


class SqlCallRecordStore:
    """Implements the CallRecordStore port."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._insert = _UPSERTS[engine.dialect.name]

    async def save(self, records: Sequence[CallRecord]) -> None:
        if not records:
            return
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            for record in records:
                values = _row_values(record, now)
                statement = self._insert(CallRow).values(**values)
                update = {key: statement.excluded[key] for key in values if key != "call_id"}
                # A replayed or late "active" snapshot never reopens an ended row.
                reopens = (CallRow.status == str(CallStatus.ENDED)) & (
                    statement.excluded.status != str(CallStatus.ENDED))
                await conn.execute(statement.on_conflict_do_update(
                    index_elements=["call_id"], set_=update, where=~reopens))

    async def load_active(self) -> list[CallRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(select(CallRow).where(CallRow.status == str(CallStatus.ACTIVE)))
            return [row_to_record(row) for row in rows]

    async def recent(self, limit: int = 20) -> list[CallRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(select(CallRow).order_by(CallRow.id.desc()).limit(limit))
            return [row_to_record(row) for row in rows]

    async def by_call_id(self, call_id: str) -> CallRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(select(CallRow).where(CallRow.call_id == call_id))
            return row_to_record(row) if row else None
