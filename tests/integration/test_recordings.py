"""Call recording on real calls: SIPp callers that talk (a PCMU tone), a SIPp agent that answers, the sandbox Asterisk
22 writing MixMonitor files into its chroot, the service registering, muting, stopping and purging them.

The service reads the files at <chroot>/var/spool/asterisk/callcontrol-recordings/<test> and tells Asterisk the
path inside the chroot (CALLCONTROL_RECORDINGS_DIR / CALLCONTROL_RECORDINGS_ASTERISK_DIR).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy

from callcontrol.adapters.db.recording_store import RecordingFilter, SqlRecordingRegistry
from callcontrol.adapters.db.store import make_engine
from callcontrol.core.recording_policy import RecordingPolicy, decide
from callcontrol.core.recordings import Recording
from callcontrol.devtools.sipp import place_call
from tests.support.polling import eventually
from tests.support.recorded_calls import final_recording, registered, talking_call
from tests.support.recording import rms
from tests.support.service_process import Records, ServiceProcess

TOKEN = "test-token-0123456789"
SILENT = 50.0  # RMS of 16-bit samples below which a stretch counts as silence (the tone is ~5000)
ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001, teams: [sales]}
queues:
  - {id: rec, name: Recorded, ring_timeout_s: 5, max_wait_s: 60, teams: [sales],
     recording: {mode: always, retention_days: 30, agents_may_listen: true}}
  - {id: norec, name: Never, ring_timeout_s: 5, max_wait_s: 60, teams: [sales], recording: {mode: never}}
  - {id: half, name: Half, ring_timeout_s: 5, max_wait_s: 60, teams: [sales],
     recording: {mode: percent, percent: 50}}
"""
QUEUE_FLOW = """\
id: rec
numbers: ["5002"]
allow: {{queues: [{queue}]}}
start: q
nodes:
  q: {{type: queue, queue: {queue}, max_wait_s: 30, timeout: bye, no_agents: bye}}
  bye: {{type: hangup, prompts: [vm-goodbye]}}
"""
SECURE_FLOW = """\
id: rec
numbers: ["5002"]
record_ivr: true
allow: {queues: [rec]}
start: hello
nodes:
  hello: {type: play, prompts: [tt-monkeysintro], next: card}
  card: {type: input, prompts: [vm-intro], variable: card, max_digits: 4, secure: true, timeout_s: 5,
         inter_digit_timeout_s: 3, max_attempts: 1, next: bye, exhausted: bye}
  bye: {type: hangup, prompts: [tt-monkeysintro]}
"""


@pytest.fixture
async def start_service(sandbox, ami_secret, sqlite_url, tmp_path: Path, recordings_env):
    started: list[ServiceProcess] = []

    async def start(flow: str) -> ServiceProcess:
        flows = tmp_path / f"flows{len(started)}"
        flows.mkdir()
        (flows / "rec.yaml").write_text(flow)
        config = tmp_path / "acd.yaml"
        config.write_text(ACD)
        service = ServiceProcess(sqlite_url, ami_secret, extra_env={
            "CALLCONTROL_FLOWS_DIR": str(flows), "CALLCONTROL_API_TOKEN": TOKEN, **recordings_env[1]})
        started.append(service)
        await service.start(acd_config=config)
        assert (await api(service, "POST", "/api/agents/ada/login"))[0] in (200, 409)  # 409: still logged in
        return service

    yield start
    for service in started:
        assert await service.stop() == 0, service.log_tail()


