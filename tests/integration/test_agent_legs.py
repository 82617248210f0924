"""An agent leg over a real call: a SIPp caller in an ACD queue, ada's SIPp phone answers, holds the caller with a
re-INVITE a=sendonly and takes them back (a=sendrecv), hangs up; the wrap-up code is set over real HTTP with real
users' tokens, by the team's supervisor during the call and changed by the agent after it. The record's agent leg
(answer, talk, the hold span, code, who set it) is read from the database the service writes; a code not of the
queue is 400, another team's supervisor gets 404; each attempt is a row of the audit trail.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from callcontrol.core.audit import Outcome
from callcontrol.core.calls import CallRecord, CallStatus
from callcontrol.core.interactions import AgentLeg
from callcontrol.devtools.sipp import SPEAK, place_call, start_holding_agent
from tests.support.polling import eventually
from tests.support.recorded_calls import ADA_PORT, add_user, audit_entries
from tests.support.service_process import Records, ServiceProcess

BOOTSTRAP = "bootstrap-admin-token-0123456789"
ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001, teams: [sales]}
queues:
  - {id: wq, name: Wrapped, ring_timeout_s: 5, max_wait_s: 60, wrap_up_s: 2, teams: [sales],
     wrapup: {required: true, codes: [{id: sale, label: Sale}, {id: no_sale, label: No sale}]}}
"""
FLOW = """\
id: wq
numbers: ["5002"]
allow: {queues: [wq]}
start: q
nodes:
  q: {type: queue, queue: wq, max_wait_s: 30, timeout: bye, no_agents: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
"""
TALK_MS, HOLD_MS, AFTER_MS = 2000, 3000, 1500


@pytest.fixture
async def service(sandbox, ami_secret, sqlite_url, tmp_path: Path, recordings_env):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "wq.yaml").write_text(FLOW)
    (tmp_path / "acd.yaml").write_text(ACD)
    service = ServiceProcess(sqlite_url, ami_secret, extra_env={
        "CALLCONTROL_FLOWS_DIR": str(flows), "CALLCONTROL_API_TOKEN": BOOTSTRAP, **recordings_env[1]})
    await service.start(acd_config=tmp_path / "acd.yaml")
    yield service
    assert await service.stop() == 0, service.log_tail()


