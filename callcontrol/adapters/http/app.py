"""The HTTP API's app: the route table of every resource, who may call each route, and the server that runs it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from callcontrol.adapters.http import agents, config, feed, health, queues
from callcontrol.adapters.http import flows as flow_routes
from callcontrol.adapters.http.acd_json import ACD_DESK
from callcontrol.adapters.http import recordings as recording_routes
from callcontrol.adapters.http.recordings import RECORDINGS, RecordingsApi
from callcontrol.core.acd.errors import AcdError
from callcontrol.adapters.http.auth import GUARD, ROUTE_ACCESS, Guard, Route, authenticate
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.acd_feed import FEED_LIMIT
from callcontrol.services.agent_pins import AgentPins
from callcontrol.services.ports import AcdStore


def make_app(not_ready_reasons: health.Readiness, flows: flow_routes.FlowsView | None = None,
             acd: AcdDesk | None = None, api_token: SecretStr | None = None, acd_store: AcdStore | None = None,
             agent_pins: AgentPins | None = None, allowed_origins: Iterable[str] = (),
             feed_limit: int = FEED_LIMIT, degraded_reasons: health.Readiness | None = None,
             recordings: RecordingsApi | None = None) -> web.Application:
    """The app: the probes; the flows with `flows`; the ACD with `acd` (its admin routes, /api/config/...,
    only with a store to keep the configuration in). `agent_pins` is the PIN check shared with the phones' login
    line (one is made when not given); `allowed_origins` the browser origins the feed's WebSocket accepts."""
    app = web.Application(middlewares=[authenticate])
    app[health.READINESS] = not_ready_reasons
    if degraded_reasons is not None:
        app[health.DEGRADATION] = degraded_reasons
    table: list[Route] = list(health.ROUTES)
    if recordings is not None:
        if acd is not None:  # a recording's scope: the teams of its queue and of its agent
            recordings.agent_teams = lambda agent_id: _teams(acd.distributor.agent, agent_id)
            recordings.queue_teams = lambda queue_id: _teams(acd.distributor.queue, queue_id)
        app[RECORDINGS] = recordings
        table += recording_routes.ROUTES
    if flows is not None:
        app[flow_routes.FLOWS] = flows
        table += flow_routes.ROUTES
    guard = Guard(api_token.get_secret_value() if api_token is not None else None,
                  allowed_origins=Guard.origins(allowed_origins))
    if acd is not None:
        pins = agent_pins if agent_pins is not None or acd_store is None else AgentPins(acd_store, acd.clock)
        app[ACD_DESK] = acd
        app[feed.FEED_LIMIT] = feed_limit
        app[feed.FEED_SOCKETS] = set()
        app.on_shutdown.append(feed.close_feeds)
        table += (*agents.ROUTES, *queues.ROUTES, *feed.ROUTES)
        if acd_store is not None:
            app[config.ACD_STORE] = acd_store
            app[config.CONFIG_WRITING] = asyncio.Lock()
            table += config.ROUTES
        view = acd.view
        guard = replace(guard, agent_pins=pins, known_agent=lambda agent_id: agent_id in view.agent_ids())
    app[GUARD] = guard
    app[ROUTE_ACCESS] = {route.handler: route.access for route in table}
    for route in table:
        if route.method == "GET":
            app.router.add_get(route.path, route.handler)  # HEAD too, as load balancers may probe
        else:
            app.router.add_route(route.method, route.path, route.handler)
    return app


def _teams(lookup: Callable[[str], Any], object_id: str) -> frozenset[str]:
    try:
        return frozenset(lookup(object_id).teams)
    except AcdError:
        return frozenset()


class HttpServer:
    """Runs the app on host:port until stopped."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()
