"""Fixtures for tests against the real sandbox Asterisk 22: the sandbox itself, databases, the service."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from callcontrol.devtools.sandbox import AsteriskSandbox
from tests.support.paths import REPO
from tests.support.polling import eventually
from tests.support.service_process import Records, ServiceProcess

StartWithFlow = Callable[..., Awaitable[ServiceProcess]]

POSTGRES_ADMIN_URL = os.environ.get("CALLCONTROL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
HOW_TO_ENABLE = ("real-Asterisk tests need root, debootstrap and sipp (Debian package sip-tester); "
                 "`bash scripts/test` installs them. Reason here: ")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def ami_secret() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def sandbox(ami_secret: str) -> Iterator[AsteriskSandbox]:
    """The sandbox Asterisk, built (or taken from its cache) and started once per session."""
    missing = AsteriskSandbox.prerequisites_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real-Asterisk tests, but: {missing}")
        pytest.skip(HOW_TO_ENABLE + missing)
    box = AsteriskSandbox(REPO / "dialplan", ami_secret=ami_secret)
    box.build()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def no_channels_left(sandbox: AsteriskSandbox) -> Iterator[None]:
    """After the test, Asterisk must have zero channels (every call really ended)."""
    yield
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(eventually(lambda: sandbox.active_channels() == 0, 15, 0.25,
                                           what="zero channels in Asterisk"))
    finally:
        loop.close()


@pytest.fixture
def sqlite_url() -> Iterator[str]:
    path = Path(tempfile.mkdtemp(prefix="callcontrol-it-")) / "calls.sqlite3"
    yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    import asyncpg

    name = f"cc_it_{secrets.token_hex(6)}"
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
async def service(sandbox: AsteriskSandbox, ami_secret: str, sqlite_url: str) -> AsyncIterator[ServiceProcess]:
    """The service, started on SQLite against the sandbox and stopped with SIGTERM (must exit 0)."""
    process = await ServiceProcess(sqlite_url, ami_secret).start()
    yield process
    assert await process.stop() == 0, process.log_tail()


@pytest.fixture
async def records(sqlite_url: str) -> AsyncIterator[Records]:
    reader = Records(sqlite_url)
    yield reader
    await reader.close()


@pytest.fixture
async def service_with_flow(sandbox: AsteriskSandbox, ami_secret: str, sqlite_url: str,
                            tmp_path: Path) -> AsyncIterator[StartWithFlow]:
    """Starts the service on a flows directory holding main.yaml and a test flow (and any more flows it uses);
    stops it (exit 0) after."""
    started: list[ServiceProcess] = []

    async def start(file_name: str, flow_yaml: str, more_flows: dict[str, str] | None = None) -> ServiceProcess:
        flows = tmp_path / "flows"
        flows.mkdir()
        shutil.copy(REPO / "ivr_flows" / "main.yaml", flows / "main.yaml")
        (flows / file_name).write_text(flow_yaml)
        for name, text in (more_flows or {}).items():  # e.g. subflows the test flow uses
            (flows / name).write_text(text)
        service = ServiceProcess(sqlite_url, ami_secret, extra_env={"CALLCONTROL_FLOWS_DIR": str(flows)})
        started.append(service)
        return await service.start()

    yield start
    for service in started:
        assert await service.stop() == 0, service.log_tail()


@pytest.fixture
def recordings_env(sandbox: AsteriskSandbox) -> tuple[Path, dict[str, str]]:
    """A recordings directory in the sandbox's chroot: where the service reads it, and its variables."""
    seen_by_service, seen_by_asterisk = sandbox.recordings_dir(f"it-{secrets.token_hex(4)}")
    return seen_by_service, {"CALLCONTROL_RECORDINGS_DIR": str(seen_by_service),
                             "CALLCONTROL_RECORDINGS_ASTERISK_DIR": seen_by_asterisk}
