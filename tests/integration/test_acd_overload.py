"""Overload on real calls: more callers than four SIPp agent phones can take, some hanging up while they wait.

Asterisk's own AMI events (Newchannel/Hangup of the agent phones' channels, as our observer reads them) must
never show a phone with two channels at once, and every caller's record must say what happened to it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from callcontrol.devtools.sipp import run_sipp, scenario, start_agent
from tests.integration.harness import AmiObserver, labels, most_channels_per_phone, transitions
from tests.support.service_process import Records, ServiceProcess

TOKEN = "test-token-0123456789"
AGENTS = (1001, 1002, 1003, 1004)
ACD = "agents:\n" + "".join(f"  - {{id: a{n}, name: Agent {n}, endpoint: PJSIP/agent{n}}}\n" for n in AGENTS) + """\
queues:
  - {id: rush, name: Rush, strategy: longest_idle, ring_timeout_s: 5, wrap_up_s: 0, max_wait_s: 600}
"""
MAX_WAIT_S = 8
FLOW = f"""\
id: rush
numbers: ["5002"]
allow: {{queues: [rush]}}
start: wait
nodes:
  wait: {{type: queue, queue: rush, max_wait_s: {MAX_WAIT_S}, answered: bye, timeout: bye, no_agents: bye}}
  bye: {{type: hangup}}
"""
STAYING = 60  # callers who wait until an agent or the queue's time-out ends their call: 20/s for 3 s
LEAVING = 30  # callers who hang up 2.5 s after they are answered (while waiting, ringing or talking)
ALLOWED = {("available", "reserved"), ("reserved", "on_call"), ("reserved", "available"), ("on_call", "available")}


@pytest.fixture
async def rush_service(sandbox, ami_secret, sqlite_url, tmp_path: Path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "rush.yaml").write_text(FLOW)
    config = tmp_path / "acd.yaml"
    config.write_text(ACD)
    service = ServiceProcess(sqlite_url, ami_secret, extra_env={"CALLCONTROL_FLOWS_DIR": str(flows),
                                                               "CALLCONTROL_API_TOKEN": TOKEN})
    await service.start(acd_config=config)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        for n in AGENTS:
            async with http.post(f"http://127.0.0.1:{service.http_port}/api/agents/a{n}/login") as response:
                assert response.status == 200, await response.text()
    yield service
    assert await service.stop() == 0, service.log_tail()


async def test_overloaded_agent_phones_never_get_two_calls_and_every_record_says_what_happened(
        rush_service, records: Records, ami_secret, sqlite_url, no_channels_left):
    """90 callers in 3 s for 4 phones answering after 100 ms and talking 400 ms (about 6 calls/s between them):
    callers queue up, some are timed out, a third hang up on their own. No phone ever has two channels at
    once; every answered caller's record names its agent and talk time; each agent's transitions follow the
    state machine. A leaving caller answered before it hangs up ends at wait[answered], its stint answered."""
    phones = [await start_agent(5100 + n - 1000, 100, 400, calls=STAYING + LEAVING, timeout_s=60) for n in AGENTS]
    try:
        async with AmiObserver(ami_secret) as ami:
            staying = run_sipp(scenario(), "5002", "155509100", calls=STAYING, rate=20, limit=STAYING,
                               timeout_s=40)
            leaving = run_sipp(scenario(hangup_after_ms=2500), "5002", "155509200", calls=LEAVING, rate=10,
                               limit=LEAVING, timeout_s=40)
            stayed, left = await asyncio.gather(staying, leaving)
            ended = await records.ended(STAYING + LEAVING, timeout=30)
            events = list(ami.seen)
    finally:
        for phone in phones:
            phone.cancel()
        await asyncio.gather(*phones, return_exceptions=True)
    assert stayed.failed == 0, stayed.output[-2000:]  # (a leaving caller served before it hangs up 'fails')
    assert left.successful + left.failed == LEAVING, left.output[-2000:]
    assert most_channels_per_phone(events) == {f"PJSIP/agent{n}": 1 for n in AGENTS}
    answered = 0
    for record in ended:
        path = labels(record)
        (stint,) = record.queue_stints
        staying_caller = record.caller_number == "155509100"
        if path in (["wait[answered]", "bye"], ["wait[answered]"]):  # the latter: hung up on the agent
            answered += 1
            assert stint.outcome == "answered" and stint.agent in {f"a{n}" for n in AGENTS}, stint
            assert stint.talk_s is not None and stint.offers[-1].result == "answered", stint
        elif path == ["wait[timeout]", "bye"]:
            assert stint.outcome == "timed_out" and stint.agent is None, stint
        else:  # a caller who hung up before an agent answered
            assert not staying_caller and path == ["wait[caller_hangup]"], (path, stint)
            assert stint.outcome == "abandoned", stint
    assert answered >= 20, f"only {answered} of {STAYING + LEAVING} callers reached an agent"
    logged = await transitions(sqlite_url)
    for n in AGENTS:
        states = [to_state for who, to_state, _ in logged if who == f"a{n}"]
        assert all(pair in ALLOWED for pair in zip(states, states[1:])), (n, states)
