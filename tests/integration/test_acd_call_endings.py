"""How calls that reached an agent end, on real calls: who hangs up first, nodes without an answered exit, busy phones.

SIPp callers and agent phones (agent100N on 127.0.0.1:510N), the sandbox Asterisk 22, the service's ACD.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from callcontrol.core.calls import EndReason
from callcontrol.devtools.sipp import place_call, start_agent, start_busy_phone
from tests.integration.harness import AmiObserver, labels
from tests.support.service_process import Records, ServiceProcess

TOKEN = "test-token-0123456789"
BUSY_RETRY_S = 2
MAX_MISSES = 2
ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001, skills: {english: 5}}
  - {id: bob, name: Bob, endpoint: PJSIP/agent1002, skills: {english: 5}}
queues:
  - {id: sales, name: Sales, required_skills: {english: 3}, ring_timeout_s: 4, wrap_up_s: 0, max_wait_s: 600}
"""
# Each test runs one of these on 5002. desk: the queue's answered exit says goodbye; plain: no answered exit (the
# call ends with the conversation); operator: a transfer to agent1001's extension with no answered exit.
FLOWS = {
    "desk": """\
id: desk
numbers: ["5002"]
allow: {queues: [sales]}
start: sales
nodes:
  sales: {type: queue, queue: sales, max_wait_s: 20, exit_keys: {"9": bye}, answered: bye, timeout: bye,
          no_agents: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
""",
    "plain": """\
id: plain
numbers: ["5002"]
allow: {queues: [sales]}
start: sales
nodes:
  sales: {type: queue, queue: sales, max_wait_s: 20, timeout: bye, no_agents: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
""",
    "operator": """\
id: operator
numbers: ["5002"]
allow: {extensions: ["1001"]}
start: operator
nodes:
  operator: {type: transfer, extension: "1001", ring_timeout_s: 10, failed: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
""",
}
ADA, BOB = 5101, 5102


@pytest.fixture
async def desk(request, sandbox, ami_secret, sqlite_url, tmp_path: Path):
    """The service with the ACD and the flow the test names (`@pytest.mark.parametrize("desk", [...], indirect=True)`,
    default desk) answering 5002."""
    flows = tmp_path / "flows"
    flows.mkdir()
    flow = getattr(request, "param", "desk")
    (flows / f"{flow}.yaml").write_text(FLOWS[flow])
    config = tmp_path / "acd.yaml"
    config.write_text(ACD)
    service = ServiceProcess(sqlite_url, ami_secret, extra_env={
        "CALLCONTROL_FLOWS_DIR": str(flows), "CALLCONTROL_API_TOKEN": TOKEN,
        "CALLCONTROL_ACD_MAX_MISSES": str(MAX_MISSES), "CALLCONTROL_ACD_BUSY_RETRY_S": str(BUSY_RETRY_S)})
    await service.start(acd_config=config)
    yield service
    assert await service.stop() == 0, service.log_tail()


async def login(service: ServiceProcess, *agents: str) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        for agent in agents:
            async with session.post(f"http://127.0.0.1:{service.http_port}/api/agents/{agent}/login") as response:
                assert response.status == 200, await response.text()


async def agent_state(service: ServiceProcess, agent: str) -> dict:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        async with session.get(f"http://127.0.0.1:{service.http_port}/api/agents/{agent}") as response:
            return await response.json()


async def one_call_with_phone(records: Records, caller: str, number: str, phone: asyncio.Task,
                              hangup_after_ms: int | None = None, digits=None):
    try:
        call = await place_call(caller, number=number, digits=digits, hangup_after_ms=hangup_after_ms, timeout_s=40)
        (record,) = await records.ended(1)
        answered = await phone
    finally:
        phone.cancel()
        await asyncio.gather(phone, return_exceptions=True)
    assert call.returncode == 0, call.output
    return record, answered


