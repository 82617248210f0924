"""The call-record store over SQLAlchemy async: idempotent upserts keyed on call_id, bound parameters only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from callcontrol.adapters.db.models import CallRow
from callcontrol.core.calls import CallRecord, CallStatus, EndObservedBy, EndReason

_UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One writer at a time anyway; wait for the lock instead of failing under a concurrent reader.
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_wal)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=5)


def _sqlite_wal(dbapi_connection: Any, _: Any) -> None:
    """WAL: readers (reports, the CLI) never block the writer, and a commit is one fsync of the log."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _upsert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (call_id) DO UPDATE, built once and executed with many parameter sets.

    A replayed or late "active" snapshot never reopens an ended row.
    """
    statement = _UPSERTS[dialect](CallRow)
    columns = [column.name for column in CallRow.__table__.columns if column.name not in ("id", "call_id")]
    reopens = (CallRow.status == str(CallStatus.ENDED)) & (statement.excluded.status != str(CallStatus.ENDED))
    return statement.on_conflict_do_update(
        index_elements=["call_id"], set_={name: statement.excluded[name] for name in columns}, where=~reopens)


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
        self._upsert = _upsert_statement(engine.dialect.name)

    async def save(self, records: Sequence[CallRecord]) -> None:
        if not records:
            return
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            # one parameter set per call (the last wins): a multi-row upsert may not touch a row twice
            latest = {record.call_id: record for record in records}
            await conn.execute(self._upsert, [_row_values(record, now) for record in latest.values()])

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
