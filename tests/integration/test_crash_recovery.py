"""kill -9 of the service mid-call, then a restart on the same database: what the call did is kept, its end is
Asterisk's (its hangup log), it is closed once, and the agents' counters and handle times come back.

The calls go on in Asterisk while the service is dead (the dialplan's fallback takes the caller in the menu;
a conversation with an agent goes on in its Dial()); the service restarts only after they ended.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from callcontrol.core.calls import CallStatus
from callcontrol.devtools.sipp import place_call, start_agent
from tests.integration.harness import AmiObserver, labels
from tests.support.polling import eventually
from tests.support.service_process import Records, ServiceProcess

TOKEN = "test-token-0123456789"
WRAP_UP_S = 3
TALK_MS = 6000
ACD = f"""\
agents:
  - {{id: ada, name: Ada, endpoint: PJSIP/agent1001, teams: [sales], skills: {{english: 5}}, wrap_up_s: {WRAP_UP_S}}}
queues:
  - {{id: sales, name: Sales, required_skills: {{english: 3}}, ring_timeout_s: 5, wrap_up_s: 0, max_wait_s: 600}}
"""
FLOW = """\
id: desk
numbers: ["5002"]
allow: {queues: [sales]}
start: sales
nodes:
  sales: {type: queue, queue: sales, max_wait_s: 20, answered: bye, timeout: bye, no_agents: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
"""


def _service(sandbox, ami_secret: str, database_url: str, flows: Path | None = None) -> ServiceProcess:
    env = {"CALLCONTROL_ASTERISK_HANGUP_LOG": str(sandbox.hangup_log_path()), "CALLCONTROL_API_TOKEN": TOKEN}
    if flows is not None:
        env["CALLCONTROL_FLOWS_DIR"] = str(flows)
    return ServiceProcess(database_url, ami_secret, extra_env=env)


def _desk_files(tmp_path: Path) -> Path:
    """The desk flow in tmp_path/flows and the ACD configuration in tmp_path/acd.yaml; returns the flows folder."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "desk.yaml").write_text(FLOW)
    (tmp_path / "acd.yaml").write_text(ACD)
    return flows


def _hangup_at(observer: AmiObserver, uniqueid: str | None = None, channel_prefix: str | None = None) -> datetime:
    """When Asterisk hung this channel up: its AMI Hangup event's own Timestamp (manager.conf timestampevents)."""
    for event in observer.seen:
        if event.get("Event") != "Hangup":
            continue
        if (uniqueid is not None and event.get("Uniqueid") == uniqueid) or \
                (channel_prefix is not None and event.get("Channel", "").startswith(channel_prefix)):
            return datetime.fromtimestamp(float(event["Timestamp"]), UTC)
    raise AssertionError(f"no Hangup event for {uniqueid or channel_prefix}")


async def _api(service: ServiceProcess, method: str, path: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"http://127.0.0.1:{service.http_port}{path}",
                                   headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            return response.status, await response.json()


async def _logged(service: ServiceProcess, event: str) -> bool:
    return any(line.get("event") == event for line in service.log_lines())


async def _one_closed_record(records: Records):
    """The only record in the database, once it is closed (it must never be two rows)."""
    (record,) = await records.ended(1, timeout=30)
    assert len(await records.all()) == 1
    return record


async def test_caller_in_the_menu_keeps_its_path_and_asterisks_end_after_a_kill_9(
        sandbox, ami_secret, sqlite_url, no_channels_left):
    """The caller pressed 1 in the main menu; the service is killed ~1 s later; the fallback ends the call.
    After the restart the record keeps the walk up to the kill and ends when Asterisk hung the caller up."""
    first = await _service(sandbox, ami_secret, sqlite_url).start()
    records = Records(sqlite_url)
    second: ServiceProcess | None = None
    try:
        async with AmiObserver(ami_secret) as observer:
            call = asyncio.create_task(place_call("15550901", digits=[(2800, "1")], timeout_s=40))
            await asyncio.sleep(4.0)  # greeting, the menu, '1' at ~2.8 s; the sales prompt plays when it dies
            await first.kill_9()
            result = await call
            assert result.returncode == 0, result.output  # the fallback announced "no service" and hung up
            await asyncio.sleep(2.0)  # the restart is well after the call's end
            restarted_at = datetime.now(UTC)
            second = await _service(sandbox, ami_secret, sqlite_url).start()
            record = await _one_closed_record(records)
            asterisk_end = _hangup_at(observer, uniqueid=record.uniqueid)

        assert labels(record)[:2] == ["greeting", "main_menu:1"], labels(record)
        assert record.status is CallStatus.ENDED and str(record.end_reason) == "service_restarted"
        assert str(record.end_observed_by) == "hangup_log"
        assert abs((record.ended_at - asterisk_end).total_seconds()) < 1.0, (record.ended_at, asterisk_end)
        assert record.ended_at < restarted_at
        assert record.hangup_cause == 16  # the fallback's Hangup(): normal clearing, as the log says
    finally:
        await records.close()
        if second is not None:
            assert await second.stop() == 0, second.log_tail()


async def test_conversation_with_an_agent_keeps_its_stint_and_the_agents_counters_after_a_kill_9(
        sandbox, ami_secret, sqlite_url, tmp_path: Path, no_channels_left):
    """ada answers and talks 6 s; the service is killed 1.5 s into the conversation, which goes on in Asterisk
    until ada hangs up. After the restart the stint says sales, ada, answered, with the talk time Asterisk saw;
    ada's calls and talk today and the queue's handle time count that call."""
    flows = _desk_files(tmp_path)
    first = await _service(sandbox, ami_secret, sqlite_url, flows).start(acd_config=tmp_path / "acd.yaml")
    records = Records(sqlite_url)
    second: ServiceProcess | None = None
    try:
        status, body = await _api(first, "POST", "/api/agents/ada/login")
        assert status == 200, body
        async with AmiObserver(ami_secret) as observer:
            ada = await start_agent(5101, 300, TALK_MS, timeout_s=40)
            try:
                call = asyncio.create_task(place_call("15550902", number="5002", timeout_s=40))
                await eventually(lambda: _logged(first, "acd.answered"), 15, what="ada answered")
                answered = time.monotonic()
                await asyncio.sleep(1.5)
                await first.kill_9()
                result, phone = await asyncio.gather(call, ada)
            finally:
                ada.cancel()
                await asyncio.gather(ada, return_exceptions=True)
            assert result.returncode == 0, result.output
            assert phone.returncode == 0 and phone.successful == 1, phone.output
            assert time.monotonic() - answered > TALK_MS / 1000 - 0.5  # the talk went on after the kill
            await asyncio.sleep(1.0)
            restarted_at = datetime.now(UTC)
            second = await _service(sandbox, ami_secret, sqlite_url, flows).start()
            record = await _one_closed_record(records)
            caller_end = _hangup_at(observer, uniqueid=record.uniqueid)
            ada_end = _hangup_at(observer, channel_prefix="PJSIP/agent1001-")

        (stint,) = record.queue_stints
        assert (stint.queue, stint.agent, stint.outcome) == ("sales", "ada", "answered"), stint
        assert [(offer.agent, offer.result) for offer in stint.offers] == [("ada", "answered")], stint
        answered_at = stint.answered_at
        assert abs(stint.talk_s - (ada_end - answered_at).total_seconds()) < 1.0, (stint, ada_end)
        assert abs(stint.talk_s - TALK_MS / 1000) < 1.5, stint
        assert str(record.end_observed_by) == "hangup_log"
        assert abs((record.ended_at - caller_end).total_seconds()) < 1.0, (record.ended_at, caller_end)
        assert record.ended_at < restarted_at

        status, agent = await _api(second, "GET", "/api/agents/ada")
        assert status == 200 and agent["calls_today"] == 1, agent
        assert agent["talk_s_today"] == pytest.approx(stint.talk_s, abs=0.1), agent
        status, queue = await _api(second, "GET", "/api/queues/sales")
        assert status == 200
        # the wait estimate's handle time is that call (talk + ada's wrap-up), not expected_handle_s (180 s)
        assert queue["handle_s"] == pytest.approx(stint.talk_s + WRAP_UP_S, abs=0.2), queue
    finally:
        await records.close()
        if second is not None:
            assert await second.stop() == 0, second.log_tail()


async def test_a_conversation_still_going_on_after_the_restart_is_followed_live_to_its_end(
        sandbox, ami_secret, sqlite_url, tmp_path: Path, no_channels_left):
    """Killed 1 s into a 12 s conversation and restarted at once: the record stays open while they talk, then
    the agent's Hangup ends the talk and the caller's closes the record (AMI, live), once."""
    flows = _desk_files(tmp_path)
    first = await _service(sandbox, ami_secret, sqlite_url, flows).start(acd_config=tmp_path / "acd.yaml")
    records = Records(sqlite_url)
    second: ServiceProcess | None = None
    try:
        await _api(first, "POST", "/api/agents/ada/login")
        async with AmiObserver(ami_secret) as observer:
            ada = await start_agent(5101, 300, 12000, timeout_s=40)
            try:
                call = asyncio.create_task(place_call("15550903", number="5002", timeout_s=40))
                await eventually(lambda: _logged(first, "acd.answered"), 15, what="ada answered")
                await asyncio.sleep(1.0)
                await first.kill_9()
                second = await _service(sandbox, ami_secret, sqlite_url, flows).start()
                (open_record,) = await records.all()
                assert open_record.status is CallStatus.ACTIVE  # still talking: not closed at the restart
                result, phone = await asyncio.gather(call, ada)
            finally:
                ada.cancel()
                await asyncio.gather(ada, return_exceptions=True)
            assert result.returncode == 0 and phone.successful == 1, (result.output, phone.output)
            record = await _one_closed_record(records)
            caller_end = _hangup_at(observer, uniqueid=record.uniqueid)
            ada_end = _hangup_at(observer, channel_prefix="PJSIP/agent1001-")

        assert str(record.end_observed_by) == "ami"
        assert abs((record.ended_at - caller_end).total_seconds()) < 0.1
        (stint,) = record.queue_stints
        assert (stint.agent, stint.outcome) == ("ada", "answered"), stint
        answered_at = stint.answered_at
        assert abs(stint.talk_s - (ada_end - answered_at).total_seconds()) < 0.5, (stint, ada_end)
    finally:
        await records.close()
        if second is not None:
            assert await second.stop() == 0, second.log_tail()
