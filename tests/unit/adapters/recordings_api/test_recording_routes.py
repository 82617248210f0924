"""/api/recordings through the real app: real users' bearer tokens (People over SQLite), the middleware's permission
check, each recording's scope, audio with Range, controls, hold, the audit of every listen and refusal, odd ids."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from callcontrol.adapters.db.people_store import SqlPeopleStore
from callcontrol.adapters.db.schema import upgrade
from callcontrol.adapters.db.store import make_engine
from callcontrol.adapters.http.app import make_app
from callcontrol.adapters.http.recordings import RecordingsApi
from callcontrol.core.acd.model import Agent, Queue
from callcontrol.core.audit import Outcome
from callcontrol.core.permissions import Role
from callcontrol.core.recordings import COMPLETE, Recording
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.people import People
from callcontrol.services.ports import SystemClock
from tests.support.clock import T0, LoopClock, SettableClock
from tests.support.http_api import AUTH, TOKEN
from tests.support.paths import MIGRATIONS
from tests.support.pbx import FakePbx
from tests.support.recording import MemoryAuditTrail, memory_recordings_api, write_wav
from tests.support.stores import fast_passwords

# team_a: ada and the queue support; team_b: bob. Recordings 1 and 3 are ada's, 2 is bob's, all through support;
# 3's queue does not let agents listen.
AGENTS = [Agent("ada", "Ada", "PJSIP/ada", skills={"english": 5}, teams=frozenset({"team_a"})),
          Agent("bob", "Bob", "PJSIP/bob", skills={"english": 5}, teams=frozenset({"team_b"}))]
QUEUES = [Queue("support", "Support", required_skills={"english": 1}, teams=frozenset({"team_a"}))]
USERS = {  # key: (name, role, teams, agent)
    "admin": ("root", Role.ADMIN, frozenset(), None),
    "sup-a": ("sue", Role.SUPERVISOR, frozenset({"team_a"}), None),
    "sup-b": ("sam", Role.SUPERVISOR, frozenset({"team_b"}), None),
    "ada": ("ada", Role.AGENT, frozenset(), "ada"),
    "bob": ("bob", Role.AGENT, frozenset(), "bob"),
    "report": ("rita", Role.REPORTING, frozenset(), None),
}


def recording(number: int, **changes: object) -> Recording:
    values: dict[str, object] = dict(id=f"rec_{number:032x}", call_id=f"1764666000.{number}",
                                     channel="PJSIP/caller-00000001", queue="support", agent="ada", started_at=T0,
                                     retention_days=30, agents_may_listen=True, state=COMPLETE,
                                     ended_at=T0 + timedelta(seconds=2), duration_s=2.0)
    return Recording(**(values | changes))  # type: ignore[arg-type]


@dataclass
class World:
    client: TestClient
    api: RecordingsApi
    audit: MemoryAuditTrail
    tokens: dict[str, str]

    def as_(self, who: str | None) -> dict[str, str]:
        """The Authorization header of a user of USERS (by key); none for None."""
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    async def get(self, path: str, who: str | None,  # type: ignore[no-untyped-def]
                  headers: dict[str, str] | None = None):
        return await self.client.get(path, headers=self.as_(who) | (headers or {}))


@pytest.fixture(scope="module")
def people_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('recordings_api') / 'people.sqlite3'}"
    upgrade(MIGRATIONS, url)
    return url


@pytest.fixture(scope="module")
def tokens(people_db: str) -> dict[str, str]:
    """A bearer token for each user of USERS, in the module's database (made once: argon2 at its cheapest)."""
    async def add_all() -> dict[str, str]:
        engine = make_engine(people_db)
        people = People(SqlPeopleStore(engine), SystemClock(), passwords=fast_passwords())
        try:
            return {key: (await people.add_user(name, role, teams, agent_id=agent))[1]
                    for key, (name, role, teams, agent) in USERS.items()}
        finally:
            await engine.dispose()
    return asyncio.run(add_all())


@pytest.fixture
async def world(tmp_path: Path, people_db: str, tokens: dict[str, str]) -> AsyncIterator[World]:
    audit = MemoryAuditTrail()  # the middleware's refusals and the handlers' entries, in order
    api = memory_recordings_api(tmp_path, SettableClock(T0), audit)
    for rec in (recording(1), recording(2, agent="bob"), recording(3, agents_may_listen=False)):
        await api.registry.save(rec)
        write_wav(api.files.path_of(rec.relative_path), 2.0)
    desk = AcdDesk((), (), FakePbx(), LoopClock())
    desk.configure(QUEUES, AGENTS)
    runner = asyncio.create_task(desk.run())
    engine = make_engine(people_db)
    app = make_app(lambda: [], acd=desk, api_token=SecretStr(TOKEN), audit=audit, recordings=api,
                   people=People(SqlPeopleStore(engine), SystemClock(), passwords=fast_passwords()))
    async with TestClient(TestServer(app)) as client:
        yield World(client, api, audit, tokens)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await engine.dispose()


