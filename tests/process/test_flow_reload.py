"""Hot reload of flows and the flows API with `callcontrol serve` as a process (the watcher and the routes in
process: tests/unit/adapters/test_flow_watch.py and test_http_api.py).

The process tests need no Asterisk: AMI's port is closed (the service runs unready, which is fine here), the
flows directory is a temporary copy of ivr_flows/, and calls are placed by a fake Asterisk speaking FastAGI
that answers every command with `200 result=0` (no digit pressed).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from callcontrol.devtools.sipp import free_port
from tests.support.flows import OTHER_ON_5000, SECRET, version_of
from tests.support.http_api import AUTH, TOKEN
from tests.support.paths import REPO
from tests.support.polling import eventually
from tests.support.service_process import Records, ServiceProcess, closed_port


def write_atomically(path: Path, text: str) -> None:
    """Write as editors do: a temporary file renamed over the target."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


# ---------------------------------------------------------------- `callcontrol serve` as a process


class Service:
    """The real service on a temporary copy of ivr_flows/, with a closed AMI port and its own AGI port."""

    def __init__(self, tmp_path: Path) -> None:
        self.flows_dir = tmp_path / "ivr_flows"
        shutil.copytree(REPO / "ivr_flows", self.flows_dir)
        self.agi_port = free_port()
        self.database_url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
        self.process = ServiceProcess(self.database_url, "s3cret-s3cret", ami_port=closed_port(), extra_env={
            "CALLCONTROL_FLOWS_DIR": str(self.flows_dir), "CALLCONTROL_AGI_PORT": str(self.agi_port),
            "CALLCONTROL_API_TOKEN": TOKEN})
        self.calls = 0

    async def get(self, path: str) -> tuple[int, object]:
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{self.process.http_port}{path}", headers=AUTH) as response:
                    if response.content_type == "application/json":
                        return response.status, await response.json()
                    return response.status, await response.text()
        except aiohttp.ClientError:
            return 0, None

    async def flows(self) -> dict[str, dict] | None:
        """GET /api/flows, keyed by file name (None until the API answers)."""
        status, body = await self.get("/api/flows")
        if status != 200 or not isinstance(body, list):
            return None
        return {entry["source"]: entry for entry in body}

    async def wait_for(self, condition, what: str, timeout: float = 10) -> dict[str, dict]:
        """Poll GET /api/flows until condition(flows) holds; return those flows."""
        async def check() -> dict[str, dict] | None:
            assert self.process.process is not None
            if self.process.process.returncode is not None:
                raise AssertionError(f"service exited with {self.process.process.returncode}\n"
                                     f"{self.process.log_tail()}")
            flows = await self.flows()
            return flows if flows is not None and condition(flows) else None
        try:
            return await eventually(check, timeout, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {await self.flows()}\n{self.process.log_tail()}") from None

    async def call(self, hold_first_prompt: asyncio.Event | None = None,
                   holding: asyncio.Event | None = None) -> tuple[str, list[str]]:
        """One call to 5000 from a fake Asterisk; returns its call id and the AGI commands the service sent."""
        self.calls += 1
        call_id = f"1700000000.{self.calls}"
        headers = (f"agi_network: yes\nagi_network_script: ivr\nagi_request: agi://127.0.0.1/ivr\n"
                   f"agi_channel: PJSIP/trunk-0000000{self.calls}\nagi_uniqueid: {call_id}\n"
                   f"agi_callerid: 15550100\nagi_extension: 5000\nagi_arg_1: {call_id}\n\n")
        reader, writer = await eventually(self._connect, 10, what="the FastAGI port")
        writer.write(headers.encode())
        commands: list[str] = []
        try:
            while line := await asyncio.wait_for(reader.readline(), 10):
                commands.append(line.decode().rstrip("\n"))
                if hold_first_prompt is not None and holding is not None and not holding.is_set() \
                        and commands[-1].startswith("STREAM FILE"):
                    holding.set()
                    await hold_first_prompt.wait()
                writer.write(b"200 result=0\n")
                await writer.drain()
        finally:
            writer.close()
        return call_id, commands

    async def _connect(self):
        try:
            return await asyncio.open_connection("127.0.0.1", self.agi_port)
        except OSError:
            return None

    async def recorded_version(self, call_id: str) -> str | None:
        records = Records(self.database_url)
        try:
            async def found():
                return next((r for r in await records.all() if r.call_id == call_id), None)
            record = await eventually(found, 10, what=f"the record of {call_id}")
            return record.flow_version
        finally:
            await records.close()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    running = Service(tmp_path)
    await running.process.start(wait_ready=False)
    try:
        await running.wait_for(lambda flows: "main.yaml" in flows, "the flows API", timeout=30)
        yield running
    finally:
        assert await running.process.stop() == 0, running.process.log_tail()


async def test_edits_go_live_bad_edits_are_reported_and_clashes_keep_the_owner(service: Service) -> None:
    """Valid edit live; invalid edit reported at file:line:col with the last good version live; fix; clash; delete."""
    main = service.flows_dir / "main.yaml"
    v1 = main.read_text()
    flows = await service.wait_for(lambda f: True, "the flows")
    assert (flows["main.yaml"]["version"], flows["main.yaml"]["status"]) == (version_of(v1), "ok")
    call_id, _ = await service.call()
    assert await service.recorded_version(call_id) == version_of(v1)

    v2 = v1.replace("hello-world", "beep")
    write_atomically(main, v2)
    await service.wait_for(lambda f: f["main.yaml"]["version"] == version_of(v2), "the valid edit live")
    call_id, commands = await service.call()
    assert "STREAM FILE beep \"\"" in commands
    assert await service.recorded_version(call_id) == version_of(v2)

    invalid = v2.replace("next: main_menu", "next: nowhere")
    where = f"main.yaml:{line_of(invalid, 'next: nowhere')}:5: error: exit to unknown node 'nowhere'"
    write_atomically(main, invalid)
    flows = await service.wait_for(lambda f: f["main.yaml"]["status"] == "error", "the invalid edit reported")
    assert flows["main.yaml"]["version"] == version_of(v2)
    assert any(problem.endswith(where) for problem in flows["main.yaml"]["problems"]), flows["main.yaml"]
    rejected = [line for line in service.process.log_lines() if line.get("event") == "flows.rejected"]
    assert rejected and any(problem.endswith(where) for problem in rejected[-1]["problems"])
    call_id, _ = await service.call()
    assert await service.recorded_version(call_id) == version_of(v2)

    v3 = v1.replace("vm-goodbye", "demo-thanks")
    write_atomically(main, v3)
    flows = await service.wait_for(lambda f: f["main.yaml"]["status"] == "ok", "the fix live")
    assert (flows["main.yaml"]["version"], flows["main.yaml"]["problems"]) == (version_of(v3), [])

    (service.flows_dir / "a_other.yaml").write_text(OTHER_ON_5000)  # sorts before main.yaml
    flows = await service.wait_for(lambda f: f.get("a_other.yaml", {}).get("status") == "error", "the clash")
    assert flows["a_other.yaml"]["id"] is None
    assert "number 5000 is already answered by flow 'main'" in flows["a_other.yaml"]["problems"][0]
    assert (flows["main.yaml"]["status"], flows["main.yaml"]["numbers"]) == ("ok", ["5000"])
    call_id, _ = await service.call()
    assert await service.recorded_version(call_id) == version_of(v3)

    main.unlink()
    flows = await service.wait_for(lambda f: f["main.yaml"]["status"] == "removed", "the deletion")
    assert (flows["main.yaml"]["id"], flows["main.yaml"]["version"], flows["main.yaml"]["numbers"]) == (
        "main", None, [])
    assert (flows["a_other.yaml"]["status"], flows["a_other.yaml"]["numbers"]) == ("ok", ["5000"])


async def test_the_service_never_shows_a_linked_file_from_outside(service: Service, tmp_path: Path) -> None:
    """Through the real process: a link to a file outside the flows directory appears in the unauthenticated
    GET /api/flows as a skipped name with its reason, never with the target's lines or any absolute path."""
    (tmp_path / "shadow").write_text(SECRET)
    (service.flows_dir / "shadow.yaml").symlink_to(tmp_path / "shadow")
    flows = await service.wait_for(lambda f: "shadow.yaml" in f, "the link reported")
    assert (flows["shadow.yaml"]["status"], flows["shadow.yaml"]["id"]) == ("error", None)
    assert flows["shadow.yaml"]["problems"] == [
        "shadow.yaml:1:1: error: skipped: a symbolic link to a file outside the flows directory (flow files are "
        "read only as regular files inside it)"]
    status, body = await service.get("/api/flows")
    text = repr(body)
    assert status == 200 and "root" not in text and "daemon" not in text and str(tmp_path) not in text
    assert all("/" not in entry["source"] for entry in body)  # names relative to the flows directory
    assert flows["main.yaml"]["status"] == "ok"


async def test_call_in_progress_finishes_on_the_version_it_started_with(service: Service) -> None:
    """A call held in its greeting while main.yaml changes plays the old goodbye; the next call the new one."""
    main = service.flows_dir / "main.yaml"
    v1 = main.read_text()
    release, holding = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(service.call(hold_first_prompt=release, holding=holding))
    await asyncio.wait_for(holding.wait(), 10)
    v2 = v1.replace("vm-goodbye", "demo-thanks")
    write_atomically(main, v2)
    await service.wait_for(lambda f: f["main.yaml"]["version"] == version_of(v2), "the edit live")
    release.set()
    call_id, commands = await asyncio.wait_for(first, 20)
    assert "STREAM FILE vm-goodbye \"\"" in commands and not any("demo-thanks" in c for c in commands)
    assert await service.recorded_version(call_id) == version_of(v1)
    call_id, commands = await service.call()
    assert "STREAM FILE demo-thanks \"\"" in commands
    assert await service.recorded_version(call_id) == version_of(v2)


async def test_flow_detail_and_unknown_ids(service: Service) -> None:
    """GET /api/flows/main gives the nodes; an unknown id is a JSON 404."""
    status, body = await service.get("/api/flows/main")
    assert status == 200 and isinstance(body, dict)
    assert body["id"] == "main" and body["start"] == "greeting"
    assert {node["id"] for node in body["nodes"]} >= {"greeting", "main_menu", "goodbye"}
    status, body = await service.get("/api/flows/nope")
    assert status == 404 and isinstance(body, dict) and "error" in body


@pytest.mark.skipif(importlib.util.find_spec("callcontrol.adapters.flow_graph") is None,
                    reason="callcontrol.adapters.flow_graph is not there yet")


async def test_graph_of_a_live_flow_as_dot(service: Service) -> None:
    """GET /api/flows/main/graph?format=dot returns the flow as a Graphviz digraph; an unknown format is 400."""
    status, body = await service.get("/api/flows/main/graph?format=dot")
    assert status == 200 and isinstance(body, str) and "digraph" in body and "main_menu" in body
    status, body = await service.get("/api/flows/main/graph?format=bogus")
    assert status == 400 and isinstance(body, dict) and "error" in body
