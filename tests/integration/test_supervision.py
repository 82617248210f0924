"""Live supervision over real calls: SIPp callers in an ACD queue, real agent and supervisor phones, the sandbox
Asterisk 22's ChanSpy, users made with the real `callcontrol users add`, the audit trail read from the database.

ada is PJSIP/agent1001; ed is PJSIP/agent10011, whose channel names start with ada's device name: ChanSpy must
join ada's channel and never ed's (the name-prefix trap), which the spyee of ChanSpyStart shows.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from callcontrol.core.audit import Outcome
from callcontrol.devtools.sipp import (
    SPEAK,
    agent_scenario,
    place_agent_call,
    place_call,
    run_sipp,
    scenario,
    start_agent,
    start_phone,
)
from tests.support.polling import eventually
from tests.support.recorded_calls import add_user, audit_entries
from callcontrol.devtools.rtp_phone import RtpPhone, with_media_port
from tests.support.service_process import ServiceProcess

BOOTSTRAP = "bootstrap-admin-token-0123456789"
ADA_PORT, ED_PORT, SUPERVISOR1_PORT, SUPERVISOR2_PORT = 5101, 5122, 5120, 5121
ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001, teams: [sales]}
  - {id: ed, name: Ed, endpoint: PJSIP/agent10011, teams: [sales]}
queues:
  - {id: sales, name: Sales, ring_timeout_s: 5, max_wait_s: 60, teams: [sales]}
"""
FLOW = """\
id: sales
numbers: ["5002"]
allow: {queues: [sales]}
start: q
nodes:
  q: {type: queue, queue: sales, max_wait_s: 30, timeout: bye, no_agents: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
"""


def _service(ami_secret: str, sqlite_url: str, tmp_path: Path) -> ServiceProcess:
    flows = tmp_path / "flows"
    if not flows.exists():
        flows.mkdir()
        (flows / "sales.yaml").write_text(FLOW)
        (tmp_path / "acd.yaml").write_text(ACD)
    return ServiceProcess(sqlite_url, ami_secret, extra_env={
        "CALLCONTROL_FLOWS_DIR": str(flows), "CALLCONTROL_API_TOKEN": BOOTSTRAP,
        "CALLCONTROL_SUPERVISOR_PHONES": "sup.sales=PJSIP/supervisor1|PJSIP/supervisor2,"
                                         "sup.support=PJSIP/supervisor2,ada=PJSIP/supervisor2",
        "CALLCONTROL_SUPERVISION_RING_TIMEOUT_S": "3"})


@pytest.fixture
async def service(sandbox, ami_secret, sqlite_url, tmp_path: Path):
    service = _service(ami_secret, sqlite_url, tmp_path)
    await service.start(acd_config=tmp_path / "acd.yaml")
    yield service
    assert await service.stop() == 0, service.log_tail()


class Api:
    def __init__(self, session: aiohttp.ClientSession, service: ServiceProcess, token: str) -> None:
        self.session, self.base, self.token = session, f"http://127.0.0.1:{service.http_port}", token

    async def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | list]:
        async with self.session.request(method, self.base + path, json=body,
                                        headers={"Authorization": f"Bearer {self.token}"}) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else {}


def caller_channel_uniqueid(sandbox, caller: str) -> str | None:
    """The uniqueid (the call id) of the trunk channel calling from `caller`, from Asterisk's channel list."""
    for line in sandbox.cli("core show channels concise").splitlines():
        fields = line.split("!")
        if len(fields) > 13 and fields[0].startswith("PJSIP/trunk-") and fields[7] == caller:
            return fields[-1].strip()
    return None


