"""Retention: recordings past their queue's retention_days are purged (file deleted, row marked), legal holds kept.

One owned periodic task (`run`, started and cancelled by runtime.py) and the same `purge` for
`callcontrol recordings purge [--dry-run]`. Each deletion is logged; the row stays, marked purged, as the trace.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from callcontrol.core.recordings import Recording
from callcontrol.services.ports import Clock
from callcontrol.services.recording_ports import RecordingFiles, RecordingRegistry

log = structlog.get_logger(__name__)

BATCH = 500


@dataclass(frozen=True)
class PurgeReport:
    purged: tuple[Recording, ...]
    dry_run: bool


class RecordingPurger:
    def __init__(self, registry: RecordingRegistry, files: RecordingFiles, clock: Clock,
                 interval_s: float = 3600.0) -> None:
        self._registry = registry
        self._files = files
        self._clock = clock
        self.interval_s = interval_s
        self.problem: str | None = None

    async def purge(self, dry_run: bool = False) -> PurgeReport:
        """Every recording past its retention and not on hold: its file deleted, its row marked purged."""
        now = self._clock.now()
        done: list[Recording] = []
        while True:
            seen = {recording.id for recording in done}
            batch = [r for r in await self._registry.purge_candidates(now, BATCH) if r.id not in seen]
            if not batch:
                break
            if not dry_run:
                for recording in batch:
                    deleted = self._files.delete(recording.relative_path)
                    log.info("recording.purged", recording=recording.id, call=recording.call_id,
                             started_at=recording.started_at.isoformat(), retention_days=recording.retention_days,
                             file_deleted=deleted)
                await self._registry.mark_purged([recording.id for recording in batch], now)
            done += batch
            if dry_run or len(batch) < BATCH:
                break
        return PurgeReport(tuple(done), dry_run)

    async def run(self) -> None:
        """Purge now and every interval_s until cancelled; a failing round is logged and retried next time."""
        while True:
            try:
                report = await self.purge()
                self.problem = None
                if report.purged:
                    log.info("recording.purge_round", purged=len(report.purged))
            except Exception as exc:  # noqa: BLE001 - the task must outlive a database outage
                self.problem = f"recording purge failed: {exc.__class__.__name__}"
                log.exception("recording.purge_failed")
            await asyncio.sleep(self.interval_s)
