"""PUT /api/calls/{call_id}/wrapup through the real app: real users' bearer tokens (People over SQLite), the
middleware's permission check, the leg's scope (404 outside it), the errors (400 bad code with the allowed ones,
409 too late), the code stored on the leg of the call record store (SQLite), every attempt in the audit trail."""

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
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.adapters.http.app import make_app
from callcontrol.core.acd.errors import AcdError
from callcontrol.core.acd.model import Agent, Queue
from callcontrol.core.audit import Outcome
from callcontrol.core.calls import CallRecord, EndObservedBy, EndReason
from callcontrol.core.interactions import AgentLeg, QueueStint
from callcontrol.core.permissions import Role
from callcontrol.core.wrapup import WrapupCode, WrapupPolicy
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.call_log import CallLog
from callcontrol.services.people import People
from callcontrol.services.ports import SystemClock
from callcontrol.services.record_writer import RecordWriter
from callcontrol.services.wrapups import Wrapups
from tests.support.clock import T0, LoopClock, SettableClock
from tests.support.http_api import AUTH, TOKEN
from tests.support.paths import MIGRATIONS
from tests.support.pbx import FakePbx
from tests.support.recording import MemoryAuditTrail
from tests.support.stores import fast_passwords

AGENTS = [Agent("ada", "Ada", "PJSIP/ada", skills={"english": 5}, teams=frozenset({"team_a"})),
          Agent("bob", "Bob", "PJSIP/bob", skills={"english": 5}, teams=frozenset({"team_b"}))]
QUEUES = [Queue("support", "Support", required_skills={"english": 1}, teams=frozenset({"team_a"}),
                wrapup=WrapupPolicy((WrapupCode("solved", "Solved"), WrapupCode("escalated", "Escalated")), True))]
USERS = {  # key: (name, role, teams, agent)
    "sup-a": ("sue", Role.SUPERVISOR, frozenset({"team_a"}), None),
    "sup-b": ("sam", Role.SUPERVISOR, frozenset({"team_b"}), None),
    "ada": ("ada", Role.AGENT, frozenset(), "ada"),
    "bob": ("bob", Role.AGENT, frozenset(), "bob"),
    "report": ("rita", Role.REPORTING, frozenset(), None),
}
CALL = "1764666000.21"
ENDED_AT = T0 + timedelta(seconds=40)
WINDOW_S = 300


@dataclass
class World:
    client: TestClient
    store: SqlCallRecordStore
    clock: SettableClock
    tokens: dict[str, str]
    audit: MemoryAuditTrail

    def audited(self) -> list[tuple[str, str, str, Outcome, str | None]]:
        return [(e.actor, e.action, e.object_id, e.outcome, e.detail.get("reason"))  # type: ignore[misc]
                for e in self.audit.entries]

    async def put(self, who: str | None, body: Any, call_id: str = CALL) -> tuple[int, dict]:
        headers = AUTH if who == "admin" else {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        response = await self.client.put(f"/api/calls/{call_id}/wrapup", json=body, headers=headers)
        return response.status, await response.json()

    async def leg(self) -> AgentLeg:
        record = await self.store.by_call_id(CALL)
        assert record is not None and record.queue_stints[0].agent_leg is not None
        return record.queue_stints[0].agent_leg


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('wrapup_api') / 'calls.sqlite3'}"
    upgrade(MIGRATIONS, url)
    return url


@pytest.fixture(scope="module")
def tokens(db: str) -> dict[str, str]:
    async def add_all() -> dict[str, str]:
        engine = make_engine(db)
        people = People(SqlPeopleStore(engine), SystemClock(), passwords=fast_passwords())
        try:
            return {key: (await people.add_user(name, role, teams, agent_id=agent))[1]
                    for key, (name, role, teams, agent) in USERS.items()}
        finally:
            await engine.dispose()
    return asyncio.run(add_all())


def ended_call() -> CallRecord:
    record = CallRecord(CALL, CALL, "PJSIP/trunk-00000001", "555", "", "5002", T0)
    leg = AgentLeg("ada", "PJSIP/ada", T0 + timedelta(seconds=5), wrapup_required=True).ended(ENDED_AT)
    record.add_queue_stint(QueueStint("support", T0, "answered", left_at=ENDED_AT, waited_s=5.0, agent_leg=leg))
    record.mark_ivr_ended(EndReason.AGENT_ANSWERED, [], ENDED_AT)
    record.mark_channel_gone(ENDED_AT, EndObservedBy.AMI, 16)
    record.close()
    return record


