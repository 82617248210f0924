"""The SQL call-record store and its Alembic schema (callcontrol.adapters.db), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
import sqlalchemy
from sqlalchemy import JSON, String, delete, func, inspect, select, text
from sqlalchemy import column as sa_column
from sqlalchemy import null as sa_null
from sqlalchemy import select as sa_select
from sqlalchemy import table as sa_table
from sqlalchemy.exc import StatementError

from callcontrol.adapters.db.models import (
    Base,
    CallAgentLegRow,
    CallOfferRow,
    CallQueueStintRow,
    CallRow,
    UtcDateTime,
)
from callcontrol.adapters.db.schema import alembic_config, schema_status, upgrade
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.core.calls import CallRecord, CallStatus, EndObservedBy, EndReason
from callcontrol.core.interactions import STINT_IN_PROGRESS, AgentLeg, OfferAttempt, QueueStint
from tests.support.backends import BACKENDS
from tests.support.paths import MIGRATIONS

T0 = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)

# ---------------------------------------------------------------- databases


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[SqlCallRecordStore]:
    """The store over the migrated database, emptied before each test."""
    engine = make_engine(migrated_url)
    async with engine.begin() as conn:
        for model in (CallOfferRow, CallAgentLegRow, CallQueueStintRow, CallRow):
            await conn.execute(delete(model))
    yield SqlCallRecordStore(engine)
    await engine.dispose()


async def row_count(store: SqlCallRecordStore) -> int:
    async with store._engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(CallRow))).scalar_one()


def make_record(call_id: str = "1767603600.1", **changes: object) -> CallRecord:
    values: dict[str, object] = dict(
        call_id=call_id, uniqueid=call_id, channel="PJSIP/caller-00000001", caller_number="+15551230000",
        caller_name="Ada Lovelace", dialed_number="5000", started_at=T0, flow_id="main", flow_version="abc123def456",
    )
    values.update(changes)
    return CallRecord(**values)  # type: ignore[arg-type]


def ended(record: CallRecord, seconds: float = 12.5) -> CallRecord:
    end = record.started_at + timedelta(seconds=seconds)
    path = [{"node": "greeting", "result": "played", "at": T0.isoformat()},
            {"node": "main_menu", "result": "digit", "at": T0.isoformat(), "digit": "1"}]
    record.mark_answered(record.started_at + timedelta(seconds=0.5))
    record.mark_ivr_ended(EndReason.FLOW_HANGUP, path, end)
    record.mark_channel_gone(end, EndObservedBy.AMI, 16, "Normal Clearing")
    record.close()
    return record


# ---------------------------------------------------------------- schema


async def test_schema_is_current_after_upgrade_and_not_before(empty_url: str) -> None:
    """schema_status reports an empty database as out of date and a migrated one as current."""
    engine = make_engine(empty_url)
    try:
        before = await schema_status(engine, MIGRATIONS)
        assert before.current is None and not before.is_current
        assert "empty database" in before.describe() and "callcontrol db upgrade" in before.describe()
        await asyncio.to_thread(upgrade, MIGRATIONS, empty_url)
        after = await schema_status(engine, MIGRATIONS)
        assert after.is_current and after.current == after.head
        assert after.describe() == f"schema at {after.head}"
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_harmless(migrated_url: str) -> None:
    """Running the upgrade on a current database changes nothing and does not fail: the schema is still current,
    as serve checks at start."""
    await asyncio.to_thread(upgrade, MIGRATIONS, migrated_url)
    engine = make_engine(migrated_url)
    try:
        status = await schema_status(engine, MIGRATIONS)
    finally:
        await engine.dispose()
    assert status.is_current, status.describe()


def test_upgrade_without_migrations_dir_fails_clearly(tmp_path: Path) -> None:
    """Pointing upgrade at a directory without env.py names the setting to fix."""
    with pytest.raises(FileNotFoundError, match="migrations_dir"):
        upgrade(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")


async def test_migration_matches_the_models(migrated_url: str) -> None:
    """Alembic autogenerate finds no difference between the migrated schema and the SQLAlchemy models."""
    engine = make_engine(migrated_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                              Base.metadata))
            names = await conn.run_sync(lambda sync: sorted(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
    assert diff == []
    assert "calls" in names


# ---------------------------------------------------------------- store


async def test_saving_the_same_call_twice_keeps_one_row(store: SqlCallRecordStore) -> None:
    """A replayed save of an unchanged record does not duplicate the row."""
    record = make_record()
    await store.save([record])
    await store.save([record])
    await store.save([record, record])
    assert await row_count(store) == 1


async def test_active_then_ended_updates_the_one_row(store: SqlCallRecordStore) -> None:
    """Saving the ended record after the active one leaves one row holding the ended values."""
    record = make_record()
    await store.save([record.snapshot()])
    await store.save([ended(record)])
    assert await row_count(store) == 1
    loaded = await store.by_call_id(record.call_id)
    assert loaded is not None
    assert loaded.status is CallStatus.ENDED
    assert loaded.end_reason is EndReason.FLOW_HANGUP
    assert loaded.end_observed_by is EndObservedBy.AMI
    assert (loaded.hangup_cause, loaded.hangup_cause_text) == (16, "Normal Clearing")
    assert loaded.ended_at == T0 + timedelta(seconds=12.5)
    assert loaded.answered_at == T0 + timedelta(seconds=0.5)
    assert loaded.ivr_path == record.ivr_path


async def test_loaded_record_equals_the_saved_one(store: SqlCallRecordStore) -> None:
    """Every stored field comes back as it was saved."""
    record = ended(make_record())
    await store.save([record])
    loaded = await store.by_call_id(record.call_id)
    assert loaded is not None
    record.channel_gone_at = None  # not stored: the end time is
    assert loaded == record


async def test_load_active_returns_only_unfinished_calls(store: SqlCallRecordStore) -> None:
    """load_active gives the records still active, not the ended ones."""
    await store.save([make_record("a"), ended(make_record("b")), make_record("c")])
    active = await store.load_active()
    assert sorted(r.call_id for r in active) == ["a", "c"]
    assert all(r.status is CallStatus.ACTIVE for r in active)


async def test_recent_is_newest_first_and_limited(store: SqlCallRecordStore) -> None:
    """recent() lists calls by insertion, newest first, up to the limit; updates do not reorder."""
    for call_id in ("a", "b", "c", "d"):
        await store.save([make_record(call_id)])
    await store.save([ended(make_record("a"))])
    assert [r.call_id for r in await store.recent(3)] == ["d", "c", "b"]
    assert [r.call_id for r in await store.recent()] == ["d", "c", "b", "a"]


async def test_by_call_id_of_an_unknown_call_is_none(store: SqlCallRecordStore) -> None:
    """Looking up a call that was never saved gives None."""
    assert await store.by_call_id("nope") is None


async def test_save_of_nothing_is_a_no_op(store: SqlCallRecordStore) -> None:
    """An empty batch writes nothing."""
    await store.save([])
    assert await row_count(store) == 0


async def test_timestamps_round_trip_as_aware_utc(store: SqlCallRecordStore) -> None:
    """A time given in any offset comes back as the same instant in UTC, microseconds kept."""
    paris = timezone(timedelta(hours=2))
    started = datetime(2026, 6, 1, 11, 30, 15, 654321, tzinfo=paris)
    await store.save([make_record("tz", started_at=started)])
    loaded = await store.by_call_id("tz")
    assert loaded is not None
    assert loaded.started_at == started
    assert loaded.started_at.tzinfo is UTC
    assert loaded.started_at.replace(tzinfo=None) == datetime(2026, 6, 1, 9, 30, 15, 654321)


async def test_naive_datetimes_are_refused(store: SqlCallRecordStore) -> None:
    """A naive datetime cannot be written (its zone would be a guess)."""
    with pytest.raises(StatementError, match="naive datetime"):
        await store.save([make_record("naive", started_at=datetime(2026, 1, 1, 9, 0))])
    assert await row_count(store) == 0


HOSTILE = [
    "Robert'); DROP TABLE calls;--",
    "\"; DELETE FROM calls WHERE '1'='1",
    "x' OR 1=1 --",
    "%s %(name)s $1 ? :name",
    "Zoë \\ 'quoted' \"double\" ; \u00a0\u2603",
]


async def test_caller_controlled_strings_are_stored_verbatim(store: SqlCallRecordStore) -> None:
    """Quotes, semicolons and SQL in caller-supplied fields are bound parameters, stored and read back as-is."""
    for index, hostile in enumerate(HOSTILE):
        path = [{"node": "main_menu", "result": "invalid", "at": T0.isoformat(), "digit": hostile}]
        record = make_record(f"h{index}", caller_name=hostile, caller_number=hostile[:80], channel=hostile,
                             dialed_number=hostile[:80], ivr_path=path)
        await store.save([record])
        loaded = await store.by_call_id(f"h{index}")
        assert loaded is not None
        assert (loaded.caller_name, loaded.caller_number, loaded.channel, loaded.dialed_number) == (
            hostile, hostile, hostile, hostile)
        assert loaded.ivr_path == path
    assert await row_count(store) == len(HOSTILE)
    async with store._engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM calls"))).scalar_one() == len(HOSTILE)


async def test_overlong_caller_fields_are_truncated_not_rejected(store: SqlCallRecordStore) -> None:
    """Caller name and number longer than their columns are cut to fit instead of failing the write."""
    await store.save([make_record("long", caller_name="n" * 200, caller_number="9" * 200, channel="c" * 300)])
    loaded = await store.by_call_id("long")
    assert loaded is not None
    assert (len(loaded.caller_name), len(loaded.caller_number), len(loaded.channel)) == (80, 80, 128)


async def test_a_late_active_snapshot_never_reopens_an_ended_row(store: SqlCallRecordStore) -> None:
    """Saving the active snapshot again after the ended one (a replay) leaves the row ended."""
    record = make_record()
    active = record.snapshot()
    await store.save([ended(record)])
    await store.save([active])
    loaded = await store.by_call_id(record.call_id)
    assert loaded is not None and loaded.status is CallStatus.ENDED


async def test_one_save_with_two_versions_of_a_call_keeps_the_last(store: SqlCallRecordStore) -> None:
    """A batch holding the active and the ended version of one call is one row with the ended values."""
    record = make_record()
    await store.save([record.snapshot(), ended(record)])
    loaded = await store.by_call_id(record.call_id)
    assert loaded is not None and loaded.status is CallStatus.ENDED and await row_count(store) == 1


async def test_started_since_gives_todays_records_ended_or_not(store: SqlCallRecordStore) -> None:
    """started_since(day start): the calls started then or later, active and ended, with their stints."""
    yesterday = make_record("y", started_at=T0 - timedelta(days=1))
    stint = answered_stint()
    talked = make_record("t", started_at=T0 + timedelta(hours=1))
    talked.add_queue_stint(stint)
    await store.save([yesterday, ended(talked), make_record("a", started_at=T0)])
    found = await store.started_since(T0)
    assert sorted(r.call_id for r in found) == ["a", "t"]
    assert next(r for r in found if r.call_id == "t").queue_stints == [stint]


def answered_stint(queue: str = "sales", at: datetime = T0) -> QueueStint:
    offers = (OfferAttempt("bob", at + timedelta(seconds=1), "noanswer"),
              OfferAttempt("ada", at + timedelta(seconds=16), "answered"))
    leg = AgentLeg("ada", "PJSIP/agent1001", at + timedelta(seconds=18.25), at + timedelta(seconds=22.75))
    return QueueStint(queue, at, "answered", left_at=at + timedelta(seconds=22.75), waited_s=18.25,
                      estimated_wait_s=30.0, offers=offers, agent_leg=leg)


async def test_a_stint_in_progress_round_trips_and_is_replaced_by_the_finished_one(
        store: SqlCallRecordStore) -> None:
    """What a call wrote while it went on (its walk, its open stint) is what a restart loads back."""
    record = make_record("p")
    record.note_walk([{"node": "greeting", "result": "played", "at": T0.isoformat()}], {"tier": "gold"})
    record.note_stint_progress(QueueStint("sales", T0, STINT_IN_PROGRESS))
    await store.save([record])
    (loaded,) = await store.load_active()
    assert loaded.open_stint == QueueStint("sales", T0, STINT_IN_PROGRESS)
    assert loaded.ivr_path == record.ivr_path and loaded.variables == {"tier": "gold"}
    record.add_queue_stint(QueueStint("sales", T0, "abandoned", left_at=T0 + timedelta(seconds=3), waited_s=3.0))
    await store.save([record])
    assert (await store.by_call_id("p")).queue_stints == [
        QueueStint("sales", T0, "abandoned", left_at=T0 + timedelta(seconds=3), waited_s=3.0)]


async def test_stints_offers_and_legs_round_trip_in_order_in_their_own_tables(store: SqlCallRecordStore) -> None:
    """Each stint, offer and agent leg is a row keyed by the call's call_id, read back in the call's order."""
    record = make_record("s")
    first = QueueStint("support", T0, "overflowed", left_at=T0 + timedelta(seconds=5), waited_s=5.0,
                       offers=(OfferAttempt("cy", T0 + timedelta(seconds=1), "busy"),))
    talking = replace(answered_stint(at=T0 + timedelta(seconds=5)), outcome=STINT_IN_PROGRESS, left_at=None,
                      agent_leg=AgentLeg("ada", "PJSIP/agent1001", T0 + timedelta(seconds=9)), recovered=True)
    record.add_queue_stint(first)
    record.note_stint_progress(talking)
    await store.save([record, make_record("other")])
    loaded = await store.by_call_id("s")
    assert loaded is not None and loaded.queue_stints == [first, talking]
    assert loaded.open_stint is not None and loaded.open_stint.answered_at == T0 + timedelta(seconds=9)
    async with store._engine.connect() as conn:
        counts = [(await conn.execute(select(func.count()).select_from(model).where(model.call_id == "s")))
                  .scalar_one() for model in (CallQueueStintRow, CallOfferRow, CallAgentLegRow)]
    assert counts == [2, 3, 1]
    record.end_open_stint(T0 + timedelta(seconds=30))
    await store.save([record])
    assert (await store.by_call_id("s")).queue_stints[-1].talk_s == 21.0


async def test_a_late_active_snapshot_leaves_the_stints_of_the_ended_row(store: SqlCallRecordStore) -> None:
    """A replayed active snapshot (stint in progress) changes neither the ended row nor its finished stint."""
    record = make_record()
    record.note_stint_progress(QueueStint("sales", T0, STINT_IN_PROGRESS))
    active = record.snapshot()
    record.add_queue_stint(answered_stint())
    await store.save([ended(record)])
    await store.save([active])
    loaded = await store.by_call_id(record.call_id)
    assert loaded is not None and loaded.status is CallStatus.ENDED and loaded.queue_stints == [answered_stint()]


@pytest.mark.parametrize("migrated_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_deleting_a_call_deletes_its_stints(store: SqlCallRecordStore) -> None:
    """The interaction rows belong to their call: ON DELETE CASCADE (PostgreSQL enforces foreign keys; SQLite,
    with PRAGMA foreign_keys off as SQLAlchemy leaves it, does not)."""
    record = make_record("d")
    record.add_queue_stint(answered_stint())
    await store.save([record])
    async with store._engine.begin() as conn:
        await conn.execute(delete(CallRow).where(CallRow.call_id == "d"))
        left = [(await conn.execute(select(func.count()).select_from(model))).scalar_one()
                for model in (CallQueueStintRow, CallOfferRow, CallAgentLegRow)]
    assert left == [0, 0, 0]


# ---------------------------------------------------------------- 0006: stints out of the JSON column

BEFORE_0006 = "0005_acd_callbacks"


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


# calls.queue_stints as the code before 0006 wrote them: a finished stint (_end_stint), one finished from its
# progress after a restart (answered_at, endpoint, recovered), one in progress, and an older one missing keys
OLD_STINTS = {
    "finished": [
        {"queue": "support", "entered_at": _at(0), "left_at": _at(4), "outcome": "overflowed", "waited_s": 4.0,
         "agent": None, "talk_s": None, "offers": [{"agent": "cy", "at": _at(1), "result": "busy"}],
         "estimated_wait_s": None},
        {"queue": "sales", "entered_at": _at(4), "left_at": _at(40), "outcome": "answered", "waited_s": 12.5,
         "agent": "ada", "talk_s": 23.5, "estimated_wait_s": 20.0,
         "offers": [{"agent": "bob", "at": _at(5), "result": "noanswer"},
                    {"agent": "ada", "at": _at(15), "result": "answered"}]}],
    "recovered": [
        {"queue": "sales", "entered_at": _at(0), "agent": "ada", "estimated_wait_s": 5.0,
         "offers": [{"agent": "ada", "at": _at(1), "result": "answered"}], "outcome": "answered",
         "answered_at": _at(3), "endpoint": "PJSIP/agent1001", "waited_s": 3.0, "talk_s": 7.25, "left_at": _at(10.25),
         "recovered": True}],
    "waiting": [
        {"queue": "sales", "entered_at": _at(0), "agent": None, "estimated_wait_s": None, "outcome": "in_progress",
         "offers": [{"agent": "ada", "at": _at(2), "result": "ringing"}]}],
    "older": [{"queue": "sales", "outcome": "abandoned"}, {"agent": "bob", "waited_s": 2, "talk_s": 3}],
    "none": None,
}


def _call_rows() -> list[dict]:
    return [{"call_id": call_id, "uniqueid": call_id, "channel": "PJSIP/trunk-1", "caller_number": "1",
             "caller_name": "x", "dialed_number": "5002", "started_at": T0, "ivr_path": [], "variables": {},
             "queue_stints": stints if stints is not None else sa_null(), "status": "ended", "updated_at": T0}
            for call_id, stints in OLD_STINTS.items()]


async def _insert_old_calls(url: str) -> None:
    calls = sa_table("calls", *(sa_column(name, kind) for name, kind in (
        ("call_id", String), ("uniqueid", String), ("channel", String), ("caller_number", String),
        ("caller_name", String), ("dialed_number", String), ("started_at", UtcDateTime), ("ivr_path", JSON),
        ("variables", JSON), ("queue_stints", JSON), ("status", String), ("updated_at", UtcDateTime))))
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(calls.insert(), _call_rows())
    finally:
        await engine.dispose()


async def _old_stints(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa_select(sa_column("call_id", String), sa_column("queue_stints", JSON))
                                      .select_from(sa_table("calls")))
            return {row.call_id: row.queue_stints for row in rows}
    finally:
        await engine.dispose()


async def _loaded(url: str) -> dict[str, list[QueueStint]]:
    engine = make_engine(url)
    try:
        return {record.call_id: record.queue_stints for record in await SqlCallRecordStore(engine).recent(100)}
    finally:
        await engine.dispose()


def _seconds_after(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize("backend", BACKENDS)
def test_0006_moves_the_json_stints_into_their_tables_and_back(
        backend: str, new_database: Callable, request: pytest.FixtureRequest) -> None:
    """Rows written before 0006 keep every stint, offer and conversation after the upgrade; the downgrade writes
    them back as JSON the code before reads, and the upgrade again gives the same stints."""
    url = new_database(backend, request)
    upgrade(MIGRATIONS, url, BEFORE_0006)
    asyncio.run(_insert_old_calls(url))
    upgrade(MIGRATIONS, url)
    loaded = asyncio.run(_loaded(url))
    t = _seconds_after
    assert loaded["finished"] == [
        QueueStint("support", t(0), "overflowed", left_at=t(4), waited_s=4.0,
                   offers=(OfferAttempt("cy", t(1), "busy"),)),
        QueueStint("sales", t(4), "answered", left_at=t(40), waited_s=12.5, estimated_wait_s=20.0,
                   offers=(OfferAttempt("bob", t(5), "noanswer"), OfferAttempt("ada", t(15), "answered")),
                   agent_leg=AgentLeg("ada", None, t(16.5), t(40)))]
    assert loaded["recovered"] == [
        QueueStint("sales", t(0), "answered", left_at=t(10.25), waited_s=3.0, estimated_wait_s=5.0,
                   offers=(OfferAttempt("ada", t(1), "answered"),), recovered=True,
                   agent_leg=AgentLeg("ada", "PJSIP/agent1001", t(3), t(10.25)))]
    assert loaded["waiting"] == [QueueStint("sales", t(0), STINT_IN_PROGRESS,
                                            offers=(OfferAttempt("ada", t(2), "ringing"),))]
    assert loaded["older"] == [
        QueueStint("sales", t(0), "abandoned"),
        QueueStint("", t(0), "unknown", waited_s=2.0, agent_leg=AgentLeg("bob", None, t(2), t(5)))]
    assert loaded["none"] == []
    assert loaded["finished"][1].talk_s == 23.5

    alembic_command.downgrade(alembic_config(MIGRATIONS, url), BEFORE_0006)
    back = asyncio.run(_old_stints(url))
    assert back["finished"] == [stint.as_json() for stint in loaded["finished"]]
    for old, written in zip(OLD_STINTS["finished"], back["finished"]):  # plus when the agent answered
        assert {key: written[key] for key in old} == old
    assert back["recovered"] == OLD_STINTS["recovered"] and back["none"] is None
    upgrade(MIGRATIONS, url)
    assert asyncio.run(_loaded(url)) == loaded


def statements_of(store: SqlCallRecordStore) -> list[str]:
    """The SQL statements the store's engine runs from now on (their first word and table)."""
    seen: list[str] = []

    def before_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()[:3]))
    sqlalchemy.event.listen(store._engine.sync_engine, "before_cursor_execute", before_execute)
    return seen


