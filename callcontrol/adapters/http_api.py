"""HTTP API (aiohttp): liveness and readiness probes, the flows in service with their diagrams, and the ACD."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web
from pydantic import SecretStr

from callcontrol.adapters.acd_api import add_acd_routes
from callcontrol.core.ivr import Flow, node_exits
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.agent_pins import AgentPins
from callcontrol.services.ports import AcdStore

Readiness = Callable[[], list[str]]  # the reasons the service is not ready; empty when it is


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


def make_app(not_ready_reasons: Readiness, flows: FlowsView | None = None, acd: AcdDesk | None = None,
             api_token: SecretStr | None = None, acd_store: AcdStore | None = None,
             agent_pins: AgentPins | None = None) -> web.Application:
    """The app; `agent_pins` is the PIN check shared with the phones' login line (one is made when not given)."""
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "up"})

    async def readyz(_: web.Request) -> web.Response:
        reasons = not_ready_reasons()
        if reasons:
            return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if flows is not None:
        _add_flow_routes(app, flows)
    if acd is not None:
        if agent_pins is None and acd_store is not None:
            agent_pins = AgentPins(acd_store, acd.clock)
        add_acd_routes(app, acd, api_token.get_secret_value() if api_token is not None else None, acd_store,
                       agent_pins=agent_pins)
    return app


def _add_flow_routes(app: web.Application, flows: FlowsView) -> None:
    def live(flow_id: str) -> FlowFileView | None:
        for state in flows.files():
            if state.flow is not None and state.flow.id == flow_id:
                return state
        return None

    def not_found(flow_id: str) -> web.Response:
        return web.json_response({"error": f"no flow '{flow_id[:64]}' is live"}, status=404)

    async def list_flows(_: web.Request) -> web.Response:
        return web.json_response([_summary(state) for state in flows.files()])

    async def one_flow(request: web.Request) -> web.Response:
        state = live(request.match_info["flow_id"])
        if state is None or state.flow is None:
            return not_found(request.match_info["flow_id"])
        flow = state.flow
        nodes = [{"id": node_id, "type": _node_type(node),
                  "exits": [{"label": label, "target": target} for label, target in node_exits(node)]}
                 for node_id, node in flow.nodes.items()]
        return web.json_response({**_summary(state), "start": flow.start, "nodes": nodes})

    async def graph(request: web.Request) -> web.Response:
        state = live(request.match_info["flow_id"])
        if state is None or state.flow is None:
            return not_found(request.match_info["flow_id"])
        fmt = request.query.get("format", "svg")
        try:
            from callcontrol.adapters.flow_graph import GraphError, render
        except ImportError as exc:
            return web.json_response({"error": f"flow diagrams are not available: {exc}"}, status=503)
        try:
            text, content_type = await asyncio.to_thread(render, state.flow, fmt)
        except GraphError as exc:
            return web.json_response({"error": str(exc)}, status=503)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.Response(body=text.encode("utf-8"), headers={"Content-Type": content_type})

    app.router.add_get("/api/flows", list_flows)
    app.router.add_get("/api/flows/{flow_id}", one_flow)
    app.router.add_get("/api/flows/{flow_id}/graph", graph)


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


class HttpServer:
    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()
