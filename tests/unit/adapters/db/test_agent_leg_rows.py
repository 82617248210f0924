"""Agent legs' hold spans, wrap-up and transfer-out in call_agent_legs (adapters/db/interaction_rows.py), on SQLite
and PostgreSQL: round trip, a code written on the stored leg after the call, and only changed rows written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from sqlalchemy import delete, select, update

from callcontrol.adapters.db.models import CallAgentLegRow, CallOfferRow, CallQueueStintRow, CallRow
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.core.calls import CallRecord, EndObservedBy, EndReason
from callcontrol.core.interactions import STINT_IN_PROGRESS, AgentLeg, QueueStint
from callcontrol.core.wrapup import Wrapup

T0 = datetime(2026, 12, 2, 9, 0, 0, 250000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[SqlCallRecordStore]:
    engine = make_engine(migrated_url)
    async with engine.begin() as conn:
        for model in (CallOfferRow, CallAgentLegRow, CallQueueStintRow, CallRow):
            await conn.execute(delete(model))
    yield SqlCallRecordStore(engine)
    await engine.dispose()


def talking(call_id: str = "1764666000.7") -> CallRecord:
    record = CallRecord(call_id, call_id, "PJSIP/trunk-00000001", "+15551230000", "", "5002", T0)
    record.note_stint_progress(QueueStint("sales", T0, STINT_IN_PROGRESS,
                                          agent_leg=AgentLeg("ada", "PJSIP/agent1001", at(3), wrapup_required=True)))
    return record


def finish(record: CallRecord, end: float = 20.0) -> CallRecord:
    leg = AgentLeg("ada", "PJSIP/agent1001", at(3), wrapup_required=True).ended(at(end))
    record.add_queue_stint(QueueStint("sales", T0, "answered", left_at=at(end), waited_s=3.0, agent_leg=leg))
    record.mark_ivr_ended(EndReason.AGENT_ANSWERED, [], at(end))
    record.mark_channel_gone(at(end), EndObservedBy.AMI, 16, "Normal Clearing")
    record.close()
    return record


def leg_of(record: CallRecord | None) -> AgentLeg:
    assert record is not None and record.queue_stints[0].agent_leg is not None
    return record.queue_stints[0].agent_leg


async def test_hold_spans_wrapup_and_transfer_round_trip(store: SqlCallRecordStore) -> None:
    record = talking()
    record.change_agent_leg(0, lambda leg: leg.held(at(5)).unheld(at(8)).held(at(10)))
    await store.save([record])
    assert leg_of(await store.by_call_id(record.call_id)).hold_spans == ((at(5), at(8)), (at(10), None))
    record.change_agent_leg(0, lambda leg: replace(leg, wrapup=Wrapup("sale", at(11), "ada", "premium ✓"),
                                                   transferred_to="queue:billing"))
    finish(record)
    await store.save([record])
    leg = leg_of(await store.by_call_id(record.call_id))
    assert leg == leg_of(record)
    assert leg.hold_spans == ((at(5), at(8)), (at(10), at(20))) and leg.hold_s == 13.0
    assert leg.wrapup == Wrapup("sale", at(11), "ada", "premium ✓") and leg.transferred_to == "queue:billing"
    assert leg.wrapup_required and not leg.wrapup_missing


async def test_a_code_set_on_the_stored_leg_is_not_cleared_by_a_snapshot_written_after_it(
        store: SqlCallRecordStore) -> None:
    """The ended call's snapshot may still wait in the writer when the agent sets the code straight on the row."""
    record = talking()
    await store.save([record])
    closing = finish(record).snapshot()  # submitted, not yet written
    assert await store.set_wrapup(record.call_id, 0, Wrapup("no_sale", at(30), "sue", None))
    await store.save([closing])
    leg = leg_of(await store.by_call_id(record.call_id))
    assert leg.wrapup == Wrapup("no_sale", at(30), "sue") and leg.ended_at == at(20) and not leg.wrapup_missing
    assert await store.set_wrapup(record.call_id, 0, Wrapup("sale", at(40), "ada", "changed my mind"))
    assert leg_of(await store.by_call_id(record.call_id)).wrapup == Wrapup("sale", at(40), "ada", "changed my mind")


async def test_a_code_for_a_leg_with_no_row_is_not_written(store: SqlCallRecordStore) -> None:
    assert not await store.set_wrapup("1764666000.404", 0, Wrapup("sale", at(1), "ada"))
    record = talking()
    await store.save([record])
    assert not await store.set_wrapup(record.call_id, 1, Wrapup("sale", at(1), "ada"))


async def test_a_hold_writes_the_leg_row_alone(store: SqlCallRecordStore) -> None:
    record = talking()
    await store.save([record])
    seen: list[str] = []

    def before_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()[:3]))
    sqlalchemy.event.listen(store._engine.sync_engine, "before_cursor_execute", before_execute)
    record.change_agent_leg(0, lambda leg: leg.held(at(5)))
    await store.save([record])
    assert [s for s in seen if not s.startswith("INSERT INTO calls")] == ["INSERT INTO call_agent_legs"]


async def test_unreadable_hold_spans_are_skipped_not_fatal(store: SqlCallRecordStore) -> None:
    record = talking()
    await store.save([record])
    async with store._engine.begin() as conn:
        await conn.execute(update(CallAgentLegRow).values(hold_spans=[
            {"start": at(5).isoformat(), "end": at(6).isoformat()}, {"start": "yesterday"}, "junk", {"end": None}]))
        assert (await conn.execute(select(CallAgentLegRow.wrapup_required))).scalar_one() is True
    assert leg_of(await store.by_call_id(record.call_id)).hold_spans == ((at(5), at(6)),)