async def test_an_answered_call_the_caller_hangs_up_first_is_answered(desk, records, no_channels_left):
    """ada answers and waits; the caller talks 4 s and hangs up: the stint is answered with ada's offer and the
    talk time, and the path ends sales[answered] (the answered exit is not taken: nobody is left to hear it)."""
    await login(desk, "ada")
    phone = await start_agent(ADA, 300, 0, timeout_s=40)  # talk 0: ada waits for Asterisk's BYE
    record, answered = await one_call_with_phone(records, "15550701", "5002", phone, hangup_after_ms=4000)
    assert answered.returncode == 0 and answered.successful == 1, answered.output
    assert labels(record) == ["sales[answered]"]
    assert record.end_reason is EndReason.AGENT_ANSWERED
    (stint,) = record.queue_stints
    assert (stint.outcome, stint.agent) == ("answered", "ada")
    assert [(offer.agent, offer.result) for offer in stint.offers] == [("ada", "answered")]
    assert 2.5 <= stint.talk_s <= 5, stint
    assert (await agent_state(desk, "ada"))["state"] == "available"


@pytest.mark.parametrize(("desk", "path", "reason"), [
    ("plain", ["sales[answered]"], EndReason.AGENT_ANSWERED),  # a queue node, ada logged in
    ("operator", ["operator"], EndReason.TRANSFERRED),  # a transfer to extension 1001 (agent1001's phone)
], indirect=["desk"])
async def test_a_node_without_an_answered_exit_ends_the_call_when_the_other_side_hangs_up(
        desk, path, reason, records, ami_secret, no_channels_left):
    """agent1001 answers, talks 1 s and hangs up; the node has no answered exit: the caller gets Asterisk's BYE
    with cause 16, never the dialplan's fallback ("no service", a CallcontrolFallback event)."""
    await login(desk, "ada")
    async with AmiObserver(ami_secret) as ami:
        phone = await start_agent(ADA, 300, 1000, timeout_s=40)
        record, answered = await one_call_with_phone(records, "15550702", "5002", phone)
        await asyncio.sleep(0.5)
        fallbacks = ami.user_events("CallcontrolFallback")
    assert answered.successful == 1, answered.output
    assert fallbacks == []
    assert labels(record) == path and record.end_reason is reason
    assert record.hangup_cause == 16


async def test_a_busy_phone_is_not_offered_the_call_again_in_a_tight_loop(desk, records, ami_secret,
                                                                         no_channels_left):
    """bob's phone answers 486 to everything: each refusal is a miss, and bob is rung again only after
    CALLCONTROL_ACD_BUSY_RETRY_S; after MAX_MISSES he is paused "missed". The caller leaves with 9."""
    await login(desk, "bob")
    async with AmiObserver(ami_secret) as ami:
        busy = await start_busy_phone(BOB, calls=MAX_MISSES, timeout_s=30)
        press_at_ms = (BUSY_RETRY_S * MAX_MISSES + 1) * 1000
        record, refused = await one_call_with_phone(records, "15550704", "5002", busy, digits=[(press_at_ms, "9")])
        invites = [event for event in ami.seen if event.get("Event") == "Newchannel"
                   and event.get("Channel", "").startswith("PJSIP/agent1002-")]
    assert refused.returncode == 0, refused.output
    times = [datetime.fromisoformat(event["Timestamp"]) if "T" in event["Timestamp"]
             else datetime.fromtimestamp(float(event["Timestamp"])) for event in invites]
    assert len(times) == MAX_MISSES, invites
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:])]
    assert all(gap >= BUSY_RETRY_S * 0.9 for gap in gaps), gaps
    bob = await agent_state(desk, "bob")
    assert (bob["state"], bob["pause_reason"]) == ("paused", "missed")
    assert labels(record) == ["sales:9[exited_by_key]", "bye"]
    assert [offer.result for offer in record.queue_stints[0].offers] == ["busy"] * MAX_MISSES