async def talking(sandbox, caller: str, agent_port: int, seconds: float):
    """A caller in the queue talking with the agent phone on agent_port, hanging up after `seconds` (the agent
    answers after 0.3 s and waits for Asterisk's BYE); (call id, tasks)."""
    phone = await start_agent(agent_port, 300, 0, timeout_s=seconds + 30)
    call = asyncio.create_task(place_call(caller, number="5002", digits=[(500, f"{SPEAK}:{int(seconds * 1000)}")],
                                          hangup_after_ms=int(seconds * 1000), timeout_s=seconds + 30))
    call_id = await eventually(lambda: caller_channel_uniqueid(sandbox, caller), 10, 0.2, what="caller channel")
    return call_id, (call, phone)


async def session_state(api: Api, session_id: str, **wanted: object) -> dict:
    async def check():
        code, body = await api.call("GET", f"/api/supervision/{session_id}")
        return body if code == 200 and all(body.get(k) == v for k, v in wanted.items()) else None
    return await eventually(check, 15, 0.2, what=f"session {session_id} {wanted}")


async def test_listen_whisper_barge_on_the_exact_agent_channel_audited_with_every_refusal(
        service: ServiceProcess, sandbox, sqlite_url: str, no_channels_left) -> None:
    tokens = {name: await add_user(service, name, *args) for name, args in {
        "sup.sales": ("--role", "supervisor", "--team", "sales"),
        "sup.support": ("--role", "supervisor", "--team", "support"),
        "ada": ("--role", "agent", "--agent", "ada")}.items()}
    async with aiohttp.ClientSession() as http:
        admin, sales, support, ada = (Api(http, service, token) for token in
                                      (BOOTSTRAP, tokens["sup.sales"], tokens["sup.support"], tokens["ada"]))
        assert (await admin.call("POST", "/api/agents/ada/login", {}))[0] == 200
        ada_call, ada_tasks = await talking(sandbox, "15550701", ADA_PORT, 24)
        await asyncio.sleep(1.5)  # ada answers after 0.3 s; then ed takes the next caller
        assert (await admin.call("POST", "/api/agents/ed/login", {}))[0] == 200
        ed_call, ed_tasks = await talking(sandbox, "15550702", ED_PORT, 22)
        await asyncio.sleep(1.5)

        # refused: another team's supervisor (404, as for no call), an agent (403), a phone not allowed (400)
        assert (await support.call("POST", f"/api/calls/{ada_call}/supervise", {"mode": "listen"}))[0] == 404
        assert (await ada.call("POST", f"/api/calls/{ada_call}/supervise", {"mode": "listen"}))[0] == 403
        code, body = await sales.call("POST", f"/api/calls/{ada_call}/supervise",
                                      {"mode": "listen", "endpoint": "PJSIP/agent1002"})
        assert code == 400 and body["error"] == "endpoint_not_allowed", body
        assert (await sales.call("POST", "/api/calls/1.999/supervise", {"mode": "listen"}))[0] == 404
        assert (await sales.call("POST", f"/api/calls/{ada_call}/supervise", {"mode": "shout"}))[0] == 400

        supervisor = await start_agent(SUPERVISOR1_PORT, 300, 0, timeout_s=60)
        code, started = await sales.call("POST", f"/api/calls/{ada_call}/supervise", {"mode": "listen"})
        assert code == 201 and started["state"] == "ringing" and started["agent"] == "ada", started
        session_id = started["id"]
        active = await session_state(sales, session_id, state="active")
        assert active["mode"] == "listen" and active["call_id"] == ada_call
        assert (await support.call("GET", f"/api/supervision/{session_id}"))[0] == 404  # not theirs
        assert (await support.call("PATCH", f"/api/supervision/{session_id}", {"mode": "barge"}))[0] == 404

        code, body = await sales.call("PATCH", f"/api/supervision/{session_id}", {"mode": "whisper"})
        assert code == 202, body
        await session_state(sales, session_id, mode="whisper")
        assert (await sales.call("PATCH", f"/api/supervision/{session_id}", {"mode": "barge"}))[0] == 202
        barged = await session_state(sales, session_id, mode="barge")
        assert [(c["from"], c["to"], c["by"]) for c in barged["mode_changes"]] == [
            ("listen", "whisper", "api:sup.sales"), ("whisper", "barge", "api:sup.sales")]
        assert (await sales.call("DELETE", f"/api/supervision/{session_id}"))[0] == 202
        ended = await session_state(sales, session_id, state="ended")
        assert ended["end_reason"] == "ended_by_request" and ended["duration_s"] > 0, ended
        assert (await supervisor).returncode == 0

        # a supervisor phone that rings and is never answered
        unanswered = await start_agent(SUPERVISOR2_PORT, 20_000, 0, timeout_s=30)
        code, third = await sales.call("POST", f"/api/calls/{ed_call}/supervise",
                                       {"mode": "whisper", "endpoint": "PJSIP/supervisor2"})
        assert code == 201, third
        ended = await session_state(sales, third["id"], state="ended")
        assert ended["end_reason"] == "not_answered" and ended["started_at"] is None, ended
        unanswered.cancel()
        await asyncio.gather(unanswered, return_exceptions=True)

        # the agent's call ends first: the session ends with it
        supervisor = await start_agent(SUPERVISOR1_PORT, 300, 0, timeout_s=60)
        code, second = await sales.call("POST", f"/api/calls/{ada_call}/supervise", {"mode": "listen"})
        assert code == 201, second
        await session_state(sales, second["id"], state="active")
        caller_run, agent_run = await asyncio.gather(*ada_tasks)
        assert caller_run.returncode == 0 and agent_run.returncode == 0, (caller_run.output, agent_run.output)
        ended = await session_state(sales, second["id"], state="ended")
        assert ended["end_reason"] == "agent_call_ended", ended
        assert (await supervisor).returncode == 0

        caller_run, agent_run = await asyncio.gather(*ed_tasks)
        assert caller_run.returncode == 0 and agent_run.returncode == 0, (caller_run.output, agent_run.output)

        async def three_ends():  # the audit rows are written by the service's audit writer, just after the end
            code, audit = await admin.call("GET", "/api/audit?action=supervision.end")
            return audit if code == 200 and isinstance(audit, list) and len(audit) == 3 else None
        audit = await eventually(three_ends, 10, 0.2, what="three supervision.end audit rows")
        assert {entry["detail"]["end_reason"] for entry in audit} == {
            "ended_by_request", "not_answered", "agent_call_ended"}, audit

    await asyncio.sleep(0.5)
    entries = await audit_entries(sqlite_url)
    mine = [e for e in entries if e.action.startswith("supervision.")]
    denied = {(e.actor, e.object_id) for e in mine if e.outcome is Outcome.DENIED}
    assert denied == {("sup.support", ada_call), ("sup.sales", ada_call), ("sup.sales", "1.999")}, denied
    assert ("ada", "auth.forbidden") in {(e.actor, e.action) for e in entries}
    joined = [e for e in mine if e.action == "supervision.joined"]
    assert len(joined) == 2 and all(e.detail["spyee_uniqueid"] == e.detail["target_uniqueid"] for e in joined)
    assert all(e.detail["spyee_channel"].startswith("PJSIP/agent1001-") for e in joined), joined  # never ed's
    assert ed_call not in {e.detail["call_id"] for e in joined}
    changes = [e for e in mine if e.action == "supervision.mode_change"]
    assert [(e.detail["from"], e.detail["to"]) for e in reversed(changes)] == [("listen", "whisper"),
                                                                              ("whisper", "barge")]
    ends = {e.detail["session"]: e.detail for e in mine if e.action == "supervision.end"}
    assert {detail["end_reason"] for detail in ends.values()} == {"ended_by_request", "agent_call_ended",
                                                                  "not_answered"}
    assert ends[session_id]["mode_changes"][1]["to"] == "barge" and ends[session_id]["duration_s"] > 0


CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 440, 700, 1000  # each phone's voice
HEARD, UNHEARD = 1000.0, 150.0  # a tone's amplitude (of 8000 sent) that is heard, and the most that is not


async def test_who_hears_the_supervisor_listen_nobody_whisper_the_agent_barge_both(
        service: ServiceProcess, sandbox, tmp_path: Path, no_channels_left) -> None:
    """Each phone talks with its own tone; what each one receives is measured per tone, in each mode."""
    token = await add_user(service, "sup.sales", "--role", "supervisor", "--team", "sales")
    logs = {name: tmp_path / f"{name}.log" for name in ("caller", "agent", "supervisor")}
    caller, agent, supervisor = [await RtpPhone(hz, logs[name]).open() for name, hz in
                                 (("caller", CALLER_HZ), ("agent", AGENT_HZ), ("supervisor", SUPERVISOR_HZ))]
    heard: dict[str, dict[str, float]] = {}
    async with aiohttp.ClientSession() as http:
        admin, sales = Api(http, service, BOOTSTRAP), Api(http, service, token)
        assert (await admin.call("POST", "/api/agents/ada/login", {}))[0] == 200
        agent_phone = await start_phone(with_media_port(agent_scenario(300, 16_000), agent.port), ADA_PORT,
                                        timeout_s=60, message_log=logs["agent"])
        calling = asyncio.create_task(run_sipp(with_media_port(scenario([]), caller.port), "5002", "15550711",
                                               timeout_s=60, message_log=logs["caller"]))
        talking = [asyncio.create_task(caller.talk(19)), asyncio.create_task(agent.talk(17))]
        try:
            call_id = await eventually(lambda: caller_channel_uniqueid(sandbox, "15550711"), 10, 0.2, what="caller")
            await eventually(lambda: agent.heard, 10, 0.1, what="the agent hears the caller")
            supervisor_phone = await start_phone(with_media_port(agent_scenario(300, 0), supervisor.port),
                                                 SUPERVISOR1_PORT, timeout_s=60, message_log=logs["supervisor"])
            code, session = await sales.call("POST", f"/api/calls/{call_id}/supervise", {"mode": "listen"})
            assert code == 201, session
            talking.append(asyncio.create_task(supervisor.talk(12)))
            await session_state(sales, session["id"], state="active")
            for mode in ("listen", "whisper", "barge"):
                if mode != "listen":
                    assert (await sales.call("PATCH", f"/api/supervision/{session['id']}", {"mode": mode}))[0] == 202
                    await session_state(sales, session["id"], mode=mode)
                await asyncio.sleep(0.8)  # the mode's audio settles
                since = time.monotonic()
                await asyncio.sleep(1.5)
                until = time.monotonic()
                heard[mode] = {
                    "supervisor<-caller": supervisor.amplitude_of(CALLER_HZ, since, until),
                    "supervisor<-agent": supervisor.amplitude_of(AGENT_HZ, since, until),
                    "agent<-supervisor": agent.amplitude_of(SUPERVISOR_HZ, since, until),
                    "caller<-supervisor": caller.amplitude_of(SUPERVISOR_HZ, since, until),
                    "agent<-caller": agent.amplitude_of(CALLER_HZ, since, until),
                    "caller<-agent": caller.amplitude_of(AGENT_HZ, since, until)}
            print("tone amplitudes heard (of 8000 sent):", json.dumps(heard, indent=1))
            assert (await sales.call("DELETE", f"/api/supervision/{session['id']}"))[0] == 202
            await session_state(sales, session["id"], state="ended")
            assert (await supervisor_phone).returncode == 0
            caller_run, agent_run = await asyncio.gather(calling, agent_phone)
            assert caller_run.returncode == 0 and agent_run.returncode == 0, (caller_run.output, agent_run.output)
        finally:
            for task in talking:
                task.cancel()
            await asyncio.gather(*talking, return_exceptions=True)
            for phone in (caller, agent, supervisor):
                phone.close()
    for mode, amplitudes in heard.items():  # the conversation goes on, and the supervisor hears both sides
        assert min(amplitudes[k] for k in ("agent<-caller", "caller<-agent", "supervisor<-caller",
                                           "supervisor<-agent")) > HEARD, (mode, amplitudes)
    assert heard["listen"]["agent<-supervisor"] < UNHEARD and heard["listen"]["caller<-supervisor"] < UNHEARD, heard
    assert heard["whisper"]["agent<-supervisor"] > HEARD and heard["whisper"]["caller<-supervisor"] < UNHEARD, heard
    assert heard["barge"]["agent<-supervisor"] > HEARD and heard["barge"]["caller<-supervisor"] > HEARD, heard