async def test_a_flush_writes_only_the_stint_rows_that_changed(store: SqlCallRecordStore) -> None:
    """An IVR-only call, and a call whose walk moves on while its stint stays, are one upsert each; a stint that
    moves on upserts the rows that changed and deletes none; a new store (a restart) that does not know what is
    there clears the call's rows first."""
    ivr_only, queued = make_record("ivr"), make_record("acd")
    queued.note_stint_progress(QueueStint("sales", T0, STINT_IN_PROGRESS,
                                          offers=(OfferAttempt("bob", T0 + timedelta(seconds=1), "ringing"),)))
    await store.save([ivr_only, queued])
    seen = statements_of(store)
    await store.save([ivr_only, queued])  # nothing changed in the stints
    assert [s for s in seen if not s.startswith("INSERT INTO calls")] == []
    queued.add_queue_stint(answered_stint())  # the stint ends: its row, both offers (one new), the leg (new)
    await store.save([queued])
    assert sorted(s for s in seen if not s.startswith("INSERT INTO calls")) == [
        "INSERT INTO call_agent_legs", "INSERT INTO call_offers", "INSERT INTO call_queue_stints"]
    assert (await store.by_call_id("acd")).queue_stints == [answered_stint()]
    restarted = SqlCallRecordStore(store._engine)
    queued.add_queue_stint(answered_stint("support", T0 + timedelta(minutes=1)))
    seen.clear()
    await restarted.save([queued])
    assert any(s.startswith("DELETE FROM call_offers") for s in seen)
    assert [s.queue for s in (await restarted.by_call_id("acd")).queue_stints] == ["sales", "support"]
    assert (await restarted.by_call_id("ivr")).queue_stints == []


async def test_rows_a_record_no_longer_has_are_deleted(store: SqlCallRecordStore) -> None:
    """A leg or an offer that a newer snapshot of an open stint no longer holds is gone from the tables too."""
    record = make_record("shrinks")
    full = replace(answered_stint(), outcome=STINT_IN_PROGRESS, left_at=None)
    record.note_stint_progress(full)
    await store.save([record])
    record.note_stint_progress(replace(full, offers=full.offers[:1], agent_leg=None))
    await store.save([record])
    assert (await store.by_call_id("shrinks")).queue_stints == [replace(full, offers=full.offers[:1], agent_leg=None)]
