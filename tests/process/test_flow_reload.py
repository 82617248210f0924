"""Hot reload of flows and the flows API: the watcher and HTTP routes in process, then `callcontrol serve` as a process.

The process tests need no Asterisk: AMI's port is closed (the service runs unready, which is fine here), the
flows directory is a temporary copy of ivr_flows/, and calls are placed by a fake Asterisk speaking FastAGI
that answers every command with `200 result=0` (no digit pressed).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import shutil
import sys
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcontrol.adapters.flow_files import MAX_FILE_BYTES
from callcontrol.adapters.flow_watch import FlowDirReader, FlowWatcher
from callcontrol.adapters.http_api import make_app
from callcontrol.services.flow_catalog import FlowCatalog
from callcontrol.sipp import free_port
from tests.integration.harness import Records, ServiceProcess, eventually
from tests.unit.test_serve_process import closed_port

REPO = Path(__file__).resolve().parents[2]
MAIN_YAML = (REPO / "ivr_flows" / "main.yaml").read_text()
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


def version_of(text: str) -> str:
    """The version the loader gives a flow file: a hash of its bytes."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def write_atomically(path: Path, text: str) -> None:
    """Write as editors do: a temporary file renamed over the target."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


OTHER_ON_5000 = """\
id: other
numbers: ["5000"]
start: bye
nodes:
  bye: {type: hangup, prompts: [vm-goodbye]}
