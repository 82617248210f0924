"""Live supervision figures on real calls: supervise request -> INVITE, -> first audio, mode change -> first audio.

One caller talks with ada through the sandbox Asterisk 22 and the real service (SQLite) for the whole run; each
round is one supervision session on that call, by a real supervisor user (`callcontrol users add`) whose phone
PJSIP/supervisor1 is a SIPp UAS answering after SUPERVISOR_RING_MS. Every phone's media is an RtpPhone
(callcontrol/devtools/rtp_phone.py) talking its own tone; a tone is heard in a 20 ms frame when its amplitude there
is above HEARD (of 8000 sent). Per round:
1. POST /api/calls/{id}/supervise {mode: listen} sent -> the supervisor phone's INVITE (SIPp -trace_msg log);
2. that request -> the session `active` in GET /api/supervision/{id} (polled every POLL_S), and -> the first frame
   of the caller's tone at the supervisor's phone (ChanSpy running: includes the phone's SUPERVISOR_RING_MS, and
   the 100 ms ChanSpy waits for a key before it first looks for its target, apps/app_chanspy.c common_exec);
3. PATCH listen->whisper sent -> the first frame of the supervisor's tone at the agent's phone, and PATCH
   whisper->barge sent -> the first frame of it at the caller's (each checked unheard there just before);
4. the service's CPU (user + system, psutil) per session, less what the call alone costs it in the same time.
Prints a table and the machine's context; asserts nothing. Needs root (sandbox Asterisk).

    .venv/bin/python benchmarks/supervision.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.acd_setup import API_TOKEN, queue_flow, start_acd_bench  # noqa: E402
from callcontrol.devtools.rtp_phone import RtpPhone, with_media_port  # noqa: E402
from callcontrol.devtools.sandbox import AsteriskSandbox  # noqa: E402
from callcontrol.devtools.sipp import agent_scenario, invite_times, run_sipp, scenario, start_phone  # noqa: E402
from tests.support.polling import eventually  # noqa: E402
from tests.support.recorded_calls import add_user  # noqa: E402

ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001, teams: [sales]}
queues:
  - {id: bench, name: Bench, ring_timeout_s: 10, wrap_up_s: 0, max_wait_s: 60, teams: [sales]}
"""
ADA_PORT, SUPERVISOR_PORT = 5101, 5120  # PJSIP/agent1001 and PJSIP/supervisor1 (dialplan-sandbox/pjsip_sandbox.conf)
CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 440, 700, 1000  # each phone's voice
HEARD = 1000.0  # a tone's amplitude in one 20 ms frame (of 8000 sent) that counts as heard
SUPERVISOR_RING_MS = 20
POLL_S = 0.02
ROUND_BUDGET_S = 8  # the call lasts rounds * this + CALL_MARGIN_S, ended from Asterisk after the last round
CALL_MARGIN_S = 40
WAIT_S = 5.0  # for any one thing in a round


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def row(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<62} {'no samples':>30}"
    return (f"{name:<62} {statistics.median(values):8.1f} {percentile(values, 0.95):8.1f} {max(values):8.1f} "
            f"{len(values):5d}")


def long_caller(seconds: float) -> str:
    """The caller scenario (sipp/caller.xml) with no keys, waiting up to `seconds` for Asterisk's BYE."""
    xml = scenario([])
    short = '<recv request="BYE" timeout="30000"/>'
    if short not in xml:
        raise RuntimeError("sipp/caller.xml no longer waits for BYE as this benchmark expects")
    return xml.replace(short, f'<recv request="BYE" timeout="{int(seconds * 1000)}"/>')