async def test_a_restart_mid_session_adopts_the_live_session_and_closes_the_one_that_ended_meanwhile(
        sandbox, ami_secret: str, sqlite_url: str, tmp_path: Path, no_channels_left) -> None:
    """kill -9 of the service during two sessions on one real call: one supervisor stays on the line, the other
    hangs up while the service is down. The restarted service finds both in the audit trail and Asterisk."""
    first = await _service(ami_secret, sqlite_url, tmp_path).start(acd_config=tmp_path / "acd.yaml")
    second: ServiceProcess | None = None
    token = await add_user(first, "sup.sales", "--role", "supervisor", "--team", "sales")
    try:
        async with aiohttp.ClientSession() as http:
            admin, sales = Api(http, first, BOOTSTRAP), Api(http, first, token)
            assert (await admin.call("POST", "/api/agents/ada/login", {}))[0] == 200
            call_id, call_tasks = await talking(sandbox, "15550721", ADA_PORT, 20)
            await asyncio.sleep(1.5)
            staying = await start_agent(SUPERVISOR1_PORT, 300, 0, timeout_s=60)
            leaving = await start_agent(SUPERVISOR2_PORT, 300, 5000, timeout_s=60)  # hangs up 5 s after answering
            code, kept = await sales.call("POST", f"/api/calls/{call_id}/supervise", {"mode": "listen"})
            assert code == 201, kept
            code, gone = await sales.call("POST", f"/api/calls/{call_id}/supervise",
                                          {"mode": "listen", "endpoint": "PJSIP/supervisor2"})
            assert code == 201, gone
            await session_state(sales, kept["id"], state="active")
            await session_state(sales, gone["id"], state="active")
            assert (await sales.call("PATCH", f"/api/supervision/{kept['id']}", {"mode": "whisper"}))[0] == 202
            await session_state(sales, kept["id"], mode="whisper")
            await asyncio.sleep(0.5)  # the audit entries are written
            await first.kill_9()
            assert (await leaving).returncode == 0  # the second supervisor hangs up while nobody watches

            second = await _service(ami_secret, sqlite_url, tmp_path).start()
            sales = Api(http, second, token)
            adopted = await session_state(sales, kept["id"], state="active")
            assert adopted["mode"] == "whisper" and adopted["agent"] == "ada", adopted
            closed = await session_state(sales, gone["id"], state="ended")  # closed from the trail at the restart
            assert closed["end_reason"] == "ended_while_service_down", closed
            assert (await sales.call("PATCH", f"/api/supervision/{kept['id']}", {"mode": "barge"}))[0] == 202
            await session_state(sales, kept["id"], mode="barge")
            assert (await sales.call("DELETE", f"/api/supervision/{kept['id']}"))[0] == 202
            ended = await session_state(sales, kept["id"], state="ended")
            assert ended["end_reason"] == "ended_by_request", ended
            assert (await staying).returncode == 0
            caller_run, agent_run = await asyncio.gather(*call_tasks)
            assert caller_run.returncode == 0 and agent_run.returncode == 0, (caller_run.output, agent_run.output)
    finally:
        if second is not None:
            assert await second.stop() == 0, second.log_tail()
    ends = {e.detail["session"]: e.detail for e in await audit_entries(sqlite_url) if e.action == "supervision.end"}
    assert ends[gone["id"]]["end_reason"] == "ended_while_service_down" and ends[gone["id"]]["recovered"], ends
    assert ends[kept["id"]]["end_reason"] == "ended_by_request"
    # the whole session's changes: the first run's (from the audit trail) and the restarted one's
    assert [(c["from"], c["to"]) for c in ends[kept["id"]]["mode_changes"]] == [("listen", "whisper"),
                                                                               ("whisper", "barge")], ends
    assert ends[kept["id"]]["started_at"] == next(e.at for e in await audit_entries(sqlite_url)
                                                  if e.action == "supervision.joined"
                                                  and e.detail["session"] == kept["id"]).isoformat()


