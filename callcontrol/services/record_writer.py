"""Writes call records in order through the store port, retrying while the database is down; drains on stop."""

from __future__ import annotations

import asyncio

import structlog

from callcontrol.core.calls import CallRecord
from callcontrol.services.ports import CallRecordStore

log = structlog.get_logger(__name__)


class RecordWriter:
    """One ordered queue of record snapshots; the newest snapshot of a call in a batch wins."""

    def __init__(self, store: CallRecordStore, retry_min_s: float = 0.2, retry_max_s: float = 5.0) -> None:
        self._store = store
        self._queue: asyncio.Queue[CallRecord] = asyncio.Queue()
        self._retry_min_s = retry_min_s
        self._retry_max_s = retry_max_s
        self.problem: str | None = None
        self.written = 0

    def submit(self, record: CallRecord) -> None:
        self._queue.put_nowait(record.snapshot())

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def run(self) -> None:
        """Write forever (cancel to stop; call drain() first so nothing queued is lost)."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            latest = {record.call_id: record for record in batch}
            delay = self._retry_min_s
            while True:
                try:
                    await self._store.save(list(latest.values()))
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database is unreachable or failing: keep the batch, retry
                    self.problem = f"database write failed: {type(exc).__name__}: {str(exc)[:200]}"
                    log.warning("records.write_failed", problem=self.problem, backlog=len(latest), retry_in_s=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max_s)
            self.problem = None
            self.written += len(latest)
            for _ in batch:
                self._queue.task_done()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until everything submitted is written; False if the time ran out."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
            return True
        except TimeoutError:
            log.error("records.drain_timeout", unwritten=self._queue.qsize(), timeout_s=timeout_s)
            return False
