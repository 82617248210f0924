"""A recording open when the service dies is not lost: kill -9 of the service during a real recorded conversation
(SIPp caller talking, SIPp agent answering, the sandbox Asterisk 22 writing the MixMonitor file), then a restart on
the same database. The conversation goes on in Asterisk meanwhile; the restarted service finalizes the recording from
its file: adopted at the AMI resync while the caller is still there (its Hangup ends it), or at once when the call
ended while the service was down."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import aiohttp

from tests.support.polling import eventually
from tests.support.recorded_calls import final_recording, registered, talking_call
from tests.support.service_process import Records, ServiceProcess

TOKEN = "test-token-0123456789"
ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001, teams: [sales]}
queues:
  - {id: rec, name: Recorded, ring_timeout_s: 5, max_wait_s: 60, teams: [sales], recording: {mode: always}}
"""
FLOW = """\
id: rec
numbers: ["5002"]
allow: {queues: [rec]}
start: q
nodes:
  q: {type: queue, queue: rec, max_wait_s: 30, timeout: bye, no_agents: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
"""


def _service(sandbox, ami_secret: str, sqlite_url: str, tmp_path: Path, recordings_env) -> ServiceProcess:
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "rec.yaml").write_text(FLOW)
    (tmp_path / "acd.yaml").write_text(ACD)
    return ServiceProcess(sqlite_url, ami_secret, extra_env={
        "CALLCONTROL_FLOWS_DIR": str(flows), "CALLCONTROL_API_TOKEN": TOKEN,
        "CALLCONTROL_ASTERISK_HANGUP_LOG": str(sandbox.hangup_log_path()), **recordings_env[1]})


async def _login_ada(service: ServiceProcess) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{service.http_port}/api/agents/ada/login",
                                headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200, await response.text()


async def _live(sqlite_url: str):
    found = [r for r in await registered(sqlite_url) if r.live]
    return found[0] if found else None


def _logged(service: ServiceProcess, event: str) -> list[dict]:
    return [line for line in service.log_lines() if line.get("event") == event]


async def test_a_recording_killed_mid_conversation_is_adopted_and_ends_complete_at_the_callers_hangup(
        sandbox, ami_secret, sqlite_url, tmp_path: Path, recordings_env, no_channels_left) -> None:
    first = await _service(sandbox, ami_secret, sqlite_url, tmp_path, recordings_env).start(
        acd_config=tmp_path / "acd.yaml")
    second: ServiceProcess | None = None
    records = Records(sqlite_url)
    try:
        await _login_ada(first)
        call = asyncio.create_task(talking_call("15550701", talk_ms=12000, agent_talk_ms=9000))
        live = await eventually(lambda: _live(sqlite_url), 15, 0.2, what="a live recording")
        await eventually(lambda: bool(_logged(first, "acd.answered")), 15, what="ada answered")
        await asyncio.sleep(2.0)
        await first.kill_9()
        second = await _service(sandbox, ami_secret, sqlite_url, tmp_path, recordings_env).start()
        await eventually(lambda: bool(_logged(second, "recording.adopted")), 10, what="the recording adopted")
        assert (await _live(sqlite_url)).id == live.id  # still live: the conversation goes on
        caller, agent = await call
        assert caller.returncode == 0 and agent.returncode == 0, (caller.output, agent.output)
        (record,) = await records.ended(1, timeout=30)
        rec = await eventually(lambda: final_recording(sqlite_url, record.call_id), 15, 0.2, what="finalized")
        path = recordings_env[0] / rec.relative_path
        assert rec.id == live.id and rec.state == "complete", rec
        assert 7.0 < (rec.duration_s or 0) < 10.5, rec  # the whole 9 s conversation, also what followed the kill
        assert rec.size_bytes == path.stat().st_size and rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        (adopted,) = _logged(second, "recording.adopted")
        assert adopted["recording"] == rec.id
    finally:
        await records.close()
        if second is not None:
            assert await second.stop() == 0, second.log_tail()


async def test_a_recording_whose_call_ended_while_the_service_was_down_is_finalized_at_the_restart(
        sandbox, ami_secret, sqlite_url, tmp_path: Path, recordings_env, no_channels_left) -> None:
    first = await _service(sandbox, ami_secret, sqlite_url, tmp_path, recordings_env).start(
        acd_config=tmp_path / "acd.yaml")
    second: ServiceProcess | None = None
    try:
        await _login_ada(first)
        call = asyncio.create_task(talking_call("15550702", talk_ms=6000, agent_talk_ms=4000))
        live = await eventually(lambda: _live(sqlite_url), 15, 0.2, what="a live recording")
        await eventually(lambda: bool(_logged(first, "acd.answered")), 15, what="ada answered")
        await asyncio.sleep(1.0)
        await first.kill_9()
        caller, agent = await call  # the call ends while the service is dead
        assert caller.returncode == 0 and agent.returncode == 0, (caller.output, agent.output)
        assert (await _live(sqlite_url)).id == live.id  # nobody finalized it
        second = await _service(sandbox, ami_secret, sqlite_url, tmp_path, recordings_env).start()
        rec = await eventually(lambda: final_recording(sqlite_url, live.call_id), 15, 0.2, what="finalized")
        assert rec.state == "complete" and 2.5 < (rec.duration_s or 0) < 5.5, rec
        (recovered,) = _logged(second, "recording.recovered")
        assert recovered["recording"] == rec.id and recovered["state"] == "complete"
    finally:
        if second is not None:
            assert await second.stop() == 0, second.log_tail()