async def _put(session: aiohttp.ClientSession, service: ServiceProcess, token: str, call_id: str,
               body: object) -> tuple[int, dict]:
    async with session.put(f"http://127.0.0.1:{service.http_port}/api/calls/{call_id}/wrapup", json=body,
                           headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def _leg(records: Records, call_id: str) -> AgentLeg:
    record = await records.store.by_call_id(call_id)
    assert record is not None and record.queue_stints and record.queue_stints[0].agent_leg is not None, record
    return record.queue_stints[0].agent_leg


async def test_a_real_call_s_agent_leg_has_its_hold_span_and_its_wrapup_code_set_during_and_after_it(
        service: ServiceProcess, records: Records, sqlite_url: str, no_channels_left) -> None:
    tokens = {name: await add_user(service, name, *args) for name, args in (
        ("ada", ("--role", "agent", "--agent", "ada")),
        ("sup.sales", ("--role", "supervisor", "--team", "sales")),
        ("sup.support", ("--role", "supervisor", "--team", "support")))}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{service.http_port}/api/agents/ada/login",
                                headers={"Authorization": f"Bearer {tokens['ada']}"}) as response:
            assert response.status == 200, await response.text()
        phone = await start_holding_agent(ADA_PORT, 500, TALK_MS, HOLD_MS, AFTER_MS, timeout_s=60)
        call = asyncio.ensure_future(asyncio.gather(
            place_call("15550701", number="5002", digits=[(500, f"{SPEAK}:15000")], timeout_s=60), phone))
        try:
            async def talking() -> CallRecord | None:
                return next((r for r in await records.all() if r.status is CallStatus.ACTIVE and r.queue_stints
                             and r.queue_stints[-1].agent_leg is not None), None)
            live = await eventually(talking, 15, 0.1, what="the call's agent leg while they talk")
            # the team's supervisor codes it during the call: the record carries it to the end
            code, answer = await _put(session, service, tokens["sup.sales"], live.call_id, {"code": "no_sale"})
            assert code == 200 and answer["agent_leg"]["ended_at"] is None, answer
            caller, agent = await call
        finally:
            call.cancel()
            phone.cancel()
            await asyncio.gather(call, phone, return_exceptions=True)
        assert caller.returncode == 0 and agent.returncode == 0, (caller.output, agent.output)
        record = (await records.ended(1))[0]
        assert record.call_id == live.call_id
        leg = await _leg(records, record.call_id)

        assert leg.agent == "ada" and leg.endpoint == "PJSIP/agent1001" and leg.answered_at >= record.started_at
        assert leg.ended_at is not None and leg.talk_s is not None
        expected_talk_s = (TALK_MS + HOLD_MS + AFTER_MS) / 1000
        assert expected_talk_s - 0.5 < leg.talk_s < expected_talk_s + 2.0, leg
        assert len(leg.hold_spans) == 1, leg.hold_spans
        start, end = leg.hold_spans[0]
        assert end is not None and leg.answered_at < start < end < leg.ended_at, leg
        assert HOLD_MS / 1000 - 0.5 < (end - start).total_seconds() < HOLD_MS / 1000 + 0.7, leg.hold_spans
        assert (start - leg.answered_at).total_seconds() > TALK_MS / 1000 - 0.5, leg
        assert leg.wrapup is not None and (leg.wrapup.code, leg.wrapup.set_by) == ("no_sale", "sup.sales"), leg
        assert leg.answered_at < leg.wrapup.set_at < leg.ended_at and leg.wrapup_required and not leg.wrapup_missing

        call_id = record.call_id
        code, answer = await _put(session, service, tokens["sup.support"], call_id, {"code": "sale"})
        assert code == 404 and answer["error"] == "not_found", answer  # another team's call: as if none
        code, answer = await _put(session, service, tokens["ada"], call_id, {"code": "won"})
        assert code == 400 and answer["error"] == "bad_code" and answer["allowed"] == ["sale", "no_sale"], answer
        code, answer = await _put(session, service, tokens["ada"], "1764000000.999", {"code": "sale"})
        assert code == 404, answer
        code, answer = await _put(session, service, tokens["ada"], call_id, {"code": "sale", "note": "premium"})
        assert code == 200 and answer["agent_leg"]["wrapup"]["code"] == "sale", answer
        assert answer["agent_leg"]["wrapup_missing"] is False and len(answer["agent_leg"]["hold_spans"]) == 1

    async def coded() -> AgentLeg | None:
        found = await _leg(records, call_id)
        return found if found.wrapup is not None else None
    stored = await eventually(coded, 5, 0.1, what="the code in the database")
    assert stored.wrapup is not None and stored.wrapup.code == "sale" and stored.wrapup.note == "premium"
    assert stored.wrapup.set_by == "ada" and stored.wrapup.set_at >= leg.ended_at and not stored.wrapup_missing
    assert stored.hold_spans == leg.hold_spans and stored.talk_s == leg.talk_s  # the rest of the leg untouched
    holds = [line for line in service.log_lines() if line.get("event") in ("call.hold", "call.unhold")]
    assert [line["event"] for line in holds] == ["call.hold", "call.unhold"], holds
    audited = {(e.actor, e.object_id, e.outcome, e.detail.get("reason"), e.detail.get("code"))
               for e in await audit_entries(sqlite_url) if e.action == "call.wrapup"}
    assert audited == {("sup.sales", call_id, Outcome.ALLOWED, None, "no_sale"),
                       ("sup.support", call_id, Outcome.DENIED, "not found or out of scope", None),
                       ("ada", call_id, Outcome.DENIED, "bad_code", "won"),
                       ("ada", "1764000000.999", Outcome.DENIED, "not found or out of scope", None),
                       ("ada", call_id, Outcome.ALLOWED, None, "sale")}, audited
