"""The recordings registry (adapters/db/recording_store.py) on SQLite and PostgreSQL; the 0008 migration both ways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from callcontrol.adapters.db.models import RecordingRow, RecordingSpanRow
from callcontrol.adapters.db.recording_store import RecordingFilter, SqlRecordingRegistry
from callcontrol.adapters.db.schema import upgrade
from callcontrol.adapters.db.store import make_engine
from callcontrol.core.recordings import COMPLETE, Recording, finalized, paused, resumed
from tests.support.paths import MIGRATIONS

T0 = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
async def registry(migrated_url: str) -> AsyncIterator[SqlRecordingRegistry]:
    engine = make_engine(migrated_url)
    async with engine.begin() as conn:
        await conn.execute(delete(RecordingSpanRow))
        await conn.execute(delete(RecordingRow))
    yield SqlRecordingRegistry(engine)
    await engine.dispose()


def recording(number: int, **changes: object) -> Recording:
    values: dict[str, object] = dict(id=f"rec_{number:032x}", call_id=f"1764666000.{number}",
                                     channel=f"PJSIP/caller-{number:08x}", queue="support", agent="ada",
                                     started_at=T0 + timedelta(minutes=number), retention_days=30)
    return Recording(**(values | changes))  # type: ignore[arg-type]


async def test_a_recording_and_its_spans_come_back_as_saved(registry: SqlRecordingRegistry) -> None:
    live = paused(recording(1, mixmonitor_id="0x55d0c4a1b2c0"), "secure_input", T0 + timedelta(seconds=5))
    await registry.save(live)
    assert await registry.get(live.id) == live
    done = finalized(resumed(live, T0 + timedelta(seconds=9)), T0 + timedelta(seconds=30), conversation=True,
                     size_bytes=480_044, duration_s=30.0, sha256="ab" * 32)
    await registry.save(done)
    again = await registry.get(live.id)
    assert again == done and again is not None and again.state == COMPLETE
    assert [(s.reason, s.started_at, s.ended_at) for s in again.spans] == [
        ("secure_input", T0 + timedelta(seconds=5), T0 + timedelta(seconds=9))]
    assert await registry.get("rec_" + "f" * 32) is None


async def test_find_by_call_agent_queue_and_time_newest_first(registry: SqlRecordingRegistry) -> None:
    for number, agent, queue in ((1, "ada", "support"), (2, "bob", "support"), (3, "ada", "sales")):
        await registry.save(recording(number, agent=agent, queue=queue))
    ids = lambda found: [r.id[-1] for r in found]  # noqa: E731
    assert ids(await registry.find(RecordingFilter())) == ["3", "2", "1"]
    assert ids(await registry.find(RecordingFilter(agent="ada"))) == ["3", "1"]
    assert ids(await registry.find(RecordingFilter(queue="support"))) == ["2", "1"]
    assert ids(await registry.find(RecordingFilter(call_id="1764666000.2"))) == ["2"]
    assert ids(await registry.find(RecordingFilter(since=T0 + timedelta(minutes=2),
                                                   until=T0 + timedelta(minutes=3)))) == ["2"]
    linked = await registry.of_calls(["1764666000.1", "1764666000.3", "nope"])
    assert sorted(linked) == ["1764666000.1", "1764666000.3"]


async def test_purge_candidates_skip_held_live_and_purged(registry: SqlRecordingRegistry) -> None:
    ended = dict(state=COMPLETE, ended_at=T0 + timedelta(minutes=10))
    await registry.save(recording(1, **ended))
    await registry.save(recording(2, legal_hold=True, **ended))
    await registry.save(recording(3))  # live
    await registry.save(recording(4, purged_at=T0 + timedelta(days=40), **ended))
    await registry.save(recording(5, retention_days=90, **ended))
    found = await registry.purge_candidates(T0 + timedelta(days=31))
    assert [r.id[-1] for r in found] == ["1"]
    assert [r.id[-1] for r in await registry.live()] == ["3"]
    await registry.mark_purged([found[0].id], T0 + timedelta(days=31))
    assert await registry.purge_candidates(T0 + timedelta(days=31)) == []
    assert (await registry.get(found[0].id)).purged_at == T0 + timedelta(days=31)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migration_0008_goes_down_and_up(backend: str, new_database, request: pytest.FixtureRequest) -> None:
    url = new_database(backend, request)
    upgrade(MIGRATIONS, url)
    from alembic import command
    from callcontrol.adapters.db.schema import alembic_config
    config = alembic_config(MIGRATIONS, url)
    command.downgrade(config, "0006_call_interactions")
    command.upgrade(config, "head")
