"""Call recording figures: start latency, the service's CPU per recorded call against an unrecorded one, purge rate.

1. Start latency, on real calls through the sandbox Asterisk (one SIPp agent answering after 0.5 s, callers
   talking): the recording is started from the caller's FastAGI session *before* the agent's Dial(), so
   MixMonitorStart comes before the answer. Printed: (a) MixMonitorStart -> DialEnd ANSWER (AMI Timestamps; a
   positive figure means the recorder was running when the agent answered), (b) answer -> first bridged audio
   in the file: the conversation's length (the stint's talk_s) minus the file's audio (the caller talks the
   whole time, so every missing second is at the head or the tail: an upper bound of the start latency).
2. The service's CPU (user + system of `callcontrol serve`) per call over a batch of recorded calls and a batch
   of unrecorded ones (the same flow, queue policy always vs never).
3. Purge rate: files and rows purged per second by RecordingPurger on SQLite (no Asterisk), 44-byte files.
Prints the figures; asserts nothing. Needs root (sandbox Asterisk).

    .venv/bin/python benchmarks/recording.py [--calls 10] [--purge 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcontrol.adapters.db.recording_store import RecordingFilter, SqlRecordingRegistry  # noqa: E402
from callcontrol.adapters.db.schema import upgrade  # noqa: E402
from callcontrol.adapters.db.store import make_engine  # noqa: E402
from callcontrol.adapters.recording_files import RecordingDirectory  # noqa: E402
from callcontrol.core.recordings import COMPLETE, Recording  # noqa: E402
from callcontrol.devtools.sandbox import AsteriskSandbox  # noqa: E402
from callcontrol.devtools.sipp import SPEAK, place_call, start_agent  # noqa: E402
from callcontrol.services.recording_retention import RecordingPurger  # noqa: E402
from callcontrol.settings import REPO_ROOT  # noqa: E402
from tests.integration.harness import AmiObserver  # noqa: E402
from tests.support.clock import SettableClock  # noqa: E402
from tests.support.service_process import Records, ServiceProcess  # noqa: E402

TOKEN = "benchmark-token-0123456789"
ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001}
queues:
  - {id: bench, name: Bench, ring_timeout_s: 10, max_wait_s: 60, recording: {mode: MODE, retention_days: 30}}
"""
FLOW = """\
id: bench
numbers: ["5002"]
allow: {queues: [bench]}
start: q
nodes:
  q: {type: queue, queue: bench, max_wait_s: 60, timeout: bye, no_agents: bye}
  bye: {type: hangup}
"""


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms ({len(ordered)})"


async def batch(sandbox: AsteriskSandbox, secret: str, mode: str, calls: int, workdir: Path,
                ami: AmiObserver) -> tuple[float, list[float], list[float]]:
    """`calls` calls one after the other on a fresh service with the queue's policy `mode`: (service CPU ms per
    call, MixMonitorStart->answer ms, answer->first bridged audio ms)."""
    run = workdir / mode
    (run / "flows").mkdir(parents=True)
    (run / "flows" / "bench.yaml").write_text(FLOW)
    (run / "acd.yaml").write_text(ACD.replace("MODE", mode))
    service_dir, asterisk_dir = sandbox.recordings_dir(f"bench-{mode}-{secrets.token_hex(3)}")
    url = f"sqlite+aiosqlite:///{run / 'calls.sqlite3'}"
    service = ServiceProcess(url, secret, extra_env={
        "CALLCONTROL_FLOWS_DIR": str(run / "flows"), "CALLCONTROL_API_TOKEN": TOKEN,
        "CALLCONTROL_RECORDINGS_DIR": str(service_dir), "CALLCONTROL_RECORDINGS_ASTERISK_DIR": asterisk_dir})
    await service.start(acd_config=run / "acd.yaml")
    records = Records(url)
    try:
        import aiohttp
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            await http.post(f"http://127.0.0.1:{service.http_port}/api/agents/ada/login")
        assert service.process is not None
        process = psutil.Process(service.process.pid)
        seen = len(ami.seen)
        before = process.cpu_times()
        for n in range(calls):
            phone = await start_agent(5101, 500, 3000, timeout_s=60)
            try:
                await asyncio.gather(place_call(f"1555099{n:04d}", number="5002",
                                                digits=[(200, f"{SPEAK}:5000")], timeout_s=60), phone)
            finally:
                phone.cancel()
                await asyncio.gather(phone, return_exceptions=True)
        after = process.cpu_times()
        cpu_ms = 1000 * ((after.user + after.system) - (before.user + before.system)) / calls
        ended = await records.ended(calls, timeout=30)
        await asyncio.sleep(1)
        starts, heads = _latencies(ami.seen[seen:]), []
        engine = make_engine(url)
        try:
            found = {r.call_id: r for r in await SqlRecordingRegistry(engine).find(RecordingFilter(limit=1000))}
        finally:
            await engine.dispose()
        for record in ended:
            recording = found.get(record.call_id)
            talk = record.queue_stints[0].talk_s if record.queue_stints else None
            if recording is not None and recording.duration_s is not None and talk is not None:
                heads.append(1000 * (talk - recording.duration_s))
        return cpu_ms, starts, heads
    finally:
        await records.close()
        await service.stop()


