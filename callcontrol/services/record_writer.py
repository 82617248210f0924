"""Writes to the store in order, in batches, retrying while the database is down; drains on stop.

One writer per kind of row: call records (the newest snapshot of a call in a batch wins) and agent state
transitions (every one is kept, in order). With `linger_s`, a writer that wakes for one row waits that long for
more before it writes: a transaction costs far more than a row (benchmarks/stint_writes.py: about six times the
CPU per call for batches of one than of ten), and rows come one by one as calls end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import structlog

from callcontrol.core.acd.agent_states import Transition
from callcontrol.core.calls import CallRecord
from callcontrol.services.ports import AcdStore, CallRecordStore

log = structlog.get_logger(__name__)

Row = TypeVar("Row")


class BatchWriter(Generic[Row]):
    """One ordered queue of rows written by `save` in batches; with `key`, only a batch's last row per key."""

    def __init__(self, save: Callable[[list[Row]], Awaitable[None]], what: str,
                 key: Callable[[Row], Hashable] | None = None, retry_min_s: float = 0.2,
                 retry_max_s: float = 5.0, linger_s: float = 0.0) -> None:
        self._save = save
        self._linger_s = linger_s
        self._what = what
        self._key = key
        self._queue: asyncio.Queue[Row] = asyncio.Queue()
        self._retry_min_s = retry_min_s
        self._retry_max_s = retry_max_s
        self.problem: str | None = None
        self.written = 0

    def submit(self, row: Row) -> None:
        self._queue.put_nowait(row)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def run(self) -> None:
        """Write forever (cancel to stop; call drain() first so nothing queued is lost)."""
        while True:
            batch = [await self._queue.get()]
            if self._linger_s > 0:
                await asyncio.sleep(self._linger_s)
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            rows = list({self._key(row): row for row in batch}.values()) if self._key else batch
            delay = self._retry_min_s
            while True:
                try:
                    await self._save(rows)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database is unreachable or failing: keep the batch, retry
                    self.problem = f"database write failed: {type(exc).__name__}: {str(exc)[:200]}"
                    log.warning(f"{self._what}.write_failed", problem=self.problem, backlog=len(rows),
                                retry_in_s=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max_s)
            self.problem = None
            self.written += len(rows)
            for _ in batch:
                self._queue.task_done()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until everything submitted is written; False if the time ran out."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
            return True
        except TimeoutError:
            log.error(f"{self._what}.drain_timeout", unwritten=self._queue.qsize(), timeout_s=timeout_s)
            return False


class RecordWriter(BatchWriter[CallRecord]):
    """Call records: a snapshot is queued, and a batch keeps the newest snapshot of each call."""

    def __init__(self, store: CallRecordStore, retry_min_s: float = 0.2, retry_max_s: float = 5.0,
                 linger_s: float = 0.0) -> None:
        super().__init__(store.save, "records", key=lambda record: record.call_id, retry_min_s=retry_min_s,
                         retry_max_s=retry_max_s, linger_s=linger_s)

    def submit(self, record: CallRecord) -> None:
        super().submit(record.snapshot())


class TransitionWriter(BatchWriter[Transition]):
    """Agent state transitions, every one, in order (occupancy and pause reports are computed from them)."""

    def __init__(self, store: AcdStore, retry_min_s: float = 0.2, retry_max_s: float = 5.0,
                 linger_s: float = 0.0) -> None:
        super().__init__(store.append_transitions, "agent_transitions", retry_min_s=retry_min_s,
                         retry_max_s=retry_max_s, linger_s=linger_s)
