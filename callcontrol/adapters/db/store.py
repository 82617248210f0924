"""The call-record store over SQLAlchemy async: idempotent upserts keyed on call_id, bound parameters only.

A call's queue stints, offers and agent legs (interaction_rows) are written in the transaction of its call row,
and only when that row was written: a late "active" snapshot changes neither an ended row nor its stints.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import String, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from callcontrol.adapters.db.interaction_rows import Written, load_interactions, replace_interactions, set_leg_wrapup
from callcontrol.adapters.db.models import CallRow
from callcontrol.core.calls import CallRecord, CallStatus, EndObservedBy, EndReason
from callcontrol.core.wrapup import Wrapup

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
    """INSERT ... ON CONFLICT (call_id) DO UPDATE ... RETURNING call_id, built once and executed with many
    parameter sets; it returns the call_ids it wrote. A replayed or late "active" snapshot never reopens an ended
    row."""
    statement = _UPSERTS[dialect](CallRow)
    columns = [column.name for column in CallRow.__table__.columns if column.name not in ("id", "call_id")]
    reopens = (CallRow.status == str(CallStatus.ENDED)) & (statement.excluded.status != str(CallStatus.ENDED))
    return statement.on_conflict_do_update(
        index_elements=["call_id"], set_={name: statement.excluded[name] for name in columns}, where=~reopens,
    ).returning(CallRow.call_id)


# Columns that mirror CallRecord fields one to one (id and updated_at belong to the row only).
_RECORD_COLUMNS = tuple(c.name for c in CallRow.__table__.columns if c.name not in ("id", "updated_at"))
_MAX_LENGTHS = {c.name: c.type.length for c in CallRow.__table__.columns
                if isinstance(c.type, String) and c.type.length and c.name in _RECORD_COLUMNS}
_ENUMS = {"status": CallStatus, "end_reason": EndReason, "end_observed_by": EndObservedBy}


def _row_values(record: CallRecord, now: datetime) -> dict[str, Any]:
    """Column values for a record; enums as their text, caller-supplied text cut to the column size."""
    values: dict[str, Any] = {}
    for name in _RECORD_COLUMNS:
        value = getattr(record, name)
        if isinstance(value, StrEnum):
            value = str(value)
        elif isinstance(value, str) and name in _MAX_LENGTHS:
            value = value[:_MAX_LENGTHS[name]]
        values[name] = value
    values["updated_at"] = now
    return values


def row_to_record(row: CallRow) -> CallRecord:
    fields = {name: getattr(row, name) for name in _RECORD_COLUMNS}
    for name, enum in _ENUMS.items():
        fields[name] = enum(fields[name]) if fields[name] else None
    fields["ivr_path"] = list(fields["ivr_path"] or [])
    fields["variables"] = dict(fields["variables"] or {})
    return CallRecord(**fields)


class SqlCallRecordStore:
    """Implements the CallRecordStore port."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._upsert = _upsert_statement(engine.dialect.name)
        # the stints as last committed, of the calls still active that this process wrote: a flush that did not
        # change a call's stints (its walk moved on, it ended) does not rewrite them
        self._stints_written: dict[str, Written] = {}

    async def save(self, records: Sequence[CallRecord]) -> None:
        if not records:
            return
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            # one parameter set per call (the last wins): a multi-row upsert may not touch a row twice
            latest = {record.call_id: record for record in records}
            written = [latest[call_id] for call_id in
                       (await conn.execute(self._upsert, [_row_values(r, now) for r in latest.values()])).scalars()]
            changes = []
            for record in written:
                stints = tuple(record.queue_stints)
                # not written by this process: no stints means no rows (a record's stints are only ever added
                # to), else what the tables hold is not known
                before = self._stints_written.get(record.call_id, None if stints else ())
                if stints != before:
                    changes.append((record, before))
            await replace_interactions(conn, changes)
        for record in written:  # committed
            if record.status is CallStatus.ACTIVE:
                self._stints_written[record.call_id] = tuple(record.queue_stints)
            else:
                self._stints_written.pop(record.call_id, None)

    async def _records(self, statement: Any) -> list[CallRecord]:
        """The records of the call rows `statement` selects, with their stints, in one read transaction."""
        async with self._sessions() as session:
            records = [row_to_record(row) for row in await session.scalars(statement)]
            await load_interactions(await session.connection(), records)
            return records

    async def load_active(self) -> list[CallRecord]:
        return await self._records(select(CallRow).where(CallRow.status == str(CallStatus.ACTIVE)))

    async def started_since(self, since: datetime) -> list[CallRecord]:
        return await self._records(select(CallRow).where(CallRow.started_at >= since).order_by(CallRow.id))

    async def recent(self, limit: int = 20) -> list[CallRecord]:
        return await self._records(select(CallRow).order_by(CallRow.id.desc()).limit(limit))

    async def by_call_id(self, call_id: str) -> CallRecord | None:
        found = await self._records(select(CallRow).where(CallRow.call_id == call_id))
        return found[0] if found else None

    async def set_wrapup(self, call_id: str, stint_position: int, wrapup: Wrapup) -> bool:
        """Write a wrap-up code on the stored agent leg of an ended call; False when that leg has no row (yet).
        A snapshot of the call written later without a code never clears it (interaction_rows' upsert)."""
        async with self._engine.begin() as conn:
            return await set_leg_wrapup(conn, call_id, stint_position, wrapup)
