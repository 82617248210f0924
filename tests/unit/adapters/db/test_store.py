"""The SQL call-record store and its Alembic schema (callcontrol.adapters.db), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy.exc import StatementError

from callcontrol.adapters.db.models import Base, CallRow
from callcontrol.adapters.db.schema import schema_status, upgrade
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.core.calls import CallRecord, CallStatus, EndObservedBy, EndReason
from tests.support.paths import MIGRATIONS

T0 = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)

# ---------------------------------------------------------------- databases


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[SqlCallRecordStore]:
    """The store over the migrated database, emptied before each test."""
    engine = make_engine(migrated_url)
    async with engine.begin() as conn:
        await conn.execute(delete(CallRow))
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
    stint = {"queue": "sales", "entered_at": T0.isoformat(), "outcome": "answered", "agent": "ada", "talk_s": 4.5}
    talked = make_record("t", started_at=T0 + timedelta(hours=1))
    talked.add_queue_stint(stint)
    await store.save([yesterday, ended(talked), make_record("a", started_at=T0)])
    found = await store.started_since(T0)
    assert sorted(r.call_id for r in found) == ["a", "t"]
    assert next(r for r in found if r.call_id == "t").queue_stints == [stint]


async def test_a_stint_in_progress_round_trips_and_is_replaced_by_the_finished_one(
        store: SqlCallRecordStore) -> None:
    """What a call wrote while it went on (its walk, its open stint) is what a restart loads back."""
    record = make_record("p")
    record.note_walk([{"node": "greeting", "result": "played", "at": T0.isoformat()}], {"tier": "gold"})
    record.note_stint_progress({"queue": "sales", "entered_at": T0.isoformat(), "agent": None, "offers": []})
    await store.save([record])
    (loaded,) = await store.load_active()
    assert loaded.open_stint == {"queue": "sales", "entered_at": T0.isoformat(), "agent": None, "offers": [],
                                 "outcome": "in_progress"}
    assert loaded.ivr_path == record.ivr_path and loaded.variables == {"tier": "gold"}
    record.add_queue_stint({"queue": "sales", "outcome": "abandoned"})
    await store.save([record])
    assert (await store.by_call_id("p")).queue_stints == [{"queue": "sales", "outcome": "abandoned"}]
