"""`callcontrol serve` as a real subprocess for the process and integration tests, and the records it writes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.core.calls import CallRecord, CallStatus
from callcontrol.devtools.sipp import free_port
from tests.support.polling import eventually


def closed_port() -> int:
    """A local TCP port nothing listens on (for a service that must find AMI or a database unreachable)."""
    port = free_port()
    with socket.socket() as probe:  # nothing listens there
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


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

    async def cli(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callcontrol", *args, env=self.env(),
            stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate(stdin.encode() if stdin is not None else None)
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

    async def kill_9(self) -> None:
        """SIGKILL: no shutdown, no drain, nothing written after this instant."""
        assert self.process is not None and self.process.returncode is None
        self.process.kill()
        await self.process.wait()

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
