"""/api/flows: the flows in service, each one's nodes, and its diagram."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web

from callcontrol.adapters.http.auth import Route
from callcontrol.core.permissions import Permission
from callcontrol.adapters.http.openapi_parts import (
    NULLABLE_STRING,
    TIMESTAMP,
    Operations,
    Schema,
    array_of,
    error_response,
    json_response,
    obj,
    operation,
    path_id,
    query,
    ref,
)
from callcontrol.core.ivr import Flow, node_exits


class FlowFileView(Protocol):
    """One flow file as the catalog reports it (read-only)."""

    @property
    def source(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def flow(self) -> Flow | None: ...  # the version live for new calls
    @property
    def problems(self) -> tuple[str, ...]: ...
    @property
    def loaded_at(self) -> datetime | None: ...
    @property
    def id(self) -> str | None: ...


class FlowsView(Protocol):
    """What the flows routes read: every flow file, in a stable order."""

    def files(self) -> Sequence[FlowFileView]: ...


FLOWS = web.AppKey("flows", FlowsView)


def _live(request: web.Request) -> tuple[FlowFileView, Flow]:
    """The file whose live flow has the path's id, with that flow; raises the 404 answer."""
    flow_id = request.match_info["flow_id"]
    for state in request.app[FLOWS].files():
        if state.flow is not None and state.flow.id == flow_id:
            return state, state.flow
    raise web.HTTPNotFound(text=json.dumps({"error": "not_found", "message": f"no flow '{flow_id[:64]}' is live"}),
                           content_type="application/json")


async def list_flows(request: web.Request) -> web.Response:
    return web.json_response([_summary(state) for state in request.app[FLOWS].files()])


async def one_flow(request: web.Request) -> web.Response:
    state, flow = _live(request)
    nodes = [{"id": node_id, "type": _node_type(node),
              "exits": [{"label": label, "target": target} for label, target in node_exits(node)]}
             for node_id, node in flow.nodes.items()]
    return web.json_response({**_summary(state), "start": flow.start, "nodes": nodes})


async def graph(request: web.Request) -> web.Response:
    _state, flow = _live(request)
    fmt = request.query.get("format", "svg")
    try:
        from callcontrol.adapters.flow_graph import GraphError, render
    except ImportError as exc:
        return _error(503, "graph_unavailable", f"flow diagrams are not available: {exc}")
    try:
        text, content_type = await asyncio.to_thread(render, flow, fmt)
    except GraphError as exc:
        return _error(503, "graph_unavailable", str(exc))
    except ValueError as exc:
        return _error(400, "bad_request", str(exc))
    return web.Response(body=text.encode("utf-8"), headers={"Content-Type": content_type})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def _summary(state: FlowFileView) -> dict[str, Any]:
    flow = state.flow
    return {
        "id": state.id,
        "version": flow.version if flow is not None else None,
        "numbers": list(flow.numbers) if flow is not None else [],
        "source": state.source,
        "status": state.status,
        "problems": list(state.problems),
        "loaded_at": state.loaded_at.isoformat() if state.loaded_at is not None else None,
    }


def _node_type(node: object) -> str:
    declared = getattr(node, "type", None)
    return declared if isinstance(declared, str) else type(node).__name__.removesuffix("Node").lower()


ROUTES = (Route("GET", "/api/flows", list_flows, Permission.FLOWS_READ),
          Route("GET", "/api/flows/{flow_id}", one_flow, Permission.FLOWS_READ),
          Route("GET", "/api/flows/{flow_id}/graph", graph, Permission.FLOWS_READ))

_STRINGS = array_of({"type": "string"})
SCHEMAS: dict[str, Schema] = {
    "FlowFile": obj({
        "id": NULLABLE_STRING, "version": NULLABLE_STRING, "numbers": _STRINGS,
        "source": {"type": "string", "description": "the file's name inside the flows directory"},
        "status": {"type": "string"}, "problems": _STRINGS, "loaded_at": TIMESTAMP,
    }, required=("id", "version", "numbers", "source", "status", "problems", "loaded_at")),
}
_FLOW = {"allOf": [ref("FlowFile"), obj({
    "start": {"type": "string"},
    "nodes": array_of(obj({"id": {"type": "string"}, "type": {"type": "string"},
                           "exits": array_of(obj({"label": {"type": "string"}, "target": {"type": "string"}},
                                                 required=("label", "target")))},
                          required=("id", "type", "exits")))}, required=("start", "nodes"))]}
_FLOW_ID = path_id("flow_id", "a live flow's id", "main")
_DIAGRAMS = {"image/svg+xml": {"schema": {"type": "string"}}, "text/vnd.graphviz": {"schema": {"type": "string"}},
             "text/plain": {"schema": {"type": "string", "description": "Mermaid"}}}
OPERATIONS: Operations = {
    ("GET", "/api/flows"): operation(
        "Every flow file: the live flow's id, version and numbers, or the problems that keep it out", tag="flows",
        responses={200: json_response("Every flow file, in a stable order", array_of(ref("FlowFile")))}),
    ("GET", "/api/flows/{flow_id}"): operation(
        "One live flow with its start node and each node's type and exits", tag="flows", parameters=[_FLOW_ID],
        responses={200: json_response("The flow", _FLOW), 404: error_response("No live flow has this id")}),
    ("GET", "/api/flows/{flow_id}/graph"): operation(
        "The flow's diagram: SVG (drawn by Graphviz), DOT or Mermaid", tag="flows",
        parameters=[_FLOW_ID, query("format", "the diagram's format (svg by default)",
                                    {"enum": ["svg", "dot", "mermaid"], "default": "svg"}, "dot")],
        responses={200: {"description": "The diagram", "content": _DIAGRAMS},
                   400: error_response("Unknown format"), 404: error_response("No live flow has this id"),
                   503: error_response("SVG asked for and Graphviz's dot is missing or failed")}),
}
