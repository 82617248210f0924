"""Menu reaction time inside the service: from the AGI reply carrying a caller's digit to the next AGI command.

Offers SIPp callers to the sample menu (5000, digit 1 at 2.8 s) at a rate that keeps about 100 callers in the
menu at once, then stops the service, whose last log line carries the percentiles it measured for every digit
(FastAgiServer.digit_latency). Prints them; asserts nothing. Needs root (sandbox Asterisk).

    .venv/bin/python benchmarks/ivr_digit_latency.py [--calls 300 --rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcontrol.devtools.sandbox import AsteriskSandbox  # noqa: E402
from callcontrol.settings import REPO_ROOT  # noqa: E402
from callcontrol.devtools.sipp import run_sipp, scenario  # noqa: E402
from tests.support.service_process import ServiceProcess  # noqa: E402


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20, help="calls/s; x ~5.5 s per call = callers at once")
    args = parser.parse_args()
    secret = secrets.token_urlsafe(24)
    sandbox = AsteriskSandbox(REPO_ROOT / "dialplan", ami_secret=secret)
    sandbox.build()
    sandbox.start()
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='callcontrol-latency-')) / 'calls.sqlite3'}"
    service = await ServiceProcess(url, secret).start()
    try:
        run = await run_sipp(scenario(digits=[(2800, "1")]), "5000", "5550100", calls=args.calls, rate=args.rate,
                             limit=args.calls, timeout_s=args.calls / args.rate + 60)
    finally:
        await service.stop()
        sandbox.stop()
    stopped = [line for line in service.log_lines() if line.get("event") == "service.stopped"]
    latency = stopped[-1]["agi_digit_latency"] if stopped else {}
    print(f"calls: {run.successful} ok, {run.failed} failed, offered at {args.rate:g}/s "
          f"(about {args.rate * 5.5:.0f} callers in the IVR at once)")
    print(f"digit reply -> next AGI command, in the service: {latency}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
