"""The service's ACD against Asterisk's own Queue(), side by side: same 16 agent phones, same callers.

Sixteen SIPp agent phones (agent1001..agent1016 on 127.0.0.1:5101..5116, dialplan/pjsip.conf) answer after
`--ring-ms` and hang up after `--talk-ms`. At each call rate, alternating:
  5002 -> FastAGI -> callcontrol: a flow whose first node queues the caller in the ACD (longest idle agent)
  5003 -> Queue(baseline) in plain dialplan (queues.conf: leastrecent, ringinuse=no), the baseline
A call fails when SIPp reports it failed or it never reached an agent (the service's record is not
wait[answered]; for the baseline, no DialEnd ANSWER from the caller's channel). Also printed: the
callers an agent answered by Asterisk's own events (conn: distinct callers whose Dial() ended ANSWER; a caller
answered late can still fail in SIPp, which hangs up 30 s after its answer), the
largest number of channels an agent phone had at once (from Asterisk's own Newchannel/Hangup events; 1
means no phone was ever offered two calls), CPU per call of Asterisk and of the service, and the wall time.
Needs root (sandbox).

    .venv/bin/python benchmarks/acd_vs_queue.py --rates 4,8,12 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.acd_setup import API_TOKEN as TOKEN  # noqa: E402
from benchmarks.acd_setup import queue_flow, start_acd_bench  # noqa: E402
from benchmarks.ivr_throughput import cpu_seconds  # noqa: E402
from callcontrol.adapters.db.models import CallRow  # noqa: E402
from callcontrol.adapters.db.store import make_engine  # noqa: E402
from callcontrol.core.calls import path_label  # noqa: E402
from callcontrol.devtools.sandbox import AsteriskSandbox  # noqa: E402
from callcontrol.devtools.sipp import run_sipp, scenario, start_agent  # noqa: E402
from tests.integration.harness import AmiObserver, most_channels_per_phone  # noqa: E402
from tests.support.polling import eventually  # noqa: E402

AGENTS = range(1001, 1017)
ACD = "agents:\n" + "".join(f"  - {{id: a{n}, name: Agent {n}, endpoint: PJSIP/agent{n}}}\n" for n in AGENTS) + """\
queues:
  - {id: bench, name: Bench, strategy: longest_idle, ring_timeout_s: 10, wrap_up_s: 0, max_wait_s: 600}
"""
FLOW = queue_flow(max_wait_s=120)


@dataclass
class Run:
    target: str
    rate: float
    attempted: int
    successful: int
    failed: int
    unanswered: int
    connected: int  # callers an agent answered: their channel's Dial() ended ANSWER (Asterisk's DialEnd)
    most_per_phone: int
    asterisk_cpu_s: float
    service_cpu_s: float | None
    wall_s: float

    def row(self) -> str:
        per_call = lambda cpu: f"{1000 * cpu / max(self.successful, 1):8.2f}"  # noqa: E731
        service = "       -" if self.service_cpu_s is None else per_call(self.service_cpu_s)
        return (f"{self.target:<9}{self.rate:>6g}{self.attempted:>7}{self.successful:>7}{self.failed:>6}"
                f"{self.unanswered:>7}{self.connected:>6}{self.most_per_phone:>6}{per_call(self.asterisk_cpu_s)}"
                f"{service}"
                f"{self.wall_s:>8.1f}")

    @property
    def clean(self) -> bool:
        return self.failed == 0 and self.successful == self.attempted and self.unanswered == 0 \
            and self.most_per_phone <= 1


def answered_callers(events: list[dict[str, str]]) -> set[str]:
    """Callers an agent answered: a Dial() from the caller's channel (Uniqueid) ended ANSWER, whether app_queue's
    or the service's."""
    return {e.get("Uniqueid", "") for e in events if e.get("Event") == "DialEnd" and e.get("DialStatus") == "ANSWER"}


async def unanswered_in_records(engine, caller: str, expected: int) -> int:
    async def paths() -> list[list[str]] | None:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(CallRow.ivr_path).where(CallRow.caller_number == caller,
                                                                      CallRow.status == "ended"))).scalars()
            found = [[path_label(step) for step in path] for path in rows]
        return found if len(found) >= expected else None
    try:
        found = await eventually(paths, 30, 0.5, what="records")
    except AssertionError:
        found = []
    return expected - sum(1 for path in found if path == ["wait[answered]", "bye"])


