"""/api/calls and the feed's call events through the real app: real users' tokens (People over SQLite), the
middleware's permission check, each call's scope, masking per role, parameters validated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from callcontrol.adapters.db.people_store import SqlPeopleStore
from callcontrol.adapters.db.schema import upgrade
from callcontrol.adapters.db.store import make_engine
from callcontrol.adapters.http.app import make_app
from callcontrol.core.acd.model import Agent, Queue
from callcontrol.core.domain_events import (
    AgentOffered,
    CallEnded,
    CallStarted,
    ConversationStarted,
    QueueStintProgressed,
)
from callcontrol.core.interactions import QueueStint
from callcontrol.core.permissions import Role
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.live_calls import LiveCalls
from callcontrol.services.people import People
from callcontrol.services.ports import SystemClock
from tests.support.clock import T0, LoopClock, SettableClock
from tests.support.http_api import TOKEN
from tests.support.paths import MIGRATIONS
from tests.support.pbx import FakePbx
from tests.support.stores import fast_passwords

AGENTS = [Agent("ada", "Ada", "PJSIP/ada", skills={"english": 5}, teams=frozenset({"team_a"})),
          Agent("bob", "Bob", "PJSIP/bob", skills={"english": 5}, teams=frozenset({"team_b"}))]
QUEUES = [Queue("support", "Support", required_skills={"english": 1}, teams=frozenset({"team_a"})),
          Queue("billing", "Billing", required_skills={"english": 1}, teams=frozenset({"team_b"}))]
USERS = {  # key: (name, role, teams, agent)
    "admin": ("root", Role.ADMIN, frozenset(), None),
    "sup-a": ("sue", Role.SUPERVISOR, frozenset({"team_a"}), None),
    "sup-b": ("sam", Role.SUPERVISOR, frozenset({"team_b"}), None),
    "ada": ("ada", Role.AGENT, frozenset(), "ada"),
    "bob": ("bob", Role.AGENT, frozenset(), "bob"),
    "report": ("rita", Role.REPORTING, frozenset(), None),
}
# c1: waiting in support (team_a); c2: bob talking in billing (team_b); c3: still in the IVR
C1, C2, C3 = "1764666000.1", "1764666000.2", "1764666000.3"


@dataclass
class World:
    client: TestClient
    live: LiveCalls
    clock: SettableClock
    tokens: dict[str, str]

    async def get(self, path: str, who: str) -> tuple[int, Any]:
        response = await self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[who]}"})
        return response.status, await response.json()

    async def ids(self, who: str, query: str = "") -> list[str]:
        code, body = await self.get(f"/api/calls{query}", who)
        assert code == 200, body
        return [call["call_id"] for call in body["calls"]]


@pytest.fixture(scope="module")
def people_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('live_calls_api') / 'people.sqlite3'}"
    upgrade(MIGRATIONS, url)
    return url


@pytest.fixture(scope="module")
def tokens(people_db: str) -> dict[str, str]:
    async def add_all() -> dict[str, str]:
        engine = make_engine(people_db)
        people = People(SqlPeopleStore(engine), SystemClock(), passwords=fast_passwords())
        try:
            return {key: (await people.add_user(name, role, teams, agent_id=agent))[1]
                    for key, (name, role, teams, agent) in USERS.items()}
        finally:
            await engine.dispose()
    return asyncio.run(add_all())


def start(live: LiveCalls, call_id: str, number: str, seconds: float) -> None:
    live.on_event(CallStarted(call_id, number, "Carol", "5000", "main", T0 + timedelta(seconds=seconds)))


@pytest.fixture
async def world(people_db: str, tokens: dict[str, str]) -> AsyncIterator[World]:
    clock = SettableClock(T0 + timedelta(seconds=30))
    live = LiveCalls(clock)
    start(live, C1, "+15550001", 0)
    live.on_event(QueueStintProgressed(C1, QueueStint("support", T0 + timedelta(seconds=5), "in_progress")))
    start(live, C2, "+15550002", 1)
    live.on_event(AgentOffered(C2, "bob", "billing", T0 + timedelta(seconds=8)))
    live.on_event(ConversationStarted(C2, "bob", T0 + timedelta(seconds=10)))
    start(live, C3, "+15550003", 2)
    desk = AcdDesk((), (), FakePbx(), LoopClock())
    desk.configure(QUEUES, AGENTS)
    runner = asyncio.create_task(desk.run())
    engine = make_engine(people_db)
    app = make_app(lambda: [], acd=desk, api_token=SecretStr(TOKEN), live_calls=live, caller_masked_for=[Role.AGENT],
                   people=People(SqlPeopleStore(engine), SystemClock(), passwords=fast_passwords()))
    async with TestClient(TestServer(app)) as client:
        yield World(client, live, clock, tokens)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await engine.dispose()


async def test_each_role_lists_the_calls_in_its_scope(world: World) -> None:
    assert await world.ids("admin") == [C1, C2, C3]  # oldest first, the IVR call too
    assert await world.ids("sup-a") == [C1]
    assert await world.ids("sup-b") == [C2]
    assert await world.ids("bob") == [C2] and await world.ids("ada") == []
    assert (await world.get("/api/calls", "report"))[0] == 403


async def test_filters_by_state_queue_and_team_and_refuses_bad_values(world: World) -> None:
    assert await world.ids("admin", "?state=talking") == [C2]
    assert await world.ids("admin", "?state=ivr") == [C3]
    assert await world.ids("admin", "?queue=support") == [C1]
    assert await world.ids("admin", "?team=team_b") == [C2]
    assert await world.ids("sup-a", "?queue=billing") == []  # another team's queue: nothing, no error
    for odd in ("?state=parked", "?state=", "?queue=Support", "?queue=a%00b", "?team=a/b", "?team=" + "t" * 65):
        code, body = await world.get(f"/api/calls{odd}", "admin")
        assert code == 400 and body["error"] == "bad_request", odd


async def test_one_call_is_404_out_of_scope_unknown_or_odd_and_its_durations_are_now(world: World) -> None:
    code, call = await world.get(f"/api/calls/{C2}", "sup-b")
    assert code == 200 and call["state"] == "talking" and call["agent"] == "bob" and call["queue"] == "billing"
    assert call["caller_number"] == "+15550002" and call["caller_name"] == "Carol" and not call["caller_masked"]
    assert (call["total_s"], call["state_s"], call["durations_s"]) == (29.0, 20.0, {"ivr": 7.0, "ringing": 2.0,
                                                                                     "talking": 20.0})
    assert call["recording"] == "none" and call["supervisors"] == [] and call["dnis"] == "5000"
    for who, call_id in (("sup-a", C2), ("ada", C2), ("sup-a", C3), ("admin", "1764666000.99"),
                         ("admin", "a%00b"), ("admin", "x" * 65)):
        code, body = await world.get(f"/api/calls/{call_id}", who)
        assert code == 404 and body["error"] == "not_found", (who, call_id)


async def test_the_caller_is_masked_for_the_configured_roles(world: World) -> None:
    code, call = await world.get(f"/api/calls/{C2}", "bob")
    assert code == 200 and call["caller_number"] == "*****0002" and call["caller_name"] is None
    assert call["caller_masked"]
    assert (await world.get(f"/api/calls/{C2}", "admin"))[1]["caller_number"] == "+15550002"


async def test_the_feed_sends_calls_in_scope_and_their_end_only_to_who_was_shown_them(world: World) -> None:
    async def connect(who: str):  # type: ignore[no-untyped-def]
        ws = await world.client.ws_connect("/api/feed", headers={"Authorization": f"Bearer {world.tokens[who]}"})
        return ws, await ws.receive_json(timeout=2)

    (sue, sue_first), (sam, sam_first) = await connect("sup-a"), await connect("sup-b")
    assert [c["call_id"] for c in sue_first["calls"]] == [C1] and [c["call_id"] for c in sam_first["calls"]] == [C2]
    world.live.on_event(AgentOffered(C1, "ada", "support", T0 + timedelta(seconds=31)))  # sue's
    world.live.supervision_changed(C2, ("sam",))  # sam's
    world.live.on_event(CallEnded(C1, T0 + timedelta(seconds=40)))
    world.live.on_event(CallEnded(C3, T0 + timedelta(seconds=40)))  # nobody but the admin was shown it
    world.live.on_event(CallEnded(C2, T0 + timedelta(seconds=41)))
    sue_got = [await sue.receive_json(timeout=2) for _ in range(2)]
    assert [(m["type"], m.get("state"), m.get("agent")) for m in sue_got] == [("call", "ringing", "ada"),
                                                                               ("call_ended", None, None)]
    assert sue_got[1] == {"type": "call_ended", "id": C1}
    sam_got = [await sam.receive_json(timeout=2) for _ in range(2)]
    assert sam_got[0]["type"] == "call" and sam_got[0]["supervisors"] == ["sam"]
    assert sam_got[1] == {"type": "call_ended", "id": C2}
    for ws in (sue, sam):
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive_json(timeout=0.2)  # nothing else: no other call, no end of an unseen one
        await ws.close()


async def test_a_call_that_moves_to_another_team_s_queue_ends_for_one_feed_and_appears_on_the_other(
        world: World) -> None:
    async def connect(who: str):  # type: ignore[no-untyped-def]
        ws = await world.client.ws_connect("/api/feed", headers={"Authorization": f"Bearer {world.tokens[who]}"})
        await ws.receive_json(timeout=2)  # the snapshot
        return ws

    sue, sam = await connect("sup-a"), await connect("sup-b")
    world.live.on_event(QueueStintProgressed(C1, QueueStint("billing", T0 + timedelta(seconds=31), "in_progress")))
    assert await sue.receive_json(timeout=2) == {"type": "call_ended", "id": C1}
    moved = await sam.receive_json(timeout=2)
    assert moved["type"] == "call" and moved["call_id"] == C1 and moved["queue"] == "billing"
    assert await world.ids("sup-a") == [] and sorted(await world.ids("sup-b")) == [C1, C2]
    for ws in (sue, sam):
        await ws.close()