async def test_lists_are_filtered_by_scope(world: World) -> None:
    async def ids(who: str, query: str = "") -> list[str]:
        response = await world.get(f"/api/recordings{query}", who)
        assert response.status == 200
        return sorted(r["id"][-1] for r in (await response.json())["recordings"])
    assert await ids("admin") == ["1", "2", "3"]
    assert await ids("sup-a") == ["1", "2", "3"]  # the queue support is team_a's: bob's call through it too
    assert await ids("sup-b") == ["2"]  # bob's team: only bob's call
    assert await ids("ada") == ["1", "3"] and await ids("bob") == ["2"]
    assert await ids("admin", "?agent=bob") == ["2"]
    for odd in ("?agent=../x", "?from=yesterday", "?from=2026-12-02T09:00:00", "?from=0001-01-01T00:00:00%2B01:00",
                "?limit=%C2%B2", "?limit=0", "?call=a%00b"):
        response = await world.get(f"/api/recordings{odd}", "admin")
        assert response.status == 400 and (await response.json())["error"] == "bad_request", odd


async def test_audio_is_streamed_with_range_and_each_listen_audited(world: World) -> None:
    rec = recording(1)
    whole = await world.get(f"/api/recordings/{rec.id}/audio", "ada")
    assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
    body = await whole.read()
    assert body[:4] == b"RIFF" and len(body) == 32044
    part = await world.get(f"/api/recordings/{rec.id}/audio?download=1", "sup-a", {"Range": "bytes=0-99"})
    assert part.status == 206 and len(await part.read()) == 100
    assert part.headers["Content-Range"] == "bytes 0-99/32044"
    assert part.headers["Content-Disposition"] == f'attachment; filename="{rec.id}.wav"'
    beyond = await world.get(f"/api/recordings/{rec.id}/audio", "sup-a", {"Range": "bytes=40000-"})
    assert beyond.status == 416 and beyond.headers["Content-Range"] == "bytes */32044"
    assert [(e.actor, e.role, e.action, e.outcome, e.detail.get("range")) for e in world.audit.entries] == [
        ("ada", "agent", "recording.listen", Outcome.ALLOWED, ""),
        ("sue", "supervisor", "recording.download", Outcome.ALLOWED, "bytes=0-99"),
        ("sue", "supervisor", "recording.listen", Outcome.ALLOWED, "bytes=40000-")]
    assert all(e.source == "127.0.0.1" and e.object_id == rec.id for e in world.audit.entries)


async def test_an_agent_user_hears_its_own_recordings_only_where_the_queue_lets_agents_listen(world: World) -> None:
    """ada (a real agent user, bearer token): its own recording 1 is heard; its own 3, in a queue that keeps agents
    from listening, is 404 to hear but shown; bob's 2 is 404 both ways. Each refusal audited once."""
    own, kept_from_agents, bobs = recording(1), recording(3), recording(2)
    assert (await world.get(f"/api/recordings/{own.id}/audio", "ada")).status == 200
    assert (await world.get(f"/api/recordings/{kept_from_agents.id}/audio", "ada")).status == 404
    assert (await world.get(f"/api/recordings/{kept_from_agents.id}", "ada")).status == 200
    assert (await world.get(f"/api/recordings/{bobs.id}/audio", "ada")).status == 404
    assert (await world.get(f"/api/recordings/{bobs.id}", "ada")).status == 404
    assert [(e.action, e.object_id, e.outcome) for e in world.audit.entries] == [
        ("recording.listen", own.id, Outcome.ALLOWED),
        ("recording.listen", kept_from_agents.id, Outcome.DENIED),
        ("recording.listen", bobs.id, Outcome.DENIED),
        ("recording.show", bobs.id, Outcome.DENIED)]
    assert {e.actor for e in world.audit.entries} == {"ada"}