"""


# ---------------------------------------------------------------- the reader and the watcher, in process


def test_reader_parses_only_files_whose_bytes_changed(tmp_path: Path) -> None:
    """Reading again reuses the Flow of an unchanged file and parses the changed one."""
    (tmp_path / "main.yaml").write_text(MAIN_YAML)
    (tmp_path / "other.yaml").write_text(OTHER_ON_5000.replace("5000", "6000"))
    reader = FlowDirReader(tmp_path)
    first = {Path(f.source).name: f for f in reader.read()}
    (tmp_path / "other.yaml").write_text(OTHER_ON_5000.replace("5000", "6001"))
    second = {Path(f.source).name: f for f in reader.read()}
    assert second["main.yaml"].flow is first["main.yaml"].flow
    flow = second["other.yaml"].flow
    assert flow is not None and flow.numbers == ("6001",)


def test_reader_refuses_an_oversized_file_without_reading_it(tmp_path: Path) -> None:
    """A file over the size limit is an error at 1:1 and is not parsed."""
    (tmp_path / "huge.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    [file] = FlowDirReader(tmp_path).read()
    assert file.flow is None
    assert file.problems[0].endswith(f"huge.yaml:1:1: error: file larger than {MAX_FILE_BYTES} bytes")


def test_missing_directory_keeps_what_is_live(tmp_path: Path) -> None:
    """If the flows directory disappears nothing is removed; when it is back, it is read again."""
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    (flows_dir / "main.yaml").write_text(MAIN_YAML)
    catalog = FlowCatalog()
    watcher = FlowWatcher(flows_dir, catalog, now=lambda: T0)
    assert watcher.reload_now() is not None
    flows_dir.rename(tmp_path / "away")
    assert watcher.reload_now() is None
    assert catalog.for_number("5000") is not None
    (tmp_path / "away").rename(flows_dir)
    (flows_dir / "main.yaml").unlink()
    update = watcher.reload_now()
    assert update is not None and [s.status for s in update.changed] == ["removed"]


@pytest.fixture
async def watching(tmp_path: Path) -> AsyncIterator[tuple[Path, FlowCatalog, FlowWatcher]]:
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    (flows_dir / "main.yaml").write_text(MAIN_YAML)
    catalog = FlowCatalog()
    watcher = FlowWatcher(flows_dir, catalog, debounce_ms=100, rescan_ms=300)
    watcher.reload_now()
    task = asyncio.create_task(watcher.run())
    try:
        yield flows_dir, catalog, watcher
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 5)


def live_version(catalog: FlowCatalog) -> str | None:
    flow = catalog.for_number("5000")
    return flow.version if flow is not None else None


async def test_watcher_puts_an_edit_live_and_stops_cleanly(watching) -> None:
    """An edit written in place goes live within seconds; stop() ends the watch task."""
    flows_dir, catalog, _ = watching
    edited = MAIN_YAML.replace("hello-world", "beep")
    (flows_dir / "main.yaml").write_text(edited)
    await eventually(lambda: live_version(catalog) == version_of(edited), 10, what="the edit live")


async def test_watcher_rescan_sees_a_change_that_raised_no_event(watching) -> None:
    """A change behind a symlink inside the directory, laid out as a Kubernetes ConfigMap is (side.yaml ->
    ..data/side.yaml, ..data -> ..2026_01_05), is found by the periodic rescan (the watch is not recursive)."""
    flows_dir, catalog, _ = watching
    data = flows_dir / "..2026_01_05"
    data.mkdir()
    (data / "side.yaml").write_text(OTHER_ON_5000.replace("5000", "7000"))
    (flows_dir / "..data").symlink_to(data.name)
    (flows_dir / "side.yaml").symlink_to("..data/side.yaml")
    await eventually(lambda: catalog.for_number("7000") is not None, 10, what="the linked flow live")
    (data / "side.yaml").write_text(OTHER_ON_5000.replace("5000", "7001"))  # in a folder that is not watched
    await eventually(lambda: catalog.for_number("7001") is not None, 10, what="the rescan")


SECRET = "root:$y$j9T$notarealhash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


def test_a_link_out_of_the_flows_directory_is_never_read(tmp_path: Path) -> None:
    """A symbolic link to a file outside (as to /etc/shadow) is skipped by its name with the reason; nothing of
    the target (lines, path) reaches the problems. A FIFO or a folder named like a flow is skipped too."""
    flows_dir, outside = tmp_path / "flows", tmp_path / "etc"
    flows_dir.mkdir()
    outside.mkdir()
    (outside / "shadow").write_text(SECRET)
    (flows_dir / "main.yaml").write_text(MAIN_YAML)
    (flows_dir / "shadow.yaml").symlink_to(outside / "shadow")
    (flows_dir / "relative.yaml").symlink_to("../etc/shadow")
    (flows_dir / "loop.yaml").symlink_to("loop.yaml")
    os.mkfifo(flows_dir / "pipe.yaml")  # opening it for reading would block a reader that follows it
    (flows_dir / "folder.yaml").mkdir()
    files = {f.source: f for f in FlowDirReader(flows_dir).read()}
    assert sorted(files) == ["folder.yaml", "loop.yaml", "main.yaml", "pipe.yaml", "relative.yaml", "shadow.yaml"]
    assert files["main.yaml"].flow is not None and files["main.yaml"].problems == ()
    outside_reason = ("skipped: a symbolic link to a file outside the flows directory (flow files are read only "
                      "as regular files inside it)")
    for name in ("shadow.yaml", "relative.yaml"):
        assert files[name].flow is None and files[name].problems == (f"{name}:1:1: error: {outside_reason}",)
    assert files["loop.yaml"].problems == ("loop.yaml:1:1: error: cannot read: Too many levels of symbolic links",)
    for name in ("pipe.yaml", "folder.yaml"):
        assert files[name].problems == (f"{name}:1:1: error: skipped: not a regular file (flow files are read "
                                        "only as regular files inside the flows directory)",)
    shown = repr([f.problems for f in files.values()])
    assert "root" not in shown and "daemon" not in shown and str(tmp_path) not in shown


def test_a_link_swapped_for_one_going_outside_stops_being_read(tmp_path: Path) -> None:
    """A flow that was a link inside the directory and is made to point outside is skipped on the next read;
    the catalog keeps its last good version live, as for any bad edit."""
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    (flows_dir / ".real").mkdir()
    (flows_dir / ".real" / "main.yaml").write_text(MAIN_YAML)
    (flows_dir / "main.yaml").symlink_to(".real/main.yaml")
    (tmp_path / "shadow").write_text(SECRET)
    catalog = FlowCatalog()
    watcher = FlowWatcher(flows_dir, catalog, now=lambda: T0)
    watcher.reload_now()
    assert live_version(catalog) == version_of(MAIN_YAML)
    (flows_dir / "main.yaml").unlink()
    (flows_dir / "main.yaml").symlink_to(tmp_path / "shadow")
    update = watcher.reload_now()
    assert update is not None
    [state] = update.changed
    assert (state.source, state.status, live_version(catalog)) == ("main.yaml", "error", version_of(MAIN_YAML))
    assert "outside the flows directory" in state.problems[0] and "root" not in state.problems[0]


async def test_directory_created_after_start_is_watched_once_it_exists(tmp_path: Path) -> None:
    """A watch that cannot start (no directory yet) is retried, and the flows are read once the directory appears."""
    flows_dir = tmp_path / "flows"
    catalog = FlowCatalog()
    watcher = FlowWatcher(flows_dir, catalog, debounce_ms=100, rescan_ms=300, retry_s=0.2)
    assert watcher.reload_now() is None
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.sleep(0.5)
        assert not task.done()
        flows_dir.mkdir()
        (flows_dir / "main.yaml").write_text(MAIN_YAML)
        await eventually(lambda: live_version(catalog) == version_of(MAIN_YAML), 10, what="the new directory read")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# ---------------------------------------------------------------- the HTTP routes, in process


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[TestClient, FlowCatalog, Path]]:
    (tmp_path / "main.yaml").write_text(MAIN_YAML)
    (tmp_path / "broken.yaml").write_text("id: broken\nnumbers: [\n")
    catalog = FlowCatalog()
    FlowWatcher(tmp_path, catalog, now=lambda: T0).reload_now()
    client = TestClient(TestServer(make_app(lambda: ["AMI not logged in"], flows=catalog)))
    await client.start_server()
    try:
        yield client, catalog, tmp_path
    finally:
        await client.close()


async def test_list_shows_live_flows_and_files_that_never_loaded(api) -> None:
    """GET /api/flows lists each file: id, version, numbers, source, status, problems, loaded_at."""
    client, _, flows_dir = api
    response = await client.get("/api/flows")
    assert response.status == 200
    broken, main = await response.json()
    assert main == {"id": "main", "version": version_of(MAIN_YAML), "numbers": ["5000"],
                    "source": "main.yaml", "status": "ok", "problems": [],
                    "loaded_at": T0.isoformat()}  # the name inside the flows directory, never an absolute path
    assert (broken["id"], broken["version"], broken["numbers"], broken["status"], broken["loaded_at"]) == (
        None, None, [], "error", None)
    assert broken["problems"][0].startswith("broken.yaml:3:1: error: YAML syntax")
    assert str(flows_dir) not in await response.text()


async def test_one_flow_has_its_nodes_and_exits(api) -> None:
    """GET /api/flows/main adds the start node and each node's type and exits."""
    client, _, _ = api
    body = await (await client.get("/api/flows/main")).json()
    assert body["start"] == "greeting" and body["version"] == version_of(MAIN_YAML)
    nodes = {node["id"]: node for node in body["nodes"]}
    assert nodes["greeting"] == {"id": "greeting", "type": "play",
                                 "exits": [{"label": "next", "target": "main_menu"}]}
    assert nodes["main_menu"]["type"] == "menu"
    assert {"label": "1", "target": "sales"} in nodes["main_menu"]["exits"]
    assert nodes["goodbye"]["exits"] == []


