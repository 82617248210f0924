"""POST /api/calls/{call_id}/transfer through the real app: scope, clear refusals, the audit trail, the move."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from callcontrol.adapters.http.app import make_app
from callcontrol.adapters.http.scope import ACD_SCOPE, AcdScope
from callcontrol.core.acd.model import Agent
from callcontrol.adapters.http.transfers import _in_scope
from callcontrol.core.audit import Outcome
from callcontrol.core.permissions import Principal, Role
from tests.support.http_api import AUTH, TOKEN
from tests.support.queue_desk import caller, request
from tests.support.transfers import transfer_desk


class Trail:
    def __init__(self) -> None:
        self.entries: list = []

    async def record(self, entry) -> None:
        self.entries.append(entry)


@pytest.fixture
async def talking(desk):
    """a1 talking with caller c1 in sales; its channel, to end the conversation."""
    desk.login("a1")
    channel, ref = caller(desk, "c1", {"PJSIP/a1": ["TALKING"]})
    waiting = asyncio.create_task(desk.wait_in_queue(channel, request(), ref))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if desk.waits.waiters.get("c1") and desk.waits.waiters["c1"].answered_by:
            break
    yield channel
    channel.hang_up.set()
    await waiting


async def test_the_route_moves_a_talking_call_and_refuses_the_rest_clearly(desk, talking):
    trail, transfers = Trail(), transfer_desk(desk)
    app = make_app(lambda: [], acd=desk, api_token=SecretStr(TOKEN), audit=trail, transfers=transfers)
    async with TestClient(TestServer(app)) as client:
        async def post(call_id: str, body: object) -> tuple[int, dict]:
            response = await client.post(f"/api/calls/{call_id}/transfer", json=body, headers=AUTH)
            return response.status, await response.json()
        assert (await post("c2", {"to": {"queue": "sales"}}))[0] == 404  # no such conversation
        assert (await post("c1", {"to": "sales"}))[1]["error"] == "bad_request"
        assert (await post("c1", {"to": {"queue": "sales"}, "mode": "attended"}))[0] == 400
        assert await post("c1", {"to": {"number": "0900666"}}) == (422, {
            "error": "number_not_allowed", "message": "that number is not on the transfer allow list"})
        assert (await post("c1", {"to": {"queue": "billing"}}))[1]["error"] == "unknown_queue"
        assert transfers._actions.done == []
        code, body = await post("c1", {"to": {"number": "0155500001"}})
        assert code == 200 and body["to"] == {"number": "0155500001"} and body["from_agent"] == "a1", body
        unauthenticated = await client.post("/api/calls/c1/transfer", json={"to": {"queue": "sales"}})
        assert unauthenticated.status == 401
    assert [channel for channel, _ in transfers._actions.done] == ["PJSIP/a1-00000001"]
    assert [(e.action, e.object_id, e.outcome) for e in trail.entries if e.action == "call.transfer"] == \
        [("call.transfer", "c1", Outcome.DENIED)] * 4 + [("call.transfer", "c1", Outcome.ALLOWED)]


async def test_the_agent_on_the_call_a_supervisor_in_scope_and_the_admin_may_transfer_it(desk):
    class Request:
        app = {ACD_SCOPE: AcdScope(desk.view)}
    desk.define_agent(Agent("a3", "Cy", "PJSIP/a3", teams=frozenset({"red"})))
    assert _in_scope(Request, Principal("root", Role.ADMIN), "sales", "a1")
    assert _in_scope(Request, Principal("ada", Role.AGENT, agent_id="a1"), "sales", "a1")
    assert not _in_scope(Request, Principal("bob", Role.AGENT, agent_id="a2"), "sales", "a1")
    assert _in_scope(Request, Principal("sue", Role.SUPERVISOR, teams=frozenset({"red"})), "sales", "a3")
    assert not _in_scope(Request, Principal("sue", Role.SUPERVISOR, teams=frozenset({"blue"})), "sales", "a3")
    assert _in_scope(Request, Principal("sue", Role.SUPERVISOR, queues=frozenset({"sales"})), "sales", "a3")
