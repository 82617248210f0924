"""The HTTP API's app: the route table of every resource, the permission each route needs, and the server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from callcontrol.adapters.http import agents, config, feed, health, openapi, queues, users
from callcontrol.adapters.http import live_calls as live_call_routes
from callcontrol.adapters.http import flows as flow_routes
from callcontrol.adapters.http.acd_json import ACD_DESK
from callcontrol.adapters.http.auth import GUARD, ROUTE_PERMISSION, Guard, NoAuditTrail, Route, authenticate
from callcontrol.adapters.http.errors import json_errors
from callcontrol.adapters.http.scope import ACD_SCOPE, AcdScope
from callcontrol.adapters.http import recordings as recording_routes
from callcontrol.adapters.http.recordings import RECORDINGS, RecordingsApi
from callcontrol.adapters.http import supervision as supervision_routes
from callcontrol.adapters.http import wrapups as wrapup_routes
from callcontrol.adapters.http import transfers as transfer_routes
from callcontrol.core.acd.errors import AcdError
from callcontrol.core.permissions import Role
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.acd_feed import FEED_LIMIT
from callcontrol.services.agent_pins import AgentPins
from callcontrol.services.live_calls import LiveCalls
from callcontrol.services.login_attempts import LoginAttempts
from callcontrol.services.people import People
from callcontrol.services.transfers import TransferDesk
from callcontrol.services.ports import AcdStore, AuditReader, AuditTrail, Clock, SystemClock
from callcontrol.services.supervision import Supervision
from callcontrol.services.wrapups import Wrapups


ROUTE_TABLE = web.AppKey("route_table", tuple[Route, ...])  # every route the app serves, in table order


def make_app(not_ready_reasons: health.Readiness, flows: flow_routes.FlowsView | None = None,
             acd: AcdDesk | None = None, api_token: SecretStr | None = None, acd_store: AcdStore | None = None,
             agent_pins: AgentPins | None = None, allowed_origins: Iterable[str] = (),
             feed_limit: int = FEED_LIMIT, people: People | None = None, audit: AuditTrail | None = None,
             audit_reader: AuditReader | None = None, login_attempts: LoginAttempts | None = None,
             clock: Clock | None = None, feed_recheck_s: float = feed.FEED_RECHECK_S,
             degraded_reasons: health.Readiness | None = None,
             recordings: RecordingsApi | None = None, supervision: Supervision | None = None,
             live_calls: LiveCalls | None = None, caller_masked_for: Iterable[Role] = (),
             wrapups: Wrapups | None = None, transfers: TransferDesk | None = None) -> web.Application:
    """The app: the probes; the flows with `flows`; the ACD with `acd` (its admin routes, /api/config/...,
    only with a store to keep the configuration in); the people API (/api/users, /api/login) with `people`, and
    /api/audit with `audit_reader`. `api_token` is the bootstrap admin token; `agent_pins` the PIN check shared
    with the phones' login line (one is made when not given); `allowed_origins` the browser origins the feed's
    WebSocket accepts; `audit` where refusals and changes to people are written; `live_calls` the calls in
    progress (/api/calls and the feed's call events, with `acd`), their callers masked for `caller_masked_for`."""
    app = web.Application(middlewares=[json_errors, authenticate])
    app[health.READINESS] = not_ready_reasons
    table: list[Route] = [*health.ROUTES, *openapi.ROUTES]
    if degraded_reasons is not None:
        app[health.DEGRADATION] = degraded_reasons
    if recordings is not None:
        if acd is not None:  # a recording's scope: the teams of its queue and of its agent
            recordings.agent_teams = lambda agent_id: _teams(acd.view.agent, agent_id)
            recordings.queue_teams = lambda queue_id: _teams(acd.view.queue, queue_id)
        app[RECORDINGS] = recordings
        table += recording_routes.ROUTES
    if supervision is not None:
        app[supervision_routes.SUPERVISION] = supervision
        table += supervision_routes.ROUTES
    if wrapups is not None:  # PUT /api/calls/{call_id}/wrapup (a supervisor's scope needs `acd`)
        app[wrapup_routes.WRAPUPS] = wrapups
        table += wrapup_routes.ROUTES
    if flows is not None:
        app[flow_routes.FLOWS] = flows
        table += flow_routes.ROUTES
    guard = Guard(api_token.get_secret_value() if api_token is not None else None,
                  allowed_origins=Guard.origins(allowed_origins), people=people,
                  attempts=login_attempts or LoginAttempts(), audit=audit or NoAuditTrail(),
                  clock=clock or SystemClock())
    if people is not None:
        app[users.PEOPLE] = people
        table += [route for route in users.ROUTES if route.path != "/api/audit"]
    if audit_reader is not None:
        app[users.AUDIT_READER] = audit_reader
        table += [route for route in users.ROUTES if route.path == "/api/audit"]
    if acd is not None:
        pins = agent_pins if agent_pins is not None or acd_store is None else AgentPins(acd_store, acd.clock)
        app[ACD_DESK] = acd
        app[ACD_SCOPE] = scope = AcdScope(acd.view)
        app[feed.FEED_LIMIT] = feed_limit
        app[feed.FEED_RECHECK] = feed_recheck_s
        app[feed.FEED_SOCKETS] = set()
        app.on_shutdown.append(feed.close_feeds)
        table += (*agents.ROUTES, *queues.ROUTES, *feed.ROUTES)
        if live_calls is not None:
            app[live_call_routes.LIVE_CALLS] = live_calls
            app[live_call_routes.CALLER_MASKED_FOR] = frozenset(caller_masked_for)
            live_calls.watch(acd.feed)  # the feed's call and call_ended events
            table += live_call_routes.ROUTES
        if transfers is not None:  # POST /api/calls/{call_id}/transfer (its scope: the ACD's)
            app[transfer_routes.TRANSFERS] = transfers
            table += transfer_routes.ROUTES
        if acd_store is not None:
            app[config.ACD_STORE] = acd_store
            app[config.CONFIG_WRITING] = asyncio.Lock()
            table += config.ROUTES
        view = acd.view
        guard = replace(guard, agent_pins=pins, known_agent=lambda agent_id: agent_id in view.agent_ids(), scope=scope)
    app[GUARD] = guard
    app[ROUTE_PERMISSION] = {route.handler: route.permission for route in table}
    app[ROUTE_TABLE] = tuple(table)
    app[openapi.DOCUMENT] = openapi.document(table)  # what this app serves, nothing more
    for route in table:
        if route.method == "GET":
            app.router.add_get(route.path, route.handler)  # HEAD too, as load balancers may probe
        else:
            app.router.add_route(route.method, route.path, route.handler)
    return app


def route_table(app: web.Application) -> dict[tuple[str, str], str]:
    """(method, path) -> the permission it needs, for every route of the app (docs and tests read this)."""
    needs = app[ROUTE_PERMISSION]
    return {(route.method, route.resource.canonical): needs[route.handler].value  # type: ignore[union-attr]
            for route in app.router.routes() if route.method != "HEAD" and route.resource is not None}


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
