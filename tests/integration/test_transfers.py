"""Blind transfers on real calls: a SIPp caller talking to ada (PJSIP/agent1001), transferred to the support queue
where bob (PJSIP/agent1002) answers; by the API (AMI BlindTransfer of ada's leg to [cc-transfer]) and by ada's phone
(a SIP REFER to the phone code 2001, looked up in [cc-phone-transfer]). docs/transfers.md.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from callcontrol.core.interactions import STINT_TRANSFERRED
from callcontrol.devtools.sipp import SPEAK, invite_times, place_call, start_agent, start_transferring_agent
from tests.integration.harness import AmiObserver, labels, transitions
from tests.support.polling import eventually
from tests.support.recorded_calls import final_recording
from tests.support.service_process import Records, ServiceProcess

TOKEN = "test-token-0123456789"
ADA_PORT, BOB_PORT = 5101, 5102
ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001, teams: [sales]}
  - {id: bob, name: Bob, endpoint: PJSIP/agent1002, teams: [support]}
queues:
  - {id: sales, name: Sales, ring_timeout_s: 8, max_wait_s: 60, teams: [sales],
     recording: {mode: always, retention_days: 30}}
  - {id: support, name: Support, ring_timeout_s: 8, max_wait_s: 60, teams: [support],
     recording: {mode: always, retention_days: 30}}
"""
FLOW = """\
id: desk
numbers: ["5002"]
allow: {queues: [sales]}
start: q
nodes:
  q: {type: queue, queue: sales, max_wait_s: 30, timeout: bye, no_agents: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
"""


@pytest.fixture
async def service(sandbox, ami_secret, sqlite_url, tmp_path: Path, recordings_env):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "desk.yaml").write_text(FLOW)
    config = tmp_path / "acd.yaml"
    config.write_text(ACD)
    process = ServiceProcess(sqlite_url, ami_secret, extra_env={
        "CALLCONTROL_FLOWS_DIR": str(flows), "CALLCONTROL_API_TOKEN": TOKEN,
        "CALLCONTROL_TRANSFER_PHONE_CODES": "2001=queue:support", "CALLCONTROL_TRANSFER_NUMBERS": "0155500001",
        **recordings_env[1]})
    await process.start(acd_config=config)
    for agent in ("ada", "bob"):
        assert (await api(process, "POST", f"/api/agents/{agent}/login"))[0] == 200
    yield process
    assert await process.stop() == 0, process.log_tail()


