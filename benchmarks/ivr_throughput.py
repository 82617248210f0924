"""IVR throughput: the service's FastAGI IVR vs the same menu in plain dialplan, side by side in one run.

Drives SIPp callers (digit 1 at 2.8 s: greeting, menu, sales prompt, goodbye; about 5.5 s a call) into the
sandbox Asterisk at increasing call rates, alternating the two targets at each rate:
  5000  -> FastAGI -> callcontrol (records every call in SQLite)
  5001  -> Answer/Playback/Read/Playback/Hangup in plain dialplan (the baseline)
For each run it prints calls attempted/succeeded/failed, call records written vs successful calls (lost
records), calls that did not take the digit-1 path (a late digit under load; the service's records, the
baseline's CallcontrolBaseline UserEvents), CPU milliseconds per
call for Asterisk and for the service process, and the wall time (longer than offered time + 5.5 s means
the machine ran late). Needs root (sandbox).

    .venv/bin/python benchmarks/ivr_throughput.py --rates 5,10,20,40 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcontrol.adapters.ami import AmiClient  # noqa: E402
from callcontrol.adapters.db.models import CallRow  # noqa: E402
from callcontrol.adapters.db.store import make_engine  # noqa: E402
from callcontrol.devtools.sandbox import AsteriskSandbox  # noqa: E402
from callcontrol.settings import REPO_ROOT  # noqa: E402
from callcontrol.devtools.sipp import run_sipp, scenario  # noqa: E402
from tests.support.polling import eventually  # noqa: E402
from tests.support.service_process import ServiceProcess  # noqa: E402

CALL_SECONDS = 5.5


@dataclass
class Run:
    target: str
    rate: float
    attempted: int
    successful: int
    failed: int
    records: int | None
    wrong: int | None
    asterisk_cpu_s: float
    service_cpu_s: float | None
    wall_s: float

    def row(self) -> str:
        per_call = lambda cpu: f"{1000 * cpu / max(self.successful, 1):8.2f}"  # noqa: E731
        lost = "-" if self.records is None else str(self.successful - self.records)
        wrong = "-" if self.wrong is None else str(self.wrong)
        service = "       -" if self.service_cpu_s is None else per_call(self.service_cpu_s)
        return (f"{self.target:<9}{self.rate:>6g}{self.attempted:>7}{self.successful:>7}{self.failed:>6}"
                f"{lost:>6}{wrong:>6}{per_call(self.asterisk_cpu_s)}{service}{self.wall_s:>8.1f}")


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


EXPECTED_PATH = ["greeting", "main_menu", "sales", "goodbye"]  # digit 1


async def ended_records(engine, caller: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(CallRow).where(
            CallRow.caller_number == caller, CallRow.status == "ended"))).scalar_one()


async def wrong_paths(engine, caller: str) -> int:
    """Recorded calls that did not take the digit-1 path (e.g. the digit arrived too late under load)."""
    async with engine.connect() as conn:
        paths = (await conn.execute(select(CallRow.ivr_path).where(CallRow.caller_number == caller))).scalars()
        return sum(1 for path in paths if [step["node"] for step in path] != EXPECTED_PATH)


class BaselineDigits:
    """Counts the digits the plain-dialplan baseline read (its UserEvent CallcontrolBaseline), over AMI."""

    def __init__(self, secret: str) -> None:
        self.client = AmiClient("127.0.0.1", 5038, "callcontrol", secret)
        self.digits: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self.client.run()), asyncio.create_task(self._collect())]
        await eventually(lambda: self.client.ready, 15, what="AMI login")

    async def _collect(self) -> None:
        while True:
            item = await self.client.events.get()
            if getattr(item, "get", None) and item.get("UserEvent") == "CallcontrolBaseline":
                self.digits.append(item.get("Digit", ""))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def one_run(target: str, number: str, rate: float, seconds: float, sandbox: AsteriskSandbox,
                  asterisk: psutil.Process, service: psutil.Process | None, engine,
                  baseline: BaselineDigits) -> Run:
    calls = max(1, int(rate * seconds))
    caller = f"9{number}{int(rate * 10):05d}"
    xml = scenario(digits=[(2800, "1")])
    read_before = len(baseline.digits)
    before_asterisk = cpu_seconds(asterisk)
    before_service = cpu_seconds(service) if service else None
    started = time.monotonic()
    result = await run_sipp(xml, number, caller, calls=calls, rate=rate,
                            limit=int(rate * CALL_SECONDS * 3) + 10, timeout_s=seconds + 60)
    await eventually(lambda: sandbox.active_channels() == 0, 60, 0.5, what="channels to drain")
    records = wrong = None
    if service is not None:
        async def settled() -> int | None:
            count = await ended_records(engine, caller)
            return count if count >= result.successful else None
        try:
            records = await eventually(settled, 20, 0.5, what="records")
        except AssertionError:
            records = await ended_records(engine, caller)
        wrong = await wrong_paths(engine, caller)
    else:
        digits = baseline.digits[read_before:]
        wrong = sum(1 for digit in digits if digit != "1") + max(0, result.successful - len(digits))
    wall = time.monotonic() - started
    return Run(target, rate, calls, result.successful, result.failed, records, wrong,
               cpu_seconds(asterisk) - before_asterisk,
               (cpu_seconds(service) - before_service) if service and before_service is not None else None, wall)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="5,10,20,40,60", help="call rates (calls/s), ascending")
    parser.add_argument("--seconds", type=float, default=15, help="how long each rate is offered")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    secret = secrets.token_urlsafe(24)
    sandbox = AsteriskSandbox(REPO_ROOT / "dialplan", ami_secret=secret)
    sandbox.build()
    sandbox.start()
    database = Path(tempfile.mkdtemp(prefix="callcontrol-bench-")) / "calls.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    service = await ServiceProcess(url, secret).start()
    engine = make_engine(url)
    baseline = BaselineDigits(secret)
    await baseline.start()
    runs: list[Run] = []
    try:
        assert service.process is not None
        service_ps = psutil.Process(service.process.pid)
        asterisk_ps = next(p for p in psutil.process_iter(["name"]) if p.info["name"] == "asterisk")
        header = (f"{'target':<9}{'rate':>6}{'calls':>7}{'ok':>7}{'fail':>6}{'lost':>6}{'path!':>6}"
                  f"{'ast ms':>8}{'svc ms':>8}{'wall s':>8}    (ms = CPU per successful call)")
        print(header, flush=True)
        for rate in rates:
            for target, number, proc in (("dialplan", "5001", None), ("service", "5000", service_ps)):
                run = await one_run(target, number, rate, args.seconds, sandbox, asterisk_ps, proc, engine,
                                    baseline)
                runs.append(run)
                print(run.row(), flush=True)
        print()
        for target in ("dialplan", "service"):
            clean = [r for r in runs if r.target == target and r.failed == 0 and r.successful == r.attempted
                     and (r.records is None or r.records == r.successful) and not r.wrong]
            best = max((r.rate for r in clean), default=0)
            print(f"{target}: highest rate with 0 failed calls, 0 lost records and 0 wrong paths: {best:g} calls/s")
        print("path! = calls that did not take the digit-1 path: from the service's records, and from the "
              "baseline's CallcontrolBaseline UserEvents")
    finally:
        await baseline.stop()
        await engine.dispose()
        await service.stop()
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