async def test_a_supervisor_of_another_team_gets_404_as_for_an_unknown_id(world: World) -> None:
    """sam (team_b) on ada's recording 1 (team_a's agent and queue): show, audio, the controls and the list by
    its call all answer as for a recording nobody has."""
    rec, nobody = recording(1), recording(99)
    for path in (f"/api/recordings/{rec.id}", f"/api/recordings/{rec.id}/audio"):
        answer = await world.get(path, "sup-b")
        unknown = await world.get(path.replace(rec.id, nobody.id), "sup-b")
        assert answer.status == unknown.status == 404 and await answer.json() == await unknown.json()
    for action in ("pause", "resume", "stop"):
        response = await world.client.post(f"/api/recordings/{rec.id}/{action}", json={},
                                           headers=world.as_("sup-b"))
        assert response.status == 404, action
    listed = await world.get(f"/api/recordings?call={rec.call_id}", "sup-b")
    assert listed.status == 200 and (await listed.json())["recordings"] == []
    denied = [e for e in world.audit.entries if e.object_id == rec.id]
    assert [(e.actor, e.action, e.outcome) for e in denied] == [
        ("sam", "recording.show", Outcome.DENIED), ("sam", "recording.listen", Outcome.DENIED),
        ("sam", "recording.pause", Outcome.DENIED), ("sam", "recording.resume", Outcome.DENIED),
        ("sam", "recording.stop", Outcome.DENIED)]


@pytest.mark.parametrize(("who", "number", "status", "action"), [
    (None, 1, 401, "auth.unauthenticated"),  # no token: the middleware, before anything is looked up
    ("report", 1, 403, "auth.forbidden"),  # reporting: no audio (the middleware: recordings.listen)
    ("sup-b", 1, 404, "recording.listen"),  # another team's supervisor: not even that it exists
    ("bob", 1, 404, "recording.listen"),  # an agent fetching another agent's recording
    ("ada", 3, 404, "recording.listen"),  # its own, but the queue does not let agents listen
])
async def test_refusals_are_refused_and_audited_once(world: World, who, number, status, action) -> None:
    response = await world.get(f"/api/recordings/{recording(number).id}/audio", who)
    assert response.status == status and (await response.json())["error"]
    (entry,) = world.audit.entries
    assert entry.outcome == Outcome.DENIED and entry.action == action
    assert entry.actor == (USERS[who][0] if who else "anonymous") and entry.object_id == recording(number).id


@pytest.mark.parametrize("raw", ["..%2F..%2Fetc%2Fpasswd", "rec_%00", "rec_" + "A" * 32, "rec_1", "%2e%2e",
                                 "rec_" + "0" * 31 + "1.wav", "rec_" + "f" * 32])
async def test_odd_ids_are_404_and_never_a_path(world: World, raw) -> None:
    for suffix in ("", "/audio"):
        response = await world.get(f"/api/recordings/{raw}{suffix}", "admin")
        assert response.status == 404
    # an id that reaches the handler is audited (one that makes no route, like %2e%2e, is aiohttp's 404)
    assert all(e.outcome == Outcome.DENIED for e in world.audit.entries)


async def test_hold_needs_manage_and_controls_need_a_live_recording(world: World) -> None:
    rec = recording(1)
    refused = await world.client.put(f"/api/recordings/{rec.id}/hold", json={"legal_hold": True},
                                     headers=world.as_("sup-a"))
    assert refused.status == 403
    held = await world.client.put(f"/api/recordings/{rec.id}/hold", json={"legal_hold": True},
                                  headers=world.as_("admin"))
    assert held.status == 200 and (await held.json())["legal_hold"] is True
    assert (await world.api.registry.get(rec.id)).legal_hold
    for body in ({"legal_hold": "yes"}, [True]):
        assert (await world.client.put(f"/api/recordings/{rec.id}/hold", json=body, headers=world.as_("admin"))
                ).status == 400
    not_json = await world.client.put(f"/api/recordings/{rec.id}/hold", data=b"\xff\xfe",
                                      headers=world.as_("admin"))
    assert not_json.status == 400
    paused = await world.client.post(f"/api/recordings/{rec.id}/pause", json={"reason": "payment"},
                                     headers=world.as_("ada"))
    assert paused.status == 409 and (await paused.json())["error"] == "not_live"
    assert [e.action for e in world.audit.entries] == ["auth.forbidden", "recording.hold"]


async def test_the_bootstrap_token_acts_as_admin(world: World) -> None:
    assert (await world.client.get("/api/recordings")).status == 401
    listed = await world.client.get("/api/recordings", headers=AUTH)
    assert listed.status == 200 and len((await listed.json())["recordings"]) == 3


async def test_readyz_reports_a_recording_degradation(tmp_path: Path) -> None:
    app = make_app(lambda: [], api_token=SecretStr(TOKEN), degraded_reasons=lambda: ["disk full"],
                   recordings=memory_recordings_api(tmp_path, SettableClock(T0)))
    async with TestClient(TestServer(app)) as client:
        ready = await client.get("/readyz")
        assert ready.status == 200 and await ready.json() == {"status": "degraded", "degraded": ["disk full"]}