async def api(service: ServiceProcess, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"http://127.0.0.1:{service.http_port}{path}", json=body,
                                   headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            return response.status, await response.json()


def file_of(root: Path, recording: Recording) -> Path:
    return root / recording.relative_path


async def test_a_recorded_queue_call_holds_the_conversation_and_an_api_pause_is_silent(
        start_service, sqlite_url, records: Records, recordings_env, no_channels_left) -> None:
    """The file exists and is registered (complete, size, sha256); its duration is the conversation's within 1 s;
    the caller's voice is in it; a pause and resume through the API on the live call leave a silent span."""
    service = await start_service(QUEUE_FLOW.format(queue="rec"))
    call = asyncio.create_task(talking_call("15550101", talk_ms=12000, agent_talk_ms=9000))
    live = await eventually(lambda: _live_one(service), 15, 0.2, what="a live recording")
    await asyncio.sleep(3)
    code, paused = await api(service, "POST", f"/api/recordings/{live['id']}/pause", {"reason": "payment_capture"})
    assert code == 200 and paused["state"] == "paused", paused
    await asyncio.sleep(2)
    code, resumed = await api(service, "POST", f"/api/recordings/{live['id']}/resume")
    assert code == 200 and resumed["state"] == "recording", resumed
    caller, agent = await call
    assert caller.returncode == 0 and agent.returncode == 0, (caller.output, agent.output)
    (record,) = await records.ended(1)
    (stint,) = record.queue_stints
    rec = await eventually(lambda: final_recording(sqlite_url, record.call_id), 15, 0.2, what="the recording finalized")
    path = file_of(recordings_env[0], rec)
    assert rec.state == "complete" and path.is_file() and rec.size_bytes == path.stat().st_size, rec
    assert len(rec.sha256 or "") == 64 and rec.agent == "ada" and rec.queue == "rec"
    assert stint.talk_s is not None and abs((rec.duration_s or 0) - stint.talk_s) <= 1.0, (rec.duration_s, stint)
    (span,) = rec.spans
    assert span.reason == "payment_capture" and span.ended_at is not None
    answered = stint.agent_leg.answered_at
    start, end = (span.started_at - answered).total_seconds(), (span.ended_at - answered).total_seconds()
    assert 1.5 < end - start < 3.0, (start, end)
    assert rms(path, start + 0.3, end - 0.3) < SILENT, "the paused span must hold silence"
    assert rms(path, end + 0.3, end + 2.0) > 20 * SILENT, "the caller's voice must be recorded after resuming"
    assert rms(path, 0.5, start - 0.3) > 20 * SILENT, "the caller's voice must be recorded before the pause"
    audio = await _audio(service, rec.id, {"Range": "bytes=0-43"})
    assert audio[0] == 206 and audio[1] == path.read_bytes()[:44]
    code, shown = await api(service, "GET", f"/api/recordings?call={record.call_id}")
    assert code == 200 and [r["id"] for r in shown["recordings"]] == [rec.id]  # type: ignore[index]


async def test_a_secure_input_is_silent_in_an_ivr_recording(start_service, sqlite_url, records: Records,
                                                                recordings_env, no_channels_left) -> None:
    """record_ivr: the recording starts with the flow. A 2.7 s prompt, then a secure input whose 5.7 s prompt the
    caller cuts short by keying 4 digits, then the 2.7 s prompt again: the file holds both outer prompts and,
    between them, only silence (the input's prompt, audible without the mute, is not in it). MixMonitor writes the
    frames that flow, so the span's length in the file is the frames it saw, not its wall-clock length."""
    await start_service(SECURE_FLOW)
    caller = await place_call("15550102", number="5002", digits=[(4000, "1"), (500, "2"), (500, "3"), (500, "4")],
                              timeout_s=60)
    assert caller.returncode == 0, caller.output
    (record,) = await records.ended(1)
    rec = await eventually(lambda: final_recording(sqlite_url, record.call_id), 15, 0.2, what="the recording finalized")
    assert rec.state == "complete" and rec.queue is None and rec.agent is None, rec
    (span,) = rec.spans
    assert span.reason == "secure_input" and span.ended_at is not None
    assert (span.ended_at - span.started_at).total_seconds() > 1.5  # prompt until the first key, then 3 keys
    windows = _loudness(file_of(recordings_env[0], rec))
    loud = [index for index, level in enumerate(windows) if level > 20 * SILENT]
    first_run = [index for index in loud if index < len(windows) / 2]
    second_run = [index for index in loud if index >= len(windows) / 2]
    assert first_run and second_run, windows
    between = windows[max(first_run) + 1:min(second_run)]
    assert len(between) >= 4 and max(between[1:-1]) < SILENT, windows  # >= 1 s of silence, nothing of vm-intro
    assert 3.0 < len(loud) / 4 < 6.0, windows  # the two outer prompts (2 x 2.7 s, pauses quiet), nothing more


async def test_stop_on_demand_ends_the_recording_and_the_call_goes_on(start_service, sqlite_url, records: Records,
                                                                      recordings_env, no_channels_left) -> None:
    service = await start_service(QUEUE_FLOW.format(queue="rec"))
    call = asyncio.create_task(talking_call("15550103", talk_ms=10000, agent_talk_ms=7000))
    live = await eventually(lambda: _live_one(service), 15, 0.2, what="a live recording")
    await eventually(lambda: _answered(service), 20, 0.2, what="ada answering")
    await asyncio.sleep(2)
    code, stopped = await api(service, "POST", f"/api/recordings/{live['id']}/stop")
    assert code == 200 and stopped["state"] == "complete", stopped
    caller, agent = await call
    assert caller.returncode == 0 and agent.returncode == 0, (caller.output, agent.output)
    (record,) = await records.ended(1)
    (stint,) = record.queue_stints
    rec = await final_recording(sqlite_url, record.call_id)
    assert rec is not None and rec.state == "complete" and 1.0 < (rec.duration_s or 0) < 4.0, rec
    assert stint.talk_s is not None and stint.talk_s > 6, stint  # the conversation went on after the stop
    assert (await api(service, "POST", f"/api/recordings/{rec.id}/pause", {"reason": "api"}))[0] == 409


async def test_never_and_half_policies_over_a_batch_of_calls(start_service, sqlite_url, records: Records,
                                                             recordings_env, no_channels_left) -> None:
    """Never: no recording (no file either). 50 %: exactly the calls the call-key hash picks are recorded."""
    never = await start_service(QUEUE_FLOW.format(queue="norec"))
    for n in range(2):
        await talking_call(f"155502{n:02d}", talk_ms=4000, agent_talk_ms=1500)
    assert await registered(sqlite_url) == [] and not any(recordings_env[0].rglob("*.wav"))
    assert await never.stop() == 0
    await start_service(QUEUE_FLOW.format(queue="half"))
    for n in range(6):
        await talking_call(f"155503{n:02d}", talk_ms=4000, agent_talk_ms=1500)
    ended = [r for r in await records.ended(8) if r.queue_stints and r.queue_stints[0].queue == "half"]
    assert len(ended) == 6
    expected = {r.call_id for r in ended if decide(RecordingPolicy("percent", 50), r.call_id)}
    await asyncio.sleep(1)
    found = {r.call_id for r in await registered(sqlite_url, queue="half") if r.state == "complete"}
    assert found == expected, (found, expected)


async def test_purge_removes_expired_recordings_and_keeps_legal_holds(start_service, sqlite_url, records: Records,
                                                                      recordings_env, no_channels_left) -> None:
    service = await start_service(QUEUE_FLOW.format(queue="rec"))
    for n in range(2):
        await talking_call(f"155504{n:02d}", talk_ms=4000, agent_talk_ms=1500)
    await records.ended(2)
    kept, expired = await eventually(lambda: _completes(sqlite_url, 2), 15, 0.2, what="two recordings")
    assert (await api(service, "PUT", f"/api/recordings/{kept.id}/hold", {"legal_hold": True}))[0] == 200
    engine = make_engine(sqlite_url)  # both age past their 30 days in the registry; their files stay put
    async with engine.begin() as conn:
        await conn.execute(sqlalchemy.text("UPDATE recordings SET retention_days = 1"))
    await engine.dispose()
    code, out = await service.cli("recordings", "purge", "--dry-run")
    assert code == 0 and "0 recording(s) to purge" in out, out  # one day has not passed yet
    await _age(sqlite_url, recordings_env[0], timedelta(days=40))
    by_id = {r.id: r for r in await registered(sqlite_url)}
    kept, expired = by_id[kept.id], by_id[expired.id]
    code, out = await service.cli("recordings", "purge")
    assert code == 0 and f"purged {expired.id}" in out and kept.id not in out, out
    assert not file_of(recordings_env[0], expired).exists() and file_of(recordings_env[0], kept).exists()
    by_id = {r.id: r for r in await registered(sqlite_url)}
    assert by_id[expired.id].purged_at is not None and by_id[kept.id].purged_at is None
    code, out = await service.cli("recordings", "verify")
    assert code == 0 and "1 file(s) checked, 0 problem(s)" in out, out
    assert (await _audio(service, expired.id, {}))[0] == 410  # purged
    async with aiohttp.ClientSession() as session:  # no token: refused before anything is looked up
        async with session.get(f"http://127.0.0.1:{service.http_port}/api/recordings/{kept.id}/audio") as response:
            assert response.status == 401
    for odd in ("..%2F..%2F..%2Fetc%2Fpasswd", "rec_%00", f"{kept.id}.wav", kept.id.upper()):
        assert (await _audio(service, odd, {}))[0] == 404, odd
    await _each_user_hears_what_its_scope_allows(service, kept)


async def _each_user_hears_what_its_scope_allows(service: ServiceProcess, kept: Recording) -> None:
    """Real users (`callcontrol users add`, their bearer tokens) on ada's recording in the queue rec (team sales,
    agents may listen): ada and a sales supervisor hear it; another team's supervisor and another agent get 404,
    a reporting user 403; each attempt is in the audit trail."""
    expected = {"ada": (200, "recording.listen", "allowed"), "sue": (200, "recording.listen", "allowed"),
                "sam": (404, "recording.listen", "denied"), "bob": (404, "recording.listen", "denied"),
                "rita": (403, "auth.forbidden", "denied")}
    for name, flags in (("ada", ["--role", "agent", "--agent", "ada"]), ("sue", ["--role", "supervisor", "--team",
                        "sales"]), ("sam", ["--role", "supervisor", "--team", "support"]),
                        ("bob", ["--role", "agent", "--agent", "bob"]), ("rita", ["--role", "reporting"])):
        code, out = await service.cli("users", "add", name, *flags)
        assert code == 0, out
        status, _ = await _audio(service, kept.id, {}, token=out.strip().splitlines()[-1])
        assert status == expected[name][0], (name, status)
    code, trail = await api(service, "GET", "/api/audit?limit=1000")
    assert code == 200
    seen = {(e["actor"], e["action"], e["outcome"]) for e in trail if e["object_id"] == kept.id}  # type: ignore
    assert {(name, action, outcome) for name, (_, action, outcome) in expected.items()} <= seen, seen
    assert ("anonymous", "auth.unauthenticated", "denied") in seen, seen


# ---------------------------------------------------------------- helpers


async def _live_one(service: ServiceProcess) -> dict | None:
    code, body = await api(service, "GET", "/api/recordings")
    found = body["recordings"] if code == 200 else []  # type: ignore[index]
    live = [r for r in found if r["state"] in ("recording", "paused")]
    return live[0] if live else None


async def _answered(service: ServiceProcess) -> bool:
    code, body = await api(service, "GET", "/api/agents/ada")
    return code == 200 and body.get("state") == "on_call"  # type: ignore[union-attr]


async def _completes(sqlite_url: str, count: int) -> list[Recording] | None:
    found = [r for r in await registered(sqlite_url) if r.state == "complete"]
    return found if len(found) >= count else None


async def _age(sqlite_url: str, root: Path, by: timedelta) -> None:
    """Make every recording `by` older: its row's times and its file's place (laid out by the start day)."""
    engine = make_engine(sqlite_url)
    try:
        registry = SqlRecordingRegistry(engine)
        for recording in await registry.find(RecordingFilter()):
            older = replace(recording, started_at=recording.started_at - by,
                            ended_at=recording.ended_at - by if recording.ended_at else None)
            file_of(root, older).parent.mkdir(parents=True, exist_ok=True)
            file_of(root, recording).rename(file_of(root, older))
            await registry.save(older)
    finally:
        await engine.dispose()


def _loudness(path: Path) -> list[float]:
    """RMS of each quarter second of the file."""
    import wave
    with wave.open(str(path), "rb") as audio:
        seconds = audio.getnframes() / audio.getframerate()
    return [rms(path, index / 4, (index + 1) / 4) for index in range(int(seconds * 4))]


async def _audio(service: ServiceProcess, recording_id: str, headers: dict[str, str],
                 token: str = TOKEN) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{service.http_port}/api/recordings/{recording_id}/audio",
                               headers={"Authorization": f"Bearer {token}", **headers}) as response:
            return response.status, await response.read()