async def one_run(target: str, number: str, rate: float, seconds: float, talk_ms: int, sandbox: AsteriskSandbox,
                  asterisk: psutil.Process, service: psutil.Process | None, engine, ami: AmiObserver) -> Run:
    calls = max(1, int(rate * seconds))
    caller = f"8{number}{int(rate * 10):05d}"
    seen_before = len(ami.seen)
    before_asterisk = cpu_seconds(asterisk)
    before_service = cpu_seconds(service) if service else None
    started = time.monotonic()
    result = await run_sipp(scenario(), number, caller, calls=calls, rate=rate, limit=calls,
                            timeout_s=seconds + 180)
    await eventually(lambda: sandbox.active_channels() == 0, 120, 0.5, what="channels to drain")
    wall = time.monotonic() - started
    events = ami.seen[seen_before:]
    if service is not None:
        unanswered = await unanswered_in_records(engine, caller, result.successful)
    else:
        unanswered = max(0, result.successful - len(answered_callers(events)))
    return Run(target, rate, calls, result.successful, result.failed, unanswered, len(answered_callers(events)),
               max(most_channels_per_phone(events).values(), default=0),
               cpu_seconds(asterisk) - before_asterisk,
               (cpu_seconds(service) - before_service) if service and before_service is not None else None, wall)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="4,8,12", help="call rates (calls/s), ascending")
    parser.add_argument("--seconds", type=float, default=15, help="how long each rate is offered")
    parser.add_argument("--ring-ms", type=int, default=200)
    parser.add_argument("--talk-ms", type=int, default=1000)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    setup = await start_acd_bench(FLOW, ACD, "acd-vs-queue")
    service, sandbox, secret, url = setup.service, setup.sandbox, setup.secret, setup.database_url
    engine = make_engine(url)
    total = int(sum(rates) * args.seconds * 2) + 50
    phones = [await start_agent(5100 + n - 1000, args.ring_ms, args.talk_ms, calls=total, timeout_s=3600)
              for n in AGENTS]
    runs: list[Run] = []
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            for n in AGENTS:
                async with http.post(f"http://127.0.0.1:{service.http_port}/api/agents/a{n}/login") as response:
                    assert response.status == 200, await response.text()
        assert service.process is not None
        service_ps = psutil.Process(service.process.pid)
        asterisk_ps = next(p for p in psutil.process_iter(["name"]) if p.info["name"] == "asterisk")
        print(f"16 agent phones, ring {args.ring_ms} ms, talk {args.talk_ms} ms "
              f"(capacity about {16 / ((args.ring_ms + args.talk_ms) / 1000 + 0.2):.0f} calls/s)")
        print(f"{'target':<9}{'rate':>6}{'calls':>7}{'ok':>7}{'fail':>6}{'no-agt':>7}{'conn':>6}{'max/ph':>6}"
              f"{'ast ms':>8}{'svc ms':>8}{'wall s':>8}    (ms = CPU per successful call)", flush=True)
        async with AmiObserver(secret) as ami:
            for rate in rates:
                for target, number, proc in (("queue()", "5003", None), ("service", "5002", service_ps)):
                    run = await one_run(target, number, rate, args.seconds, args.talk_ms, sandbox, asterisk_ps,
                                        proc, engine, ami)
                    runs.append(run)
                    print(run.row(), flush=True)
        print()
        best = {}
        for target in ("queue()", "service"):
            best[target] = max((r.rate for r in runs if r.target == target and r.clean), default=0)
            print(f"{target}: highest rate with every caller answered by an agent and no phone offered two calls: "
                  f"{best[target]:g} calls/s")
        if best["queue()"]:
            print(f"ratio service / Queue(): {best['service'] / best['queue()']:.2f}")
    finally:
        for phone in phones:
            phone.cancel()
        await asyncio.gather(*phones, return_exceptions=True)
        await engine.dispose()
        await setup.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
