"""The OpenAPI description (callcontrol.adapters.http.openapi): in step with the route table, valid, served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate
from pydantic import SecretStr

from callcontrol.adapters.db.acd_store import SqlAcdStore
from callcontrol.adapters.http import health, openapi
from callcontrol.adapters.http.app import ROUTE_TABLE, make_app
from callcontrol.adapters.http.auth import NoAuditTrail
from callcontrol.services.agent_calls import AgentCallTracker
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.flow_catalog import FlowCatalog
from callcontrol.services.call_log import CallLog
from callcontrol.services.live_calls import LiveCalls
from callcontrol.services.people import People
from callcontrol.services.record_writer import RecordWriter
from callcontrol.services.supervision import Supervision
from callcontrol.services.wrapups import Wrapups
from tests.support.clock import T0, SettableClock
from tests.support.http_api import AUTH, TOKEN
from tests.support.recording import memory_recordings_api
from tests.support.stores import MemoryRecordStore
from tests.support.supervision import RecordedPhones
from tests.support.transfers import transfer_desk

OPEN = {("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/api/login")}


@pytest.fixture
def whole_api(desk: AcdDesk, store: SqlAcdStore, tmp_path: Path) -> web.Application:
    """The app with every part the service mounts: the probes, the flows, the ACD and its configuration, the
    people API and the audit trail (their store is never reached here), the recordings."""
    return make_app(lambda: [], flows=FlowCatalog(), acd=desk, api_token=SecretStr(TOKEN), acd_store=store,
                    people=People(object(), SettableClock(T0)), audit_reader=object(),  # type: ignore[arg-type]
                    recordings=memory_recordings_api(tmp_path, SettableClock(T0)),
                    supervision=Supervision(RecordedPhones(), AgentCallTracker(), NoAuditTrail(), SettableClock(T0),
                                            lambda principal, call: True, lambda user: ()),
                    live_calls=LiveCalls(SettableClock(T0)),
                    wrapups=Wrapups(CallLog(RecordWriter(MemoryRecordStore()), SettableClock(T0)),
                                    object(), lambda queue_id: None, SettableClock(T0)),  # type: ignore[arg-type]
                    transfers=transfer_desk(desk))


@pytest.fixture
async def client(whole_api: web.Application) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(whole_api)) as client:
        yield client


def test_every_route_of_the_whole_api_is_described_and_every_description_has_a_route(whole_api):
    """A new route needs its OPERATIONS entry (next to its ROUTES, its module in DESCRIBED_MODULES); a described
    operation whose route went away fails too."""
    table = whole_api[ROUTE_TABLE]
    assert openapi.undescribed(table) == [], "describe these routes in their module's OPERATIONS"
    assert openapi.routeless(table) == [], "these described operations have no route in the table"
    served = {(route.method.lower(), route.path) for route in table}
    described = {(method, path) for path, item in whole_api[openapi.DOCUMENT]["paths"].items() for method in item}
    assert described == served


def test_the_check_names_an_undescribed_route_and_a_description_without_route():
    """The sync check can fail: a route nobody described, and (in a table that lacks them) routeless operations."""
    healthz = next(route for route in health.ROUTES if route.path == "/healthz")
    table = [replace(healthz, path="/api/new"), healthz]
    assert openapi.undescribed(table) == ["GET /api/new"]
    assert "GET /readyz" in openapi.routeless(table) and "GET /healthz" not in openapi.routeless(table)
    assert "/api/new" not in openapi.document(table)["paths"]


def test_the_document_is_valid_openapi_3_1(whole_api):
    document = whole_api[openapi.DOCUMENT]
    assert document["openapi"] == "3.1.0"
    validate(document)  # openapi-spec-validator: raises on the first violation


def test_each_operation_s_security_is_its_route_s_access(whole_api):
    """Probes need nothing; other routes the bearer token; an agent's own actions the token or its id and PIN.
    Every guarded operation lists the middleware's 401, 403 and 429, as JSON errors."""
    paths = whole_api[openapi.DOCUMENT]["paths"]
    for route in whole_api[ROUTE_TABLE]:
        described = paths[route.path][route.method.lower()]
        assert described["security"] == openapi.security_of(route), route
        if openapi.is_open(route):
            assert (route.method, route.path) in OPEN and described["security"] == [], route
            continue
        assert {"401", "403", "429"} <= described["responses"].keys(), route
    assert [route.path for route in whole_api[ROUTE_TABLE] if openapi.takes_agent_pin(route)] == [
        "/api/agents/{agent_id}/login", "/api/agents/{agent_id}/logout", "/api/agents/{agent_id}/resume",
        "/api/agents/{agent_id}/pause"]
    assert paths["/api/agents/{agent_id}/login"]["post"]["security"] == [{"apiToken": []}, {"agentPin": []}]
    assert paths["/api/agents"]["get"]["security"] == [{"apiToken": []}]


def test_every_path_parameter_is_declared_with_an_example(whole_api):
    """Each {name} of a path is a declared path parameter, with an example schemathesis tries first."""
    for path, item in whole_api[openapi.DOCUMENT]["paths"].items():
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for method, described in item.items():
            declared = {p["name"]: p for p in described.get("parameters", []) if p["in"] == "path"}
            assert declared.keys() == names, (method, path)
            assert all("example" in p for p in declared.values()), (method, path)


async def test_the_document_is_served_with_the_token_only(client, whole_api):
    """GET /api/openapi.json: the app's document with the token; 401 without it (only the probes are open)."""
    response = await client.get("/api/openapi.json", headers=AUTH)
    assert response.status == 200 and response.content_type == "application/json"
    assert await response.json() == whole_api[openapi.DOCUMENT]
    assert (await client.get("/api/openapi.json")).status == 401


async def test_an_app_without_the_acd_describes_only_what_it_serves():
    """The probes-and-flows app's document has no ACD path: it describes the routes this app has."""
    app = make_app(lambda: [], flows=FlowCatalog(), api_token=SecretStr(TOKEN))
    assert sorted(app[openapi.DOCUMENT]["paths"]) == [
        "/api/flows", "/api/flows/{flow_id}", "/api/flows/{flow_id}/graph", "/api/openapi.json", "/healthz",
        "/readyz"]
    validate(app[openapi.DOCUMENT])
