"""Agent legs' hold spans, wrap-up and transfer-out in call_agent_legs (adapters/db/interaction_rows.py), on SQLite
and PostgreSQL: round trip, a code written on the stored leg after the call, and only changed rows written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from alembic import command as alembic_command
from sqlalchemy import delete, inspect, select, text, update

from callcontrol.adapters.db.models import CallAgentLegRow, CallOfferRow, CallQueueStintRow, CallRow
from callcontrol.adapters.db.schema import alembic_config, upgrade
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.core.calls import CallRecord, EndObservedBy, EndReason
from callcontrol.core.interactions import STINT_IN_PROGRESS, AgentLeg, QueueStint
from callcontrol.core.wrapup import Wrapup
from tests.support.backends import BACKENDS
from tests.support.paths import MIGRATIONS

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


@pytest.mark.parametrize("backend", BACKENDS)
def test_0010_adds_the_leg_and_queue_columns_and_its_downgrade_drops_them_keeping_the_legs(
        backend: str, new_database: Callable, request: pytest.FixtureRequest) -> None:
    url = new_database(backend, request)
    upgrade(MIGRATIONS, url, "0008_recordings")

    async def old_leg() -> None:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO calls (call_id, uniqueid, channel, caller_number, caller_name, "
                                        "dialed_number, started_at, ivr_path, status, updated_at) VALUES ('c', 'c', "
                                        "'PJSIP/t-1', '555', '', '5002', :t, '[]', 'ended', :t)"), {"t": T0})
                await conn.execute(text("INSERT INTO call_queue_stints (call_id, position, queue, entered_at, "
                                        "outcome, recovered) VALUES ('c', 0, 'sales', :t, 'answered', false)"),
                                   {"t": T0})
                await conn.execute(text("INSERT INTO call_agent_legs (call_id, stint_position, agent, endpoint, "
                                        "answered_at, ended_at) VALUES ('c', 0, 'ada', NULL, :t, :t)"), {"t": T0})
        finally:
            await engine.dispose()

    async def columns(table: str) -> set[str]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return {c["name"] for c in await conn.run_sync(lambda sync: inspect(sync).get_columns(table))}
        finally:
            await engine.dispose()

    asyncio.run(old_leg())
    upgrade(MIGRATIONS, url)
    assert {"hold_spans", "wrapup_code", "wrapup_required", "transferred_to"} <= asyncio.run(columns("call_agent_legs"))
    assert "wrapup" in asyncio.run(columns("acd_queues"))

    async def stored_leg() -> AgentLeg:
        engine = make_engine(url)
        try:
            return leg_of(await SqlCallRecordStore(engine).by_call_id("c"))
        finally:
            await engine.dispose()
    assert asyncio.run(stored_leg()) == AgentLeg("ada", None, T0, T0)  # an older leg: no holds, no code required
    alembic_command.downgrade(alembic_config(MIGRATIONS, url), "0008_recordings")
    assert not {"hold_spans", "wrapup_code", "transferred_to"} & asyncio.run(columns("call_agent_legs"))
    assert "wrapup" not in asyncio.run(columns("acd_queues"))
    upgrade(MIGRATIONS, url)
    assert asyncio.run(stored_leg()) == AgentLeg("ada", None, T0, T0)