@pytest.fixture
async def world(db: str, tokens: dict[str, str]) -> AsyncIterator[World]:
    engine = make_engine(db)
    store = SqlCallRecordStore(engine)
    await store.save([ended_call()])
    clock = SettableClock(ENDED_AT + timedelta(seconds=60))
    desk = AcdDesk((), (), FakePbx(), LoopClock())
    desk.configure(QUEUES, AGENTS)
    runner = asyncio.create_task(desk.run())

    def policy(queue_id: str) -> WrapupPolicy | None:
        try:
            return desk.view.queue(queue_id).wrapup
        except AcdError:
            return None
    wrapups = Wrapups(CallLog(RecordWriter(store), clock), store, policy, clock, window_s=WINDOW_S)
    audit = MemoryAuditTrail()
    app = make_app(lambda: [], acd=desk, api_token=SecretStr(TOKEN), wrapups=wrapups, audit=audit,
                   people=People(SqlPeopleStore(engine), SystemClock(), passwords=fast_passwords()))
    async with TestClient(TestServer(app)) as client:
        yield World(client, store, clock, tokens, audit)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await engine.dispose()


async def test_the_agent_on_the_call_sets_its_code_and_it_is_stored_on_its_leg(world: World) -> None:
    code, answer = await world.put("ada", {"code": "solved", "note": "reset the router"})
    assert code == 200, answer
    assert answer["call_id"] == CALL and answer["queue"] == "support"
    assert answer["agent_leg"]["wrapup"] == {"code": "solved", "note": "reset the router", "set_by": "ada",
                                             "set_at": world.clock.now().isoformat()}
    leg = await world.leg()
    assert leg.wrapup is not None and (leg.wrapup.code, leg.wrapup.set_by) == ("solved", "ada")
    assert not leg.wrapup_missing and leg.ended_at == ENDED_AT
    assert world.audited() == [("ada", "call.wrapup", CALL, Outcome.ALLOWED, None)]
    assert world.audit.entries[0].detail == {"agent": "ada", "queue": "support", "code": "solved",
                                             "during_call": False}  # never the note


async def test_a_supervisor_in_scope_and_the_admin_may_change_it(world: World) -> None:
    assert (await world.put("sup-a", {"code": "escalated"}))[0] == 200
    assert (await world.leg()).wrapup.set_by == "sue"  # type: ignore[union-attr]
    assert (await world.put("admin", {"code": "solved"}))[0] == 200
    assert (await world.leg()).wrapup.set_by == "api-token"  # type: ignore[union-attr]


@pytest.mark.parametrize("who", ["sup-b", "bob"])
async def test_out_of_scope_is_404_like_an_unknown_call(world: World, who: str) -> None:
    assert await world.put(who, {"code": "solved"}) == (404, {"error": "not_found",
                                                            "message": "no such call with an agent leg"})
    assert (await world.leg()).wrapup is None
    assert world.audited() == [(USERS[who][0], "call.wrapup", CALL, Outcome.DENIED, "not found or out of scope")]


async def test_roles_without_the_permission_and_nobody_are_refused_before_the_call_is_looked_up(world: World) -> None:
    assert (await world.put("report", {"code": "solved"}))[0] == 403
    assert (await world.put(None, {"code": "solved"}))[0] == 401


@pytest.mark.parametrize("call_id", ["1764666000.404", "..%2F..", "a" * 65])
async def test_unknown_or_malformed_calls_are_404(world: World, call_id: str) -> None:
    assert (await world.put("ada", {"code": "solved"}, call_id))[0] == 404


@pytest.mark.parametrize(("body", "words"), [
    ({"code": "won"}, "not one of the queue's wrap-up codes (solved, escalated)"),
    ({}, "not one of the queue's"),
    ({"code": "solved", "note": "x" * 501}, "longer than 500"),
    ({"code": "solved", "extra": 1}, "unknown key 'extra'"),
    (["solved"], "must be a JSON object"),
])
async def test_a_bad_body_is_400_and_changes_nothing(world: World, body: Any, words: str) -> None:
    code, answer = await world.put("ada", body)
    assert code == 400 and words in answer["message"], answer
    if answer["error"] == "bad_code" and "code" in words:
        assert answer["allowed"] == ["solved", "escalated"]
        assert world.audited() == [("ada", "call.wrapup", CALL, Outcome.DENIED, "bad_code")]
    assert (await world.leg()).wrapup is None


async def test_after_the_window_it_is_too_late(world: World) -> None:
    world.clock.current = ENDED_AT + timedelta(seconds=WINDOW_S + 1)
    code, answer = await world.put("ada", {"code": "solved"})
    assert code == 409 and answer["error"] == "too_late", answer
    assert (await world.leg()).wrapup is None
    assert world.audited() == [("ada", "call.wrapup", CALL, Outcome.DENIED, "too_late")]