def ack_time(message_log: Path) -> datetime | None:
    """When the first ACK (the answer's) reached the phone, from its SIPp message log (UTC, as invite_times)."""
    stamp: datetime | None = None
    for line in message_log.read_text(errors="replace").splitlines():
        if line.startswith("-----") and line.count(" ") >= 2:
            stamp = datetime.strptime(" ".join(line.split()[1:3]), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        elif line.startswith("ACK ") and stamp is not None:
            return stamp
    return None


def caller_channel(sandbox: AsteriskSandbox, caller: str) -> tuple[str, str] | None:
    """(uniqueid, channel name) of the trunk channel calling from `caller`, from Asterisk's channel list."""
    for line in sandbox.cli("core show channels concise").splitlines():
        fields = line.split("!")
        if len(fields) > 13 and fields[0].startswith("PJSIP/trunk-") and fields[7] == caller:
            return fields[-1].strip(), fields[0]
    return None


@dataclass
class Figures:
    invite: list[float] = field(default_factory=list)        # request -> INVITE at the supervisor phone
    active: list[float] = field(default_factory=list)        # request -> GET shows active
    audio: list[float] = field(default_factory=list)         # request -> first caller frame at the supervisor
    answer: list[float] = field(default_factory=list)        # INVITE -> the ACK of the phone's 200 OK
    ack_audio: list[float] = field(default_factory=list)     # that ACK -> the first caller frame
    whisper: list[float] = field(default_factory=list)       # PATCH whisper -> first supervisor frame at the agent
    barge: list[float] = field(default_factory=list)         # PATCH barge -> first supervisor frame at the caller
    cpu_ms: list[float] = field(default_factory=list)        # service CPU per session, less the call's own
    polls: list[int] = field(default_factory=list)           # API requests the benchmark made per round
    levels: dict[str, list[float]] = field(default_factory=lambda: {"whisper": [], "listen": []})
    errors: list[str] = field(default_factory=list)


class Api:
    def __init__(self, http: aiohttp.ClientSession, port: int, token: str) -> None:
        self.http, self.base, self.token, self.requests = http, f"http://127.0.0.1:{port}", token, 0

    async def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        self.requests += 1
        async with self.http.request(method, self.base + path, json=body,
                                     headers={"Authorization": f"Bearer {self.token}"}) as response:
            return response.status, await response.json(content_type=None) or {}

    async def until(self, session_id: str, key: str, value: str) -> float:
        """Poll the session until `key` is `value`; the monotonic time it was first seen so."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            code, body = await self.call("GET", f"/api/supervision/{session_id}")
            if code == 200 and body.get(key) == value:
                return time.monotonic()
            await asyncio.sleep(POLL_S)
        raise TimeoutError(f"session {session_id} never {key}={value}")


async def heard(phone: RtpPhone, hz: float, since: float, what: str) -> float:
    """The first frame at or after `since` that carried `hz` (waits up to WAIT_S for it)."""
    deadline = time.monotonic() + WAIT_S
    while (at := phone.first_heard(hz, since, HEARD)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not heard within {WAIT_S} s")
        await asyncio.sleep(0.02)
    return at


async def one_round(index: int, api: Api, call_id: str, caller: RtpPhone, agent: RtpPhone, service: psutil.Process,
                    idle_cpu_per_s: float, workdir: Path, figures: Figures) -> None:
    log = workdir / f"supervisor-{index}.log"
    supervisor = await RtpPhone(SUPERVISOR_HZ, log).open()
    phone = await start_phone(with_media_port(agent_scenario(SUPERVISOR_RING_MS, 0), supervisor.port),
                              SUPERVISOR_PORT, timeout_s=60, message_log=log)
    talking: asyncio.Task[None] | None = None
    session_id = None
    requests_before, cpu_before, round_start = api.requests, service.cpu_times(), time.monotonic()
    try:
        sent_wall, sent = datetime.now(UTC), time.monotonic()
        code, body = await api.call("POST", f"/api/calls/{call_id}/supervise", {"mode": "listen"})
        if code != 201:
            raise RuntimeError(f"supervise: {code} {body}")
        session_id = body["id"]
        talking = asyncio.create_task(supervisor.talk(ROUND_BUDGET_S * 2))
        active = await api.until(session_id, "state", "active")
        first_audio = await heard(supervisor, CALLER_HZ, sent, "the caller at the supervisor")
        await asyncio.sleep(0.6)  # listen: the agent must not hear the supervisor
        quiet_since = max(active, first_audio) + 0.1
        figures.levels["listen"] += agent.frame_amplitudes(SUPERVISOR_HZ, quiet_since, time.monotonic())
        if (leak := agent.first_heard(SUPERVISOR_HZ, quiet_since, HEARD)) is not None:
            raise RuntimeError(f"listen: the agent heard the supervisor {leak - quiet_since:.2f} s in")
        whisper_sent = time.monotonic()
        code, body = await api.call("PATCH", f"/api/supervision/{session_id}", {"mode": "whisper"})
        if code != 202:
            raise RuntimeError(f"whisper: {code} {body}")
        whispered = await heard(agent, SUPERVISOR_HZ, whisper_sent, "the supervisor at the agent")
        await api.until(session_id, "mode", "whisper")
        await asyncio.sleep(0.5)  # whisper: the caller must not hear the supervisor
        figures.levels["whisper"] += agent.frame_amplitudes(SUPERVISOR_HZ, whispered + 0.1, time.monotonic())
        if (leak := caller.first_heard(SUPERVISOR_HZ, whisper_sent, HEARD)) is not None:
            raise RuntimeError(f"whisper: the caller heard the supervisor {leak - whisper_sent:.2f} s in")
        barge_sent = time.monotonic()
        code, body = await api.call("PATCH", f"/api/supervision/{session_id}", {"mode": "barge"})
        if code != 202:
            raise RuntimeError(f"barge: {code} {body}")
        barged = await heard(caller, SUPERVISOR_HZ, barge_sent, "the supervisor at the caller")
        await api.until(session_id, "mode", "barge")
        code, body = await api.call("DELETE", f"/api/supervision/{session_id}")
        if code != 202:
            raise RuntimeError(f"end: {code} {body}")
        await api.until(session_id, "state", "ended")
        session_id = None
        run = await asyncio.wait_for(phone, WAIT_S)
        if run.returncode != 0:
            raise RuntimeError(f"supervisor phone: {run.output[-400:]}")
        cpu_after = service.cpu_times()
        spent = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        invites = invite_times(log)
        if len(invites) != 1:
            raise RuntimeError(f"{len(invites)} INVITEs at the supervisor phone")
        invite_ms = (invites[0] - sent_wall).total_seconds() * 1000
        acked = ack_time(log)
        if acked is None:
            raise RuntimeError("no ACK at the supervisor phone")
        ack_ms = (acked - sent_wall).total_seconds() * 1000
        figures.invite.append(invite_ms)
        figures.active.append((active - sent) * 1000)
        figures.audio.append((first_audio - sent) * 1000)
        figures.answer.append(ack_ms - invite_ms)
        figures.ack_audio.append((first_audio - sent) * 1000 - ack_ms)
        figures.whisper.append((whispered - whisper_sent) * 1000)
        figures.barge.append((barged - barge_sent) * 1000)
        figures.cpu_ms.append(1000 * (spent - idle_cpu_per_s * (time.monotonic() - round_start)))
        figures.polls.append(api.requests - requests_before)
    finally:
        if session_id is not None:  # a failed round: end its session before the next one
            await api.call("DELETE", f"/api/supervision/{session_id}")
            await asyncio.sleep(1)
        for task in (talking, phone):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in (talking, phone) if t is not None), return_exceptions=True)
        supervisor.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    load_before = os.getloadavg()
    setup = await start_acd_bench(queue_flow(max_wait_s=60), ACD, "supervision", extra_env={
        "CALLCONTROL_SUPERVISOR_PHONES": "sup.bench=PJSIP/supervisor1",
        "CALLCONTROL_SUPERVISION_RING_TIMEOUT_S": "5"})
    service, workdir, figures = setup.service, setup.workdir, Figures()
    call_s = args.rounds * ROUND_BUDGET_S + CALL_MARGIN_S
    logs = {name: workdir / f"{name}.log" for name in ("caller", "agent")}
    caller, agent = RtpPhone(CALLER_HZ, logs["caller"]), RtpPhone(AGENT_HZ, logs["agent"])
    await caller.open()
    await agent.open()
    tasks: list[asyncio.Task] = []
    started = time.monotonic()
    try:
        token = await add_user(service, "sup.bench", "--role", "supervisor", "--team", "sales")
        assert service.process is not None
        process = psutil.Process(service.process.pid)
        async with aiohttp.ClientSession() as http:
            admin, api = Api(http, service.http_port, API_TOKEN), Api(http, service.http_port, token)
            if (await admin.call("POST", "/api/agents/ada/login", {}))[0] != 200:
                raise RuntimeError("ada could not log in")
            tasks.append(await start_phone(with_media_port(agent_scenario(300, 0), agent.port), ADA_PORT,
                                           timeout_s=call_s + 30, message_log=logs["agent"]))
            tasks.append(asyncio.create_task(run_sipp(with_media_port(long_caller(call_s), caller.port), "5002",
                                                      "15550901", timeout_s=call_s + 30,
                                                      message_log=logs["caller"])))
            tasks += [asyncio.create_task(caller.talk(call_s + 10)), asyncio.create_task(agent.talk(call_s + 10))]
            call_id, channel = await eventually(lambda: caller_channel(setup.sandbox, "15550901"), 15, 0.2,
                                                what="the caller's channel")
            await heard(agent, CALLER_HZ, 0, "the caller at the agent")
            await asyncio.sleep(1)
            idle_before, idle_start = process.cpu_times(), time.monotonic()
            await asyncio.sleep(4)  # what the talking call alone costs the service
            idle_after = process.cpu_times()
            idle_cpu_per_s = ((idle_after.user + idle_after.system) - (idle_before.user + idle_before.system)) / (
                time.monotonic() - idle_start)
            for index in range(args.rounds):
                if time.monotonic() - started > call_s - ROUND_BUDGET_S:
                    figures.errors.append(f"rounds {index}..: the call's time ran out")
                    break
                try:
                    await one_round(index, api, call_id, caller, agent, process, idle_cpu_per_s, workdir, figures)
                except Exception as exc:  # noqa: BLE001 - a failed round is counted, the others go on
                    figures.errors.append(f"round {index}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.3)
            setup.sandbox.cli(f"channel request hangup {channel}")
            caller_run, agent_run = await asyncio.wait_for(asyncio.gather(tasks[1], tasks[0]), 20)
            if caller_run.returncode or agent_run.returncode:
                figures.errors.append(f"the call did not end cleanly: caller {caller_run.returncode}, "
                                      f"agent {agent_run.returncode}")
            await admin.call("POST", "/api/agents/ada/logout", {})
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        caller.close()
        agent.close()
        await setup.stop()
    load_after = os.getloadavg()
    print(f"live supervision, {args.rounds} sessions on one talking call (sandbox Asterisk 22, service on SQLite; "
          f"supervisor phone answers after {SUPERVISOR_RING_MS} ms; heard: one 20 ms frame > {HEARD:.0f} of 8000)")
    print(f"{'figure (ms)':<62} {'p50':>8} {'p95':>8} {'max':>8} {'n':>5}")
    print(row("supervise POST sent -> supervisor phone's INVITE", figures.invite))
    print(row("supervise POST sent -> GET shows active (polled 20 ms)", figures.active))
    print(row("supervise POST sent -> first caller frame at supervisor", figures.audio))
    print(row(f"  of which INVITE -> ACK (phone answers after {SUPERVISOR_RING_MS} ms)", figures.answer))
    print(row("  of which ACK -> first caller frame (ChanSpy waits 100 ms)", figures.ack_audio))
    print(row("PATCH listen->whisper sent -> first supervisor frame at agent", figures.whisper))
    print(row("PATCH whisper->barge sent -> first supervisor frame at caller", figures.barge))
    print(row("service CPU per session (less the call's own)", figures.cpu_ms))
    listen, whisper = figures.levels["listen"], figures.levels["whisper"]
    if listen and whisper:
        print(f"supervisor tone per frame at the agent: listen max {max(listen):.0f}, whisper median "
              f"{statistics.median(whisper):.0f}, whisper min {min(whisper):.0f} (threshold {HEARD:.0f})")
    if figures.polls:
        print(f"service CPU per session: mean {statistics.mean(figures.cpu_ms):.1f} ms (psutil counts 10 ms ticks); "
              f"it includes the benchmark's own API requests, {statistics.mean(figures.polls):.0f} a session (POST, "
              f"GET polls, 2 PATCH, DELETE); the call alone cost {1000 * idle_cpu_per_s:.1f} ms CPU/s")
    print(f"machine: {os.cpu_count()} CPUs, load average before {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; "
          f"run {time.monotonic() - started:.0f} s")
    print(f"errors: {len(figures.errors)}")
    for error in figures.errors:
        print(f"  {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
