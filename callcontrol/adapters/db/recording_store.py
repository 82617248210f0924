"""The recordings registry over SQLAlchemy async: one row per recording, its paused spans, bound parameters only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callcontrol.adapters.db.models import RecordingRow, RecordingSpanRow
from callcontrol.core.recordings import LIVE, PausedSpan, Recording

_COLUMNS = tuple(f.name for f in fields(Recording) if f.name != "spans")


@dataclass(frozen=True)
class RecordingFilter:
    """Which recordings a list asks for (every field optional); newest first."""

    call_id: str | None = None
    agent: str | None = None
    queue: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


class SqlRecordingRegistry:
    """Implements the RecordingRegistry port."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(self, recording: Recording) -> None:
        """Insert or replace the recording's row and its spans, in one transaction."""
        values = {name: getattr(recording, name) for name in _COLUMNS}
        async with self._engine.begin() as conn:
            done = await conn.execute(update(RecordingRow).where(RecordingRow.id == recording.id).values(**values))
            if done.rowcount == 0:
                await conn.execute(insert(RecordingRow).values(**values))
            await conn.execute(delete(RecordingSpanRow).where(RecordingSpanRow.recording_id == recording.id))
            if recording.spans:
                await conn.execute(insert(RecordingSpanRow), [
                    {"recording_id": recording.id, "position": index, "started_at": span.started_at,
                     "ended_at": span.ended_at, "reason": span.reason} for index, span in enumerate(recording.spans)])

    async def get(self, recording_id: str) -> Recording | None:
        found = await self._load(select(RecordingRow).where(RecordingRow.id == recording_id))
        return found[0] if found else None

    async def find(self, wanted: RecordingFilter) -> list[Recording]:
        query = select(RecordingRow)
        if wanted.call_id is not None:
            query = query.where(RecordingRow.call_id == wanted.call_id)
        if wanted.agent is not None:
            query = query.where(RecordingRow.agent == wanted.agent)
        if wanted.queue is not None:
            query = query.where(RecordingRow.queue == wanted.queue)
        if wanted.since is not None:
            query = query.where(RecordingRow.started_at >= wanted.since)
        if wanted.until is not None:
            query = query.where(RecordingRow.started_at < wanted.until)
        return await self._load(query.order_by(RecordingRow.started_at.desc(), RecordingRow.id)
                                .limit(max(1, min(wanted.limit, 1000))))

    async def of_calls(self, call_ids: Sequence[str]) -> dict[str, list[Recording]]:
        """The recordings of these calls, by call key, oldest first (the call record links them)."""
        if not call_ids:
            return {}
        found = await self._load(select(RecordingRow).where(RecordingRow.call_id.in_(list(call_ids)))
                                 .order_by(RecordingRow.started_at))
        linked: dict[str, list[Recording]] = {}
        for recording in found:
            linked.setdefault(recording.call_id, []).append(recording)
        return linked

    async def purge_candidates(self, now: datetime, limit: int = 500) -> list[Recording]:
        """Recordings old enough that some may be past retention, not held, not live, not purged (the caller
        applies Recording.purgeable with the per-row retention)."""
        query = (select(RecordingRow).where(RecordingRow.purged_at.is_(None), RecordingRow.legal_hold.is_(False),
                                            RecordingRow.state.not_in(sorted(LIVE)))
                 .order_by(RecordingRow.started_at).limit(limit))
        return [recording for recording in await self._load(query) if recording.purgeable(now)]

    async def mark_purged(self, recording_ids: list[str], at: datetime) -> None:
        """One statement for a batch of purged recordings (their files are gone; the rows stay as the trace)."""
        if recording_ids:
            async with self._engine.begin() as conn:
                await conn.execute(update(RecordingRow).where(RecordingRow.id.in_(recording_ids))
                                   .values(purged_at=at))

    async def live(self) -> list[Recording]:
        return await self._load(select(RecordingRow).where(RecordingRow.state.in_(sorted(LIVE))))

    async def _load(self, query: Any) -> list[Recording]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            ids = [row.id for row in rows]
            spans: dict[str, list[PausedSpan]] = {}
            if ids:
                span_rows = await conn.execute(select(RecordingSpanRow).where(RecordingSpanRow.recording_id.in_(ids))
                                               .order_by(RecordingSpanRow.recording_id, RecordingSpanRow.position))
                for span in span_rows:
                    spans.setdefault(span.recording_id, []).append(PausedSpan(span.started_at, span.reason,
                                                                              span.ended_at))
        return [Recording(**{name: getattr(row, name) for name in _COLUMNS}, spans=tuple(spans.get(row.id, ())))
                for row in rows]
