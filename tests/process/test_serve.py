"""`callcontrol serve` as a real process without Asterisk: bad configuration, database and AMI conditions."""

from __future__ import annotations

import asyncio
import sys

import pytest

from callcontrol.devtools.sipp import free_port
from tests.support.polling import eventually
from tests.support.service_process import ServiceProcess, closed_port


async def run_cli(env: dict[str, str], *args: str, timeout: float = 30) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "callcontrol", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"


async def test_unreachable_database_stops_serve_with_the_reason(sqlite_url):
    """A database URL nobody answers makes serve exit 3 naming the (password-masked) URL."""
    url = f"postgresql+asyncpg://cc:topsecret@127.0.0.1:{closed_port()}/cc"
    service = ServiceProcess(url, "s3cret-s3cret")
    code, out = await run_cli(service.env(), "serve")
    assert code == 3
    assert "database unreachable" in out and "127.0.0.1" in out
    assert "topsecret" not in out


async def test_out_of_date_schema_stops_serve_and_says_what_to_run(sqlite_url):
    """On a database without migrations serve refuses to run and tells the operator the command."""
    code, out = await run_cli(ServiceProcess(sqlite_url, "s3cret-s3cret").env(), "serve")
    assert code == 3
    assert "out of date" in out and "callcontrol db upgrade" in out


async def test_missing_ami_secret_names_the_setting(sqlite_url):
    """Without CALLCONTROL_AMI_SECRET serve exits 2 and names that variable."""
    env = ServiceProcess(sqlite_url, "").env()
    env.pop("CALLCONTROL_AMI_SECRET")
    code, out = await run_cli(env, "serve")
    assert code == 2 and "CALLCONTROL_AMI_SECRET" in out


async def test_invalid_setting_is_named_at_start(sqlite_url):
    """A bad value (port 'abc') fails at start with the setting and its variable named."""
    service = ServiceProcess(sqlite_url, "s3cret-s3cret", extra_env={"CALLCONTROL_HTTP_PORT": "abc"})
    code, out = await run_cli(service.env(), "serve")
    assert code == 2 and "http_port" in out and "CALLCONTROL_HTTP_PORT" in out


async def test_closed_ami_port_keeps_serve_up_but_unready_and_sigterm_exits_0(sqlite_url):
    """With AMI's port closed: healthz 200, readyz 503 naming the address, retries go on; SIGTERM exits 0."""
    port = closed_port()
    service = ServiceProcess(sqlite_url, "s3cret-s3cret", ami_port=port,
                             extra_env={"CALLCONTROL_AGI_PORT": str(free_port())})
    await service.start(wait_ready=False)
    try:
        async def unready_with_reason():
            status, body = await service.readyz()
            return status == 503 and any(f"127.0.0.1:{port} failed" in r for r in body.get("reasons", []))
        await eventually(unready_with_reason, 15, what="readyz naming the closed AMI port")
        await eventually(lambda: len([line for line in service.log_lines()
                                      if line.get("event") == "ami.reconnect_scheduled"]) >= 2, 10,
                         what="a second connection attempt")
    finally:
        assert await service.stop() == 0, service.log_tail()
    assert "s3cret-s3cret" not in service.log_path.read_text()