async def test_unknown_flow_is_a_json_404(api) -> None:
    """An id no live flow has gives 404 with an error message, for the flow and for its graph."""
    client, _, _ = api
    for path in ("/api/flows/nope", "/api/flows/nope/graph", "/api/flows/broken"):
        response = await client.get(path)
        assert response.status == 404, path
        assert "error" in await response.json()


async def test_probes_are_unchanged(api) -> None:
    """/healthz stays 200 and /readyz 503 with the reasons given to make_app."""
    client, _, _ = api
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 503 and (await response.json())["reasons"] == ["AMI not logged in"]


@pytest.fixture
def fake_graph(monkeypatch) -> list[tuple[str, str]]:
    """A stand-in for callcontrol.adapters.flow_graph: dot works, svg lacks Graphviz, anything else is unknown."""
    calls: list[tuple[str, str]] = []
    module = types.ModuleType("callcontrol.adapters.flow_graph")

    class GraphError(RuntimeError):
        pass

    def render(flow, fmt: str) -> tuple[str, str]:
        calls.append((flow.id, fmt))
        if fmt == "dot":
            return f"digraph {flow.id} {{}}\n", "text/vnd.graphviz; charset=utf-8"
        if fmt == "svg":
            raise GraphError("Graphviz 'dot' is not installed")
        raise ValueError(f"unknown format {fmt!r}")

    module.GraphError, module.render = GraphError, render  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "callcontrol.adapters.flow_graph", module)
    return calls


async def test_graph_route_maps_render_results_to_status_codes(api, fake_graph) -> None:
    """The graph route serves render()'s text with its content type; 400 for an unknown format, 503 without Graphviz."""
    client, _, _ = api
    response = await client.get("/api/flows/main/graph?format=dot")
    assert response.status == 200 and await response.text() == "digraph main {}\n"
    assert response.headers["Content-Type"] == "text/vnd.graphviz; charset=utf-8"
    response = await client.get("/api/flows/main/graph")
    assert response.status == 503 and "Graphviz" in (await response.json())["error"]
    response = await client.get("/api/flows/main/graph?format=png")
    assert response.status == 400 and "png" in (await response.json())["error"]
    assert fake_graph == [("main", "dot"), ("main", "svg"), ("main", "png")]


# ---------------------------------------------------------------- `callcontrol serve` as a process


class Service:
    """The real service on a temporary copy of ivr_flows/, with a closed AMI port and its own AGI port."""

    def __init__(self, tmp_path: Path) -> None:
        self.flows_dir = tmp_path / "ivr_flows"
        shutil.copytree(REPO / "ivr_flows", self.flows_dir)
        self.agi_port = free_port()
        self.database_url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
        self.process = ServiceProcess(self.database_url, "s3cret-s3cret", ami_port=closed_port(), extra_env={
            "CALLCONTROL_FLOWS_DIR": str(self.flows_dir), "CALLCONTROL_AGI_PORT": str(self.agi_port)})
        self.calls = 0

    async def get(self, path: str) -> tuple[int, object]:
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{self.process.http_port}{path}") as response:
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
