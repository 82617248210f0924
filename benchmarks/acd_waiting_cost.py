"""What a waiting caller costs the service per second, as the queue grows: N callers on hold, no agent free.

One agent is logged in and paused, so callers queue (the queue is staffed) and nobody is offered a call. For
each N (default 25, 50, 100, 200) N SIPp callers dial 5002 (a flow straight into the ACD queue) and wait on
music on hold in their own AGI session. Once all N are waiting, the service's CPU and Asterisk's are measured
for `--window` seconds, with the AMI events the service's AMI user receives meanwhile (counted by an observer
logged in as the same user, so it gets the same filtered events). The service's CPU over the same window
with nobody waiting is measured first and subtracted: what is left is the cost of the waiting callers.

Printed per N: the service's CPU per waiting-caller-second (microseconds; flat as N grows means no work per
caller per second that grows with the queue), its AMI events per waiting-caller-second, and Asterisk's CPU per
waiting-caller-second (music on hold is Asterisk's work). Needs root (sandbox).

    .venv/bin/python benchmarks/acd_waiting_cost.py --callers 25,50,100,200 --window 15
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.acd_setup import API_TOKEN as TOKEN  # noqa: E402
from benchmarks.acd_setup import queue_flow, start_acd_bench  # noqa: E402
from benchmarks.ivr_throughput import cpu_seconds  # noqa: E402
from callcontrol.devtools.sipp import run_sipp, scenario  # noqa: E402
from tests.integration.harness import AmiObserver  # noqa: E402
from tests.support.polling import eventually  # noqa: E402

ACD = """\
agents:
  - {id: a1001, name: Agent 1001, endpoint: PJSIP/agent1001}
queues:
  - {id: bench, name: Bench, strategy: longest_idle, ring_timeout_s: 10, wrap_up_s: 0, max_wait_s: 600}
"""
ENTRY_RATE = 50  # callers per second while the queue fills
HOLD_S = 26  # each caller's wait (the flow's max_wait_s): the caller scenario gives up 30 s after its answer


async def waiting_now(http: aiohttp.ClientSession, port: int) -> int:
    async with http.get(f"http://127.0.0.1:{port}/api/queues/bench") as response:
        return len((await response.json())["calls"])


async def measure(window_s: float, service: psutil.Process, asterisk: psutil.Process, ami: AmiObserver
                  ) -> tuple[float, float, int]:
    """(service CPU s, Asterisk CPU s, AMI events) over the window."""
    seen, svc, ast = len(ami.seen), cpu_seconds(service), cpu_seconds(asterisk)
    await asyncio.sleep(window_s)
    return cpu_seconds(service) - svc, cpu_seconds(asterisk) - ast, len(ami.seen) - seen


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", default="25,50,100,200", help="queue sizes to measure, ascending")
    parser.add_argument("--window", type=float, default=15, help="seconds measured once all callers wait")
    args = parser.parse_args()
    sizes = [int(n) for n in args.callers.split(",")]
    if max(sizes) / ENTRY_RATE + args.window + 2 > HOLD_S:
        parser.error(f"the largest queue must fill and be measured within {HOLD_S} s")

    setup = await start_acd_bench(queue_flow(max_wait_s=HOLD_S), ACD, "acd-waiting-cost")
    try:
        port = setup.service.http_port
        assert setup.service.process is not None
        service_ps = psutil.Process(setup.service.process.pid)
        asterisk_ps = next(p for p in psutil.process_iter(["name"]) if p.info["name"] == "asterisk")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http, \
                AmiObserver(setup.secret) as ami:
            for action, body in (("login", None), ("pause", {"reason": "benchmark"})):
                async with http.post(f"http://127.0.0.1:{port}/api/agents/a1001/{action}", json=body) as response:
                    assert response.status == 200, await response.text()
            idle_svc, _, _ = await measure(args.window, service_ps, asterisk_ps, ami)
            print(f"nobody waiting: service {1000 * idle_svc / args.window:.2f} ms CPU per second")
            print(f"{'waiting':>8}{'svc ms/s':>10}{'svc us per caller-s':>21}{'AMI ev per caller-s':>21}"
                  f"{'ast us per caller-s':>21}")
            for n in sizes:
                callers = asyncio.create_task(run_sipp(scenario(), "5002", f"8400{n:05d}", calls=n, rate=ENTRY_RATE,
                                                       limit=n, timeout_s=HOLD_S + 60))
                try:
                    started = time.monotonic()
                    await eventually(lambda: _full(http, port, n), HOLD_S, 0.2, what=f"{n} callers waiting")
                    svc, ast, events = await measure(args.window, service_ps, asterisk_ps, ami)
                    still = await waiting_now(http, port)
                    assert still == n, f"{still} of {n} callers still waiting at the end of the window"
                    caller_s = n * args.window
                    print(f"{n:>8}{1000 * svc / args.window:>10.2f}{1e6 * (svc - idle_svc) / caller_s:>21.1f}"
                          f"{events / caller_s:>21.3f}{1e6 * ast / caller_s:>21.1f}"
                          f"    (filled in {time.monotonic() - started - args.window:.1f} s)", flush=True)
                finally:
                    await callers
                await eventually(lambda: setup.sandbox.active_channels() == 0, 60, 0.5, what="channels to drain")
    finally:
        await setup.stop()
    return 0


async def _full(http: aiohttp.ClientSession, port: int, n: int) -> bool:
    return await waiting_now(http, port) >= n


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