def _latencies(events: list[dict[str, str]]) -> list[float]:
    """MixMonitorStart -> the DialEnd ANSWER of the same caller channel, in ms (AMI Timestamp)."""
    started: dict[str, float] = {}
    found = []
    for event in events:
        name, channel = event.get("Event"), event.get("Channel", "")
        if name == "MixMonitorStart" and "Timestamp" in event:
            started[channel] = float(event["Timestamp"])
        elif name == "DialEnd" and event.get("DialStatus") == "ANSWER" and channel in started:
            found.append(1000 * (float(event["Timestamp"]) - started.pop(channel)))
    return found


async def purge_rate(count: int) -> float:
    workdir = Path(tempfile.mkdtemp(prefix="callcontrol-purge-"))
    url = f"sqlite+aiosqlite:///{workdir / 'calls.sqlite3'}"
    await asyncio.to_thread(upgrade, REPO_ROOT / "migrations", url)  # Alembic runs its own event loop
    files = RecordingDirectory(workdir / "recordings", str(workdir / "recordings"))
    engine = make_engine(url)
    registry = SqlRecordingRegistry(engine)
    old = datetime(2020, 1, 1, tzinfo=UTC)
    for n in range(count):
        recording = Recording(f"rec_{n:032x}", f"c.{n}", "PJSIP/c-1", "bench", "ada", old + timedelta(seconds=n),
                              30, state=COMPLETE, ended_at=old + timedelta(seconds=n + 1))
        path = files.path_of(recording.relative_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 44)
        await registry.save(recording)
    started = time.perf_counter()
    report = await RecordingPurger(registry, files, SettableClock(datetime.now(UTC))).purge()
    elapsed = time.perf_counter() - started
    await engine.dispose()
    assert len(report.purged) == count and not any((workdir / "recordings").rglob("*.wav"))
    return count / elapsed


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--purge", type=int, default=2000)
    args = parser.parse_args()
    print(f"purge: {await purge_rate(args.purge):.0f} recordings/s (file deleted + row marked, SQLite, "
          f"{args.purge} recordings)")
    secret = secrets.token_urlsafe(24)
    sandbox = AsteriskSandbox(REPO_ROOT / "dialplan", ami_secret=secret)
    sandbox.build()
    sandbox.start()
    workdir = Path(tempfile.mkdtemp(prefix="callcontrol-recording-bench-"))
    try:
        async with AmiObserver(secret) as ami:
            recorded = await batch(sandbox, secret, "always", args.calls, workdir, ami)
            plain = await batch(sandbox, secret, "never", args.calls, workdir, ami)
    finally:
        sandbox.stop()
    print(f"MixMonitorStart -> agent answer: {summary(recorded[1])} (started before the Dial: positive)")
    print(f"agent answer -> first bridged audio (talk_s - file audio): {summary(recorded[2])}")
    print(f"service CPU per call: recorded {recorded[0]:.1f} ms, unrecorded {plain[0]:.1f} ms "
          f"({args.calls} calls each, 3 s talks)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