async def api(service: ServiceProcess, method: str, path: str, body: object = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"http://127.0.0.1:{service.http_port}{path}", json=body,
                                   headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            return response.status, await response.json()


async def ada_talking(service: ServiceProcess) -> str:
    """The call id once ada is on the call (her phone answered)."""
    async def on_call() -> str | None:
        _, ada = await api(service, "GET", "/api/agents/ada")
        return ada["call"] if ada["state"] == "on_call" else None
    return await eventually(on_call, 20, 0.1, what="ada on the call")


async def assert_one_record_two_stints_and_one_recording(records: Records, sqlite_url: str, service: ServiceProcess,
                                                         caller_task, phones) -> None:
    caller = await caller_task
    runs = await asyncio.gather(*phones)
    assert caller.returncode == 0, caller.output
    for run in runs:
        assert run.returncode == 0 and run.successful == 1, run.output
    (record,) = await records.ended(1)
    first, second = record.queue_stints
    assert (first.queue, first.outcome, first.agent) == ("sales", STINT_TRANSFERRED, "ada"), first
    assert (second.queue, second.outcome, second.agent) == ("support", "answered", "bob"), second
    assert first.agent_leg.ended_at is not None and first.talk_s > 1.5, first
    assert second.entered_at >= first.agent_leg.ended_at and second.talk_s > 2.0, second
    assert second.arrived_at == first.entered_at and first.arrived_at is None, second  # ordered by its first arrival
    assert (second.entered_at - first.agent_leg.ended_at).total_seconds() < 1.0, "the move took a second or more"
    assert labels(record)[-1] == "transfer[queue:support]", labels(record)
    rec = await eventually(lambda: final_recording(sqlite_url, record.call_id), 15, 0.2, what="one recording")
    assert rec.state == "complete" and rec.agent == "bob", rec
    # one file for the whole conversation: ada's talk, the move, bob's talk (within a second)
    covered = first.talk_s + second.talk_s
    assert rec.duration_s is not None and rec.duration_s >= covered - 1.0, (rec.duration_s, covered)
    moves = await transitions(sqlite_url)
    ada = [to for agent, to, _ in moves if agent == "ada"]
    bob = [to for agent, to, _ in moves if agent == "bob"]
    assert ada[-3:] == ["reserved", "on_call", "available"] or ada[-2:] == ["wrap_up", "available"], ada
    assert "on_call" in bob and bob[-1] in ("available", "wrap_up"), bob
    for agent in ("ada", "bob"):
        _, state = await api(service, "GET", f"/api/agents/{agent}")
        assert state["call"] is None and state["calls_today"] == 1, state


async def test_an_api_blind_transfer_to_another_queue_is_answered_there(service, records: Records, sqlite_url,
                                                                         tmp_path: Path, no_channels_left) -> None:
    """ada answers, the API transfers the caller to support, bob answers and hangs up after 3 s: one record with a
    transferred stint (ada's leg) and an answered one (bob's), one recording over both talks, both agents free.
    The transfer's latency (the request to bob's phone ringing) is printed for the note."""
    ada = await start_agent(ADA_PORT, 300, 0, timeout_s=60)  # never hangs up: Asterisk's BYE ends her leg
    bob_log = tmp_path / "bob.log"
    bob = await start_agent(BOB_PORT, 500, 3000, timeout_s=60, message_log=bob_log)
    caller = asyncio.create_task(place_call("15550301", number="5002", digits=[(300, f"{SPEAK}:20000")],
                                            timeout_s=60))
    try:
        call_id = await ada_talking(service)
        await asyncio.sleep(2)
        assert (await api(service, "POST", f"/api/calls/{call_id}/transfer", {"to": {"number": "0155599999"}}))[0] == 422
        asked_at = datetime.now(UTC)
        code, started = await api(service, "POST", f"/api/calls/{call_id}/transfer",
                                  {"to": {"queue": "support"}, "mode": "blind"})
        assert code == 200 and started["from_agent"] == "ada" and started["to"] == {"queue": "support"}, started
        await assert_one_record_two_stints_and_one_recording(records, sqlite_url, service, caller, (ada, bob))
        (rung_at,) = invite_times(bob_log)
        latency_ms = (rung_at - asked_at).total_seconds() * 1000
        print(f"transfer latency: request -> bob's INVITE {latency_ms:.0f} ms; "
              f"BlindTransfer accepted in {started['accepted_in_ms']} ms")
        assert 0 < latency_ms < 2000, latency_ms
    finally:
        for task in (caller, ada, bob):
            task.cancel()
        await asyncio.gather(caller, ada, bob, return_exceptions=True)


async def test_a_refer_from_the_agent_s_phone_is_followed(service, ami_secret, records: Records, sqlite_url,
                                                          no_channels_left) -> None:
    """ada's phone answers, talks 3 s and REFERs the caller to 2001 (support's phone code); Asterisk reports the
    BlindTransfer on AMI, bob answers: the same record, recording and agent states as an API transfer."""
    async with AmiObserver(ami_secret) as ami:
        ada = await start_transferring_agent(ADA_PORT, 300, 3000, "2001", timeout_s=60)
        bob = await start_agent(BOB_PORT, 500, 3000, timeout_s=60)
        caller = asyncio.create_task(place_call("15550302", number="5002", digits=[(300, f"{SPEAK}:20000")],
                                                timeout_s=60))
        try:
            await assert_one_record_two_stints_and_one_recording(records, sqlite_url, service, caller, (ada, bob))
        finally:
            for task in (caller, ada, bob):
                task.cancel()
            await asyncio.gather(caller, ada, bob, return_exceptions=True)
        (seen,) = [event for event in ami.seen if event.get("Event") == "BlindTransfer"]
        assert (seen["Context"], seen["Extension"], seen["Result"]) == ("cc-phone-transfer", "2001", "Success"), seen
        assert seen["TransfererChannel"].startswith("PJSIP/agent1001-") and seen["IsExternal"] == "Yes", seen


async def test_an_api_blind_transfer_to_an_allowed_number_rings_it_and_keeps_the_recording(
        service, records: Records, sqlite_url, no_channels_left) -> None:
    """ada answers, the API transfers the caller to 0155500001 (on transfer_numbers; the sandbox routes it to the
    customer phone through [callcontrol-outbound]); the customer talks 3 s and hangs up: one stint (transferred,
    ada's leg), the path's last step the number, one recording over both talks, ada free."""
    ada = await start_agent(ADA_PORT, 300, 0, timeout_s=60)
    customer = await start_agent(5190, 300, 3000, timeout_s=60)
    caller = asyncio.create_task(place_call("15550303", number="5002", digits=[(300, f"{SPEAK}:20000")],
                                            timeout_s=60))
    try:
        call_id = await ada_talking(service)
        await asyncio.sleep(2)
        code, started = await api(service, "POST", f"/api/calls/{call_id}/transfer", {"to": {"number": "0155500001"}})
        assert code == 200 and started["to"] == {"number": "0155500001"}, started
        runs = await asyncio.gather(caller, ada, customer)
        for run in runs:
            assert run.returncode == 0 and run.successful == 1, run.output
        (record,) = await records.ended(1)
        (stint,) = record.queue_stints
        assert (stint.queue, stint.outcome, stint.agent) == ("sales", STINT_TRANSFERRED, "ada"), stint
        assert labels(record)[-1] == "transfer[number:0155500001]", labels(record)
        rec = await eventually(lambda: final_recording(sqlite_url, record.call_id), 15, 0.2, what="one recording")
        assert rec.state == "complete" and rec.duration_s is not None and rec.duration_s >= stint.talk_s + 2.0, \
            (rec.duration_s, stint.talk_s)
        _, ada_now = await api(service, "GET", "/api/agents/ada")
        assert ada_now["state"] == "available" and ada_now["call"] is None, ada_now
    finally:
        for task in (caller, ada, customer):
            task.cancel()
        await asyncio.gather(caller, ada, customer, return_exceptions=True)
