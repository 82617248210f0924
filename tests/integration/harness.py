"""Drives the real parts for integration tests: the service process, SIPp callers, an AMI observer, the DB."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from callcontrol.adapters.ami import AmiClient
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.core.calls import CallRecord, CallStatus, path_label
from callcontrol.sipp import SippRun, free_port, place_call  # noqa: F401  (re-exported for the tests)

REPO = Path(__file__).resolve().parents[2]


async def eventually(condition, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll an async or sync condition until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass
class ServiceProcess:
    """`callcontrol serve` as a real subprocess, configured through CALLCONTROL_* variables."""

    database_url: str
    ami_secret: str
    ami_port: int = 5038
    http_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="callcontrol-", suffix=".log")[1]))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCONTROL_")}
        env.update({
            "CALLCONTROL_DATABASE_URL": self.database_url,
            "CALLCONTROL_AMI_SECRET": self.ami_secret,
            "CALLCONTROL_AMI_PORT": str(self.ami_port),
            "CALLCONTROL_HTTP_PORT": str(self.http_port),
            "CALLCONTROL_LOG_FORMAT": "json",
            "CALLCONTROL_AMI_RECONNECT_MAX_S": "1",
            "CALLCONTROL_AMI_PING_INTERVAL_S": "2",
            "CALLCONTROL_AMI_PING_TIMEOUT_S": "2",
        })
        env.update(self.extra_env)
        return env

    async def cli(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callcontrol", *args, env=self.env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    async def start(self, wait_ready: bool = True, acd_config: Path | None = None) -> ServiceProcess:
        """db upgrade, `acd import --replace` of acd_config when given, then serve."""
        code, out = await self.cli("db", "upgrade")
        assert code == 0, out
        if acd_config is not None:
            code, out = await self.cli("acd", "import", str(acd_config), "--replace")
            assert code == 0, out
        with self.log_path.open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "callcontrol", "serve", env=self.env(), stdout=log_file, stderr=log_file)
        if wait_ready:
            await self.wait_ready()
        return self

    async def readyz(self) -> tuple[int, dict]:
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{self.http_port}/readyz") as response:
                    return response.status, await response.json()
        except aiohttp.ClientError as exc:
            return 0, {"error": str(exc)}

    async def wait_ready(self, timeout: float = 30) -> None:
        async def ready() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"service exited with {self.process.returncode}:\n{self.log_tail()}")
            return (await self.readyz())[0] == 200
        await eventually(ready, timeout, what=f"service ready\n{self.log_tail()}")

    async def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait for exit; returns the exit code."""
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"service ignored SIGTERM for {timeout}s\n{self.log_tail()}")

    def log_lines(self) -> list[dict]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"event": raw})
        return lines

    def log_tail(self, count: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-count:])


class Records:
    """Reads call records straight from the database the service writes to."""

    def __init__(self, database_url: str) -> None:
        self._engine = make_engine(database_url)
        self.store = SqlCallRecordStore(self._engine)

    async def all(self) -> list[CallRecord]:
        return await self.store.recent(10_000)

    async def ended(self, count: int, timeout: float = 20) -> list[CallRecord]:
        async def enough() -> list[CallRecord] | None:
            found = [r for r in await self.all() if r.status is CallStatus.ENDED]
            return found if len(found) >= count else None
        return await eventually(enough, timeout, what=f"{count} ended call records")

    async def close(self) -> None:
        await self._engine.dispose()


class AmiObserver:
    """Our own AMI client on the real Asterisk, collecting events for assertions."""

    def __init__(self, secret: str, port: int = 5038) -> None:
        self.client = AmiClient("127.0.0.1", port, "callcontrol", secret, reconnect_min_s=0.2, reconnect_max_s=1)
        self.seen: list[dict[str, str]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> AmiObserver:
        self._tasks = [asyncio.create_task(self.client.run()), asyncio.create_task(self._collect())]
        await eventually(lambda: self.client.ready, 15, what="AMI observer login")
        return self

    async def _collect(self) -> None:
        while True:
            item = await self.client.events.get()
            if hasattr(item, "items"):
                self.seen.append(dict(item.items()))

    def user_events(self, name: str) -> list[dict[str, str]]:
        return [e for e in self.seen if e.get("Event") == "UserEvent" and e.get("UserEvent") == name]

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def most_channels_per_phone(events: list[dict[str, str]]) -> dict[str, int]:
    """For each agent phone, the most channels Asterisk had on it at once (AMI Newchannel/Hangup, in order):
    1 everywhere means no phone was ever offered two calls."""
    most: dict[str, int] = {}
    live: dict[str, set[str]] = {}
    for event in events:
        channel = event.get("Channel", "")
        if not channel.startswith("PJSIP/agent"):
            continue
        phone = channel.rsplit("-", 1)[0]
        if event.get("Event") == "Newchannel":
            live.setdefault(phone, set()).add(channel)
            most[phone] = max(most.get(phone, 0), len(live[phone]))
        elif event.get("Event") == "Hangup":
            live.get(phone, set()).discard(channel)
    return most


def labels(record: CallRecord) -> list[str]:
    """The record's path as the labels logs and flow tests use."""
    return [path_label(step) for step in record.ivr_path]


async def call_and_record(records: Records, caller: str, digits: list[tuple[int, str]], flow_id: str,
                          agent: asyncio.Task[SippRun] | None = None,
                          number: str = "5002") -> tuple[SippRun, SippRun | None, CallRecord]:
    """One call (with an agent SIPp running beside it, if any); returns both SIPp runs and the ended record."""
    call = place_call(caller, number=number, digits=digits, timeout_s=40)
    if agent is None:
        runs = [await call, None]
    else:
        try:
            runs = await asyncio.gather(call, agent)
        finally:  # never leave an agent SIPp holding the port for the next test
            agent.cancel()
            await asyncio.gather(agent, return_exceptions=True)
    (record,) = await records.ended(1)
    assert runs[0].returncode == 0, f"{labels(record)}\n{runs[0].output}"
    if runs[1] is not None:
        assert runs[1].returncode == 0 and runs[1].successful == 1, f"{labels(record)}\n{runs[1].output}"
    assert record.flow_id == flow_id and record.dialed_number == number and record.caller_number == caller
    return runs[0], runs[1], record
