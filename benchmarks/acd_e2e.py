"""ACD end to end in the sandbox: decision-to-INVITE latency, and the estimated wait against the actual wait.

Three runs against the sandbox Asterisk and the real service (SQLite), agent phones being SIPp UAS that log
every message with its time (SIPp -trace_msg):
1. an agent becomes available: a caller waits while ada is paused; the time from the resume request (the
   HTTP POST leaving this script) to ada's phone receiving the INVITE;
2. a call enters the queue with an agent free: from the service's `acd.queued` log line to the INVITE;
3. (run first) callers arriving faster than two agents answer (3 s talks): each caller's estimated wait when
   it entered (the figure announcements would say) against the wait it actually had (`acd.answered` lines).
Prints p50/p95/max and the errors; asserts nothing. Needs root (sandbox Asterisk).

    .venv/bin/python benchmarks/acd_e2e.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.acd_setup import API_TOKEN as TOKEN  # noqa: E402
from benchmarks.acd_setup import queue_flow, start_acd_bench  # noqa: E402
from callcontrol.devtools.sipp import invite_times, place_call, start_agent  # noqa: E402
from tests.support.polling import eventually  # noqa: E402
from tests.support.service_process import ServiceProcess  # noqa: E402

ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001}
  - {id: bob, name: Bob, endpoint: PJSIP/agent1002}
queues:
  - {id: bench, name: Bench, strategy: longest_idle, ring_timeout_s: 10, wrap_up_s: 0, max_wait_s: 600,
     expected_handle_s: 3}
"""
FLOW = queue_flow(max_wait_s=300)


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms "
            f"({len(ordered)} samples)")


class Bench:
    def __init__(self, service: ServiceProcess) -> None:
        self.service = service
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})

    async def post(self, path: str, body: dict | None = None) -> None:
        async with self.http.post(f"http://127.0.0.1:{self.service.http_port}{path}", json=body) as response:
            if response.status != 200:
                raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")

    async def get(self, path: str) -> object:
        async with self.http.get(f"http://127.0.0.1:{self.service.http_port}{path}") as response:
            return await response.json()

    async def waiting(self, count: int) -> None:
        async def enough() -> bool:
            queue = await self.get("/api/queues/bench")
            return sum(call["ringing"] is None for call in queue["calls"]) >= count
        await eventually(enough, 20, what=f"{count} callers waiting")

    async def agent_state(self, agent: str, state: str) -> None:
        async def reached() -> bool:
            return (await self.get(f"/api/agents/{agent}"))["state"] == state
        await eventually(reached, 20, what=f"{agent} {state}")


async def becoming_available(bench: Bench, rounds: int, workdir: Path) -> list[float]:
    log = workdir / "ada-available.log"
    phone = await start_agent(5101, 100, 300, calls=rounds, timeout_s=rounds * 10 + 30, message_log=log)
    await bench.post("/api/agents/ada/login")
    sent: list[datetime] = []
    try:
        for index in range(rounds):
            await bench.post("/api/agents/ada/pause", {"reason": "benchmark"})
            call = asyncio.create_task(place_call(f"155560{index:04d}", number="5002", timeout_s=30))
            await bench.waiting(1)
            sent.append(datetime.now(UTC))
            await bench.post("/api/agents/ada/resume")
            await call
            await bench.agent_state("ada", "available")
        await phone
    finally:
        phone.cancel()
        await asyncio.gather(phone, return_exceptions=True)
        await bench.post("/api/agents/ada/logout")
    received = invite_times(log)
    return [(got - asked).total_seconds() * 1000 for asked, got in zip(sent, received, strict=True)]


async def entering_with_an_agent_free(bench: Bench, rounds: int, workdir: Path) -> list[float]:
    log = workdir / "ada-free.log"
    phone = await start_agent(5101, 100, 300, calls=rounds, timeout_s=rounds * 10 + 30, message_log=log)
    await bench.post("/api/agents/ada/login")
    try:
        for index in range(rounds):
            await place_call(f"155570{index:04d}", number="5002", timeout_s=30)
            await bench.agent_state("ada", "available")
        await phone
    finally:
        phone.cancel()
        await asyncio.gather(phone, return_exceptions=True)
        await bench.post("/api/agents/ada/logout")
    queued = [datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
              for line in bench.service.log_lines() if line.get("event") == "acd.queued"][-rounds:]
    received = invite_times(log)
    return [(got - entered).total_seconds() * 1000 for entered, got in zip(queued, received, strict=True)]


async def estimated_against_actual(bench: Bench, callers: int) -> list[tuple[float, float]]:
    phones = [await start_agent(port, 100, 3000, calls=callers, timeout_s=callers * 5 + 60) for port in (5101, 5102)]
    for agent in ("ada", "bob"):
        await bench.post(f"/api/agents/{agent}/login")
    try:
        calls = []
        for index in range(callers):
            calls.append(asyncio.create_task(place_call(f"155580{index:04d}", number="5002", timeout_s=120)))
            await asyncio.sleep(0.7)
        await asyncio.gather(*calls)
    finally:
        for phone in phones:
            phone.cancel()
        await asyncio.gather(*phones, return_exceptions=True)
        for agent in ("ada", "bob"):
            await bench.post(f"/api/agents/{agent}/logout")
    answered = [line for line in bench.service.log_lines() if line.get("event") == "acd.answered"][-callers:]
    return [(line["estimated_wait_s"], line["waited_s"]) for line in answered if line["estimated_wait_s"] is not None]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--callers", type=int, default=20)
    args = parser.parse_args()
    setup = await start_acd_bench(FLOW, ACD, "acd-e2e")
    service, workdir = setup.service, setup.workdir
    bench = Bench(service)
    try:
        # first, while the queue's handle-time history holds only these 3 s calls
        estimates = await estimated_against_actual(bench, args.callers)
        available = await becoming_available(bench, args.rounds, workdir)
        entering = await entering_with_an_agent_free(bench, args.rounds, workdir)
    finally:
        await bench.http.close()
        await setup.stop()
    print("agent becomes available (resume request sent) -> its phone receives the INVITE:", percentiles(available))
    print("call enters the queue with an agent free (acd.queued) -> INVITE:", percentiles(entering))
    errors = [estimated - actual for estimated, actual in estimates]
    print(f"estimated wait at entry vs actual wait, {len(estimates)} callers answered by 2 agents (3 s talks, "
          f"a caller every 0.7 s): mean actual {statistics.mean(a for _, a in estimates):.1f} s, "
          f"mean error {statistics.mean(errors):+.1f} s, mean absolute error "
          f"{statistics.mean(abs(e) for e in errors):.1f} s")
    for estimated, actual in estimates:
        print(f"  estimated {estimated:5.1f} s  actual {actual:5.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
