"""The live calls view over a real call: a SIPp caller through the sandbox Asterisk 22 into an IVR menu, then an ACD
queue, answered by a real SIPp agent phone, recorded by MixMonitor; GET /api/calls polled over real HTTP as real
users (`callcontrol users add`), and the WebSocket feed of two supervisors read at the same time.

The call is seen in each state as it happens (ivr, waiting, ringing or talking, wrap_up), with its queue, agent and
recording state; another team's supervisor never sees it (empty list, 404, no feed event); it is gone after the
hangup and the wrap-up, and Asterisk has no channel left.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcontrol.devtools.sipp import SPEAK, place_call, start_agent
from tests.support.polling import eventually
from tests.support.recorded_calls import ADA_PORT, add_user
from tests.support.service_process import ServiceProcess

BOOTSTRAP = "bootstrap-admin-token-0123456789"
CALLER = "15550701"
ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001, teams: [sales]}
  - {id: bob, name: Bob, endpoint: PJSIP/agent1002, teams: [support]}
queues:
  - {id: live, name: Live, ring_timeout_s: 8, max_wait_s: 60, wrap_up_s: 3, teams: [sales],
     recording: {mode: always, retention_days: 30}}
"""
FLOW = """\
id: livedesk
numbers: ["5002"]
allow: {queues: [live]}
start: welcome
nodes:
  welcome: {type: menu, prompts: [vm-goodbye], options: {"1": q}, timeout_s: 3, max_attempts: 1, exhausted: q}
  q: {type: queue, queue: live, max_wait_s: 40, timeout: bye, no_agents: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
"""


@pytest.fixture
async def service(sandbox, ami_secret, sqlite_url, tmp_path: Path, recordings_env):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "livedesk.yaml").write_text(FLOW)
    (tmp_path / "acd.yaml").write_text(ACD)
    service = ServiceProcess(sqlite_url, ami_secret, extra_env={
        "CALLCONTROL_FLOWS_DIR": str(flows), "CALLCONTROL_API_TOKEN": BOOTSTRAP,
        "CALLCONTROL_MASK_CALLER_FOR": "agent", **recordings_env[1]})
    await service.start(acd_config=tmp_path / "acd.yaml")
    yield service
    assert await service.stop() == 0, service.log_tail()


class As:
    """Requests to the running service as one user's token."""

    def __init__(self, session: aiohttp.ClientSession, service: ServiceProcess, token: str) -> None:
        self.session, self.base, self.headers = session, f"http://127.0.0.1:{service.http_port}", {
            "Authorization": f"Bearer {token}"}

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.base + path, headers=self.headers) as response:
            return response.status, await response.json()

    async def calls(self, query: str = "") -> list[dict[str, Any]]:
        code, body = await self.get(f"/api/calls{query}")
        assert code == 200, body
        return body["calls"]

    async def post(self, path: str, body: dict[str, Any] | None = None) -> int:
        async with self.session.post(self.base + path, json=body or {}, headers=self.headers) as response:
            return response.status


async def _read_feed(ws: aiohttp.ClientWebSocketResponse, into: list[dict[str, Any]]) -> None:
    async for message in ws:
        if message.type is aiohttp.WSMsgType.TEXT:
            into.append(json.loads(message.data))