def keys(text: str, first_ms: int) -> list[tuple[int, str]]:
    """Keys pressed one after the other (400 ms apart), the first `first_ms` after the previous one."""
    return [(first_ms if index == 0 else 400, key) for index, key in enumerate(text)]


async def test_the_supervision_line_with_a_pin_and_the_agents_number_listens_then_whispers_by_key(
        service: ServiceProcess, sandbox, sqlite_url: str, no_channels_left) -> None:
    """*71 from the supervisor's own phone: a wrong PIN, the right one, an agent number that only shares a prefix
    with ada's (100), ada's (1001); then the supervisor presses 5 to whisper and hangs up. A supervisor of another
    team gets nothing for the same keys."""
    token = await add_user(service, "sup.sales", "--role", "supervisor", "--team", "sales")
    code, out = await service.cli("users", "set", "sup.sales", "--phone-pin-stdin", stdin="4321\n")
    assert code == 0, out
    code, out = await service.cli("users", "add", "sup.support", "--role", "supervisor", "--team", "support",
                                  "--phone-pin-stdin", stdin="8765\n")
    assert code == 0, out
    async with aiohttp.ClientSession() as http:
        admin, sales = Api(http, service, BOOTSTRAP), Api(http, service, token)
        assert (await admin.call("POST", "/api/agents/ada/login", {}))[0] == 200
        call_id, call_tasks = await talking(sandbox, "15550731", ADA_PORT, 36)
        await asyncio.sleep(1.5)
        refused = await place_agent_call("supervisor2", "*71", keys("8765#", 1000) + keys("1001#", 1500),
                                         hangup_after_ms=1500, timeout_s=30)  # sup.support's phone: not its team
        assert refused.returncode == 0, refused.output
        line = await place_agent_call("supervisor1", "*71",
                                      keys("1111#", 1200) + keys("4321#", 2500) + keys("100#", 1300)
                                      + keys("1001#", 5500) + keys("5", 2500), hangup_after_ms=2000, timeout_s=40)
        assert line.returncode == 0, line.output
        code, listed = await sales.call("GET", "/api/supervision?all=1")
        sessions = [s for s in listed["sessions"] if s["call_id"] == call_id]
        assert len(sessions) == 1, listed
        session = await session_state(sales, sessions[0]["id"], state="ended")
        assert session["endpoint"] == "PJSIP/supervisor1" and session["agent"] == "ada", session
        assert session["end_reason"] == "supervisor_hung_up" and session["mode"] == "whisper", session
        assert [(c["from"], c["to"], c["by"]) for c in session["mode_changes"]] == [("listen", "whisper", "phone")]
        caller_run, agent_run = await asyncio.gather(*call_tasks)
        assert caller_run.returncode == 0 and agent_run.returncode == 0, (caller_run.output, agent_run.output)
    await asyncio.sleep(0.5)
    starts = [e for e in await audit_entries(sqlite_url) if e.action == "supervision.start"]
    assert {(e.actor, e.outcome, e.detail.get("reason")) for e in starts} == {
        ("sup.support", Outcome.DENIED, "unknown_call"), ("sup.sales", Outcome.DENIED, "unknown_call"),
        ("sup.sales", Outcome.ALLOWED, None)}, starts
    assert [e.detail["via"] for e in starts if e.outcome is Outcome.ALLOWED] == ["phone"]
