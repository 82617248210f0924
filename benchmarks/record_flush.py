"""What writing calls as they go costs: CPU and rows written for many concurrent calls stepping through IVRs.

N calls are open in a CallLog over the real RecordWriter and SQLite store; each takes an IVR step (a path
one node longer, the shape handle_call gives CallLog.walked) every --step-ms. Two modes, the same steps:
  end-only   the steps are not reported (how calls were recorded before: start and end only)
  as-it-goes each step marks the call dirty; the flusher writes dirty calls every --flush-s (the service's way)
Prints, per mode: steps taken, rows written, CPU ms of the process per call-second and per step, and the
record writer's batches. Asserts nothing.

    .venv/bin/python benchmarks/record_flush.py [--calls 200] [--seconds 10] [--step-ms 250] [--flush-s 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcontrol.adapters.db.schema import upgrade  # noqa: E402
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine  # noqa: E402
from callcontrol.core.calls import CallRecord, EndReason  # noqa: E402
from callcontrol.core.events import ChannelHungUp  # noqa: E402
from callcontrol.core.ivr import IvrState, PathStep  # noqa: E402
from callcontrol.services.call_log import CallLog  # noqa: E402
from callcontrol.services.ports import SystemClock  # noqa: E402
from callcontrol.services.record_writer import RecordWriter  # noqa: E402
from callcontrol.settings import REPO_ROOT  # noqa: E402


async def run(mode: str, calls: int, seconds: float, step_ms: int, flush_s: float) -> dict[str, float]:
    url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='cc-bench-')}/calls.sqlite3"
    await asyncio.to_thread(upgrade, REPO_ROOT / "migrations", url)
    engine = make_engine(url)
    writer = RecordWriter(SqlCallRecordStore(engine))
    clock = SystemClock()
    log = CallLog(writer, clock)
    tasks = [asyncio.create_task(writer.run())]
    if mode == "as-it-goes":
        tasks.append(asyncio.create_task(log.run_flusher(flush_s)))
    ids = [f"1796170000.{n}" for n in range(calls)]
    for uniqueid in ids:
        log.call_started(CallRecord(call_id=uniqueid, uniqueid=uniqueid, channel="PJSIP/trunk-1", caller_number="1",
                                    caller_name="x", dialed_number="5000", started_at=clock.now()))
    await writer.drain(30)
    written_before = writer.written
    steps = 0
    paths: dict[str, tuple[PathStep, ...]] = {uniqueid: () for uniqueid in ids}
    cpu0, wall0 = time.process_time(), time.monotonic()
    while time.monotonic() - wall0 < seconds:
        tick = time.monotonic()
        for uniqueid in ids:
            paths[uniqueid] = (*paths[uniqueid][-30:], PathStep("menu", "digit", datetime.now(UTC), "1"))
            if mode == "as-it-goes":
                log.walked(uniqueid, IvrState("menu", path=paths[uniqueid]))
            steps += 1
        await asyncio.sleep(max(0.0, step_ms / 1000 - (time.monotonic() - tick)))
    for uniqueid in ids:  # every call ends: its final write, in both modes
        log.ivr_ended(uniqueid, EndReason.FLOW_HANGUP, [step.as_dict() for step in paths[uniqueid]])
        log.apply(ChannelHungUp(uniqueid, uniqueid, 16, "Normal Clearing", clock.now()))
    await writer.drain(60)
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await engine.dispose()
    return {"steps": steps, "rows": writer.written - written_before, "cpu_ms_per_call_s": 1000 * cpu / (calls * wall),
            "cpu_us_per_step": 1e6 * cpu / max(steps, 1), "flushes": log.flushes, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--step-ms", type=int, default=250)
    parser.add_argument("--flush-s", type=float, default=0.5)
    args = parser.parse_args()
    print(f"{args.calls} calls, a step each every {args.step_ms} ms for {args.seconds:g} s, flush every "
          f"{args.flush_s:g} s (SQLite)")
    print(f"{'mode':<12}{'steps':>8}{'rows':>8}{'flushes':>9}{'CPU ms/call-s':>15}{'CPU us/step':>13}")
    for mode in ("end-only", "as-it-goes"):
        figures = asyncio.run(run(mode, args.calls, args.seconds, args.step_ms, args.flush_s))
        print(f"{mode:<12}{figures['steps']:>8.0f}{figures['rows']:>8.0f}{figures['flushes']:>9.0f}"
              f"{figures['cpu_ms_per_call_s']:>15.3f}{figures['cpu_us_per_step']:>13.1f}")


if __name__ == "__main__":
    main()