async def test_a_real_call_is_seen_live_in_each_state_by_those_in_scope_and_gone_after_hangup(
        service: ServiceProcess, no_channels_left) -> None:
    tokens = {name: await add_user(service, name, *args) for name, args in {
        "boss": ("--role", "admin"), "sup.sales": ("--role", "supervisor", "--team", "sales"),
        "sup.support": ("--role", "supervisor", "--team", "support"), "ada": ("--role", "agent", "--agent", "ada"),
        "rita": ("--role", "reporting")}.items()}
    async with aiohttp.ClientSession() as session:
        as_ = {name: As(session, service, token) for name, token in tokens.items()}
        admin, sales, support, ada = as_["boss"], as_["sup.sales"], as_["sup.support"], as_["ada"]
        assert (await as_["rita"].get("/api/calls"))[0] == 403
        assert (await admin.get("/api/calls?state=parked"))[0] == 400
        assert await admin.calls() == []
        # ada is logged in but paused: the caller waits until she resumes
        assert await ada.post("/api/agents/ada/login") == 200
        assert await ada.post("/api/agents/ada/pause", {"reason": "meeting"}) == 200
        feeds: dict[str, list[dict[str, Any]]] = {"sup.sales": [], "sup.support": []}
        sockets = [await session.ws_connect(f"{admin.base}/api/feed", headers=as_[name].headers)
                   for name in feeds]
        readers = [asyncio.create_task(_read_feed(ws, feeds[name])) for ws, name in zip(sockets, feeds)]
        phone = await start_agent(ADA_PORT, 1500, 4000, timeout_s=60)
        caller = asyncio.create_task(place_call(CALLER, number="5002", digits=[(500, f"{SPEAK}:30000")],
                                                timeout_s=60))
        try:
            async def in_state(state: str, who: As = admin) -> dict[str, Any] | None:
                return next((c for c in await who.calls() if c["state"] == state), None)

            ivr = await eventually(lambda: in_state("ivr"), 15, 0.1, what="the call in the IVR")
            assert ivr["caller_number"] == CALLER and ivr["dnis"] == "5002" and ivr["flow_id"] == "livedesk", ivr
            assert ivr["queue"] is None and ivr["agent"] is None and ivr["recording"] == "none", ivr
            call_id = ivr["call_id"]
            assert await sales.calls() == [] and await support.calls() == []  # in the IVR: the admin's alone

            waiting = await eventually(lambda: in_state("waiting"), 15, 0.1, what="the call waiting")
            assert waiting["call_id"] == call_id and waiting["queue"] == "live" and waiting["agent"] is None
            assert waiting["durations_s"]["ivr"] >= 2.5, waiting  # the menu's 3 s timeout
            assert [c["call_id"] for c in await sales.calls("?state=waiting&queue=live&team=sales")] == [call_id]
            assert await support.calls() == [] and await support.calls("?queue=live") == []
            assert (await support.get(f"/api/calls/{call_id}"))[0] == 404
            assert await ada.calls() == []  # not on it yet

            assert await ada.post("/api/agents/ada/resume") == 200
            ringing = await eventually(lambda: in_state("ringing"), 10, 0.05, what="ada ringing")
            assert ringing["agent"] == "ada" and ringing["queue"] == "live", ringing
            talking = await eventually(lambda: in_state("talking"), 10, 0.1, what="the call talking")
            assert talking["agent"] == "ada" and talking["recording"] == "recording", talking
            code, seen = await sales.get(f"/api/calls/{call_id}")
            assert code == 200 and seen["state"] == "talking" and seen["caller_number"] == CALLER, seen
            own = await ada.calls()
            assert [c["call_id"] for c in own] == [call_id] and own[0]["caller_number"] == "****0701", own
            assert own[0]["caller_masked"] and own[0]["caller_name"] is None
            assert (await support.get(f"/api/calls/{call_id}"))[0] == 404 and await support.calls() == []
            code, printed = await service.cli("calls", "live", "--queue", "live")  # the bootstrap token: admin
            assert code == 0 and call_id in printed and "agent=ada" in printed and CALLER in printed, printed

            wrap_up = await eventually(lambda: in_state("wrap_up"), 15, 0.1, what="ada wrapping the call up")
            assert wrap_up["agent"] == "ada" and wrap_up["durations_s"]["talking"] >= 3.0, wrap_up
            caller_run, agent_run = await asyncio.gather(caller, phone)
            assert caller_run.returncode == 0 and agent_run.returncode == 0, (caller_run.output, agent_run.output)
            await eventually(lambda: _empty(admin), 15, 0.1, what="the call gone")
            assert (await admin.get(f"/api/calls/{call_id}"))[0] == 404
            await asyncio.sleep(0.3)  # the last feed messages are read
        finally:
            for task in (caller, phone):
                task.cancel()
            await asyncio.gather(caller, phone, return_exceptions=True)
            for ws in sockets:
                await ws.close()
            await asyncio.gather(*readers, return_exceptions=True)
    calls_seen = [m for m in feeds["sup.sales"] if m["type"] in ("call", "call_ended")]
    states = [m["state"] for m in calls_seen if m["type"] == "call"]
    assert {"waiting", "ringing", "talking", "wrap_up"} <= set(states), states
    assert "ivr" not in states[:states.index("waiting")], states  # the IVR part was not in the supervisor's scope
    assert calls_seen[-1] == {"type": "call_ended", "id": call_id}, calls_seen[-3:]
    assert any(m["type"] == "call" and m["recording"] == "recording" for m in calls_seen)
    assert not [m for m in feeds["sup.support"] if m["type"] in ("call", "call_ended")], feeds["sup.support"]
    assert feeds["sup.support"][0]["type"] == "snapshot" and feeds["sup.support"][0]["calls"] == []


async def _empty(who: As) -> bool:
    return await who.calls() == []
