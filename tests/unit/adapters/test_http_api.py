"""The flows routes and the probes of the HTTP API (callcontrol.adapters.http_api), in process over a real catalog."""

from __future__ import annotations

import sys
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from callcontrol.adapters.flow_watch import FlowWatcher
from callcontrol.adapters.http.app import make_app
from callcontrol.services.flow_catalog import FlowCatalog
from tests.support.flows import version_of
from tests.support.http_api import AUTH, TOKEN
from tests.support.paths import REPO

MAIN_YAML = (REPO / "ivr_flows" / "main.yaml").read_text()
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


# ---------------------------------------------------------------- the HTTP routes, in process


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[TestClient, FlowCatalog, Path]]:
    (tmp_path / "main.yaml").write_text(MAIN_YAML)
    (tmp_path / "broken.yaml").write_text("id: broken\nnumbers: [\n")
    catalog = FlowCatalog()
    FlowWatcher(tmp_path, catalog, now=lambda: T0).reload_now()
    app = make_app(lambda: ["AMI not logged in"], flows=catalog, api_token=SecretStr(TOKEN))
    client = TestClient(TestServer(app), headers=AUTH)
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
        assert (await response.json())["error"] == "not_found", path


async def test_probes_are_unchanged(api) -> None:
    """/healthz stays 200 and /readyz 503 with the reasons given to make_app."""
    client, _, _ = api
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 503 and (await response.json())["reasons"] == ["AMI not logged in"]


async def test_the_flows_need_the_api_token(api) -> None:
    """GET /api/flows/... is 401 without the right Bearer token; the probes stay open."""
    client, _, _ = api
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        for path in ("/api/flows", "/api/flows/main", "/api/flows/main/graph?format=dot"):
            response = await client.get(path, headers=headers)
            assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer", (path, headers)
        assert (await client.get("/healthz", headers=headers)).status == 200


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
    assert response.status == 503 and (await response.json())["error"] == "graph_unavailable"
    assert "Graphviz" in (await response.json())["message"]
    response = await client.get("/api/flows/main/graph?format=png")
    assert response.status == 400 and "png" in (await response.json())["message"]
    assert fake_graph == [("main", "dot"), ("main", "svg"), ("main", "png")]
