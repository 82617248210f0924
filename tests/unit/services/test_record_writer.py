"""The record writer (callcontrol.services.record_writer): ordered, deduplicated, retried, drained writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from callcontrol.core.calls import CallRecord, CallStatus, EndObservedBy, EndReason
from callcontrol.services.record_writer import RecordWriter
from tests.support.stores import BrokenRecordStore, MemoryRecordStore

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


def make_record(call_id: str) -> CallRecord:
    return CallRecord(call_id=call_id, uniqueid=call_id, channel="PJSIP/x", caller_number="1", caller_name="",
                      dialed_number="5000", started_at=T0)


def ended(record: CallRecord) -> CallRecord:
    record.mark_ivr_ended(EndReason.FLOW_HANGUP, [], T0)
    record.mark_channel_gone(T0, EndObservedBy.AMI)
    record.close()
    return record


@pytest.fixture
def store() -> MemoryRecordStore:
    return MemoryRecordStore()


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    """Writer tasks started by a test, cancelled at its end."""
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def start(writer: RecordWriter, running: list[asyncio.Task[None]]) -> None:
    running.append(asyncio.create_task(writer.run()))


async def test_newest_snapshot_of_a_call_in_a_batch_wins(store: MemoryRecordStore, running: list) -> None:
    """Active then ended for one call, queued together, is written once as ended."""
    writer = RecordWriter(store)
    record = make_record("a")
    writer.submit(record)
    writer.submit(ended(record))
    start(writer, running)
    assert await writer.drain(1.0)
    assert store.batches == [[("a", CallStatus.ENDED)]]
    assert writer.written == 1 and writer.backlog == 0


async def test_submit_takes_a_snapshot(store: MemoryRecordStore, running: list) -> None:
    """Changes made to a record after submit() do not leak into the queued write."""
    writer = RecordWriter(store)
    record = make_record("a")
    writer.submit(record)
    record.caller_name = "changed later"
    start(writer, running)
    assert await writer.drain(1.0)
    assert store.rows["a"].caller_name == ""


async def test_order_is_preserved_within_and_across_batches(store: MemoryRecordStore, running: list) -> None:
    """Records are written in the order their calls were first submitted, batch after batch."""
    writer = RecordWriter(store)
    for call_id in ("a", "b", "c"):
        writer.submit(make_record(call_id))
    start(writer, running)
    assert await writer.drain(1.0)
    writer.submit(make_record("d"))
    writer.submit(ended(make_record("b")))
    assert await writer.drain(1.0)
    assert store.batches == [
        [("a", CallStatus.ACTIVE), ("b", CallStatus.ACTIVE), ("c", CallStatus.ACTIVE)],
        [("d", CallStatus.ACTIVE), ("b", CallStatus.ENDED)],
    ]


async def test_store_failing_then_recovering_loses_nothing(running: list) -> None:
    """A store that fails three times then works gets every record, and problem is set then cleared."""
    store = MemoryRecordStore(failures=3)
    writer = RecordWriter(store, retry_min_s=0.001, retry_max_s=0.004)
    store.writer = writer
    for call_id in ("a", "b"):
        writer.submit(make_record(call_id))
    start(writer, running)
    assert await writer.drain(2.0)
    assert store.attempts == 4
    assert store.problems_seen[0] is None
    assert all(p is not None and "ConnectionRefusedError: database is down" in p for p in store.problems_seen[1:])
    assert writer.problem is None
    assert store.batches == [[("a", CallStatus.ACTIVE), ("b", CallStatus.ACTIVE)]]
    assert writer.written == 2


async def test_records_submitted_during_an_outage_are_written_after_it(running: list) -> None:
    """Submissions made while the store is failing are queued and written once it recovers."""
    store = MemoryRecordStore(failures=5)
    writer = RecordWriter(store, retry_min_s=0.002, retry_max_s=0.002)
    writer.submit(make_record("a"))
    start(writer, running)
    while store.attempts < 2:
        await asyncio.sleep(0.001)
    writer.submit(make_record("b"))
    assert await writer.drain(2.0)
    assert set(store.rows) == {"a", "b"}
    assert [call_id for batch in store.batches for call_id, _ in batch] == ["a", "b"]


async def test_drain_times_out_when_the_store_never_succeeds(running: list) -> None:
    """drain() gives up after its timeout, returns False, and the problem stays visible."""
    store = BrokenRecordStore()
    writer = RecordWriter(store, retry_min_s=0.001, retry_max_s=0.005)
    writer.submit(make_record("a"))
    start(writer, running)
    assert await writer.drain(0.05) is False
    assert writer.problem is not None and "database is down" in writer.problem
    assert writer.written == 0 and store.rows == {}


async def test_drain_with_nothing_queued_returns_at_once(store: MemoryRecordStore) -> None:
    """Draining an idle writer succeeds immediately, even if it is not running."""
    assert await RecordWriter(store).drain(0.01) is True


async def test_cancelled_writer_stops_even_while_retrying() -> None:
    """Cancelling run() during the retry back-off ends the task."""
    store = BrokenRecordStore()
    writer = RecordWriter(store, retry_min_s=10, retry_max_s=10)
    writer.submit(make_record("a"))
    task = asyncio.create_task(writer.run())
    while store.attempts < 1:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1.0)


async def test_a_lingering_writer_writes_rows_submitted_one_by_one_in_one_batch(
        store: MemoryRecordStore, running: list[asyncio.Task[None]]) -> None:
    """With linger_s, rows that arrive shortly after the one that woke the writer share its transaction."""
    writer = RecordWriter(store, linger_s=0.05)
    running.append(asyncio.create_task(writer.run()))
    for name in ("a", "b", "c"):
        writer.submit(make_record(name))
        await asyncio.sleep(0.005)
    assert await writer.drain(5)
    assert [len(batch) for batch in store.batches] == [3]
