"""Liveness and readiness probes (/healthz, /readyz): open to anybody, for load balancers and orchestrators."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from callcontrol.adapters.http.auth import Access, Route

Readiness = Callable[[], list[str]]  # the reasons the service is not ready; empty when it is
READINESS = web.AppKey("readiness", Readiness)
DEGRADATION = web.AppKey("degradation", Readiness)  # what works less well while calls are still taken


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "up"})


async def readyz(request: web.Request) -> web.Response:
    reasons = request.app[READINESS]()
    if reasons:
        return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
    degraded = request.app[DEGRADATION]() if DEGRADATION in request.app else []
    if degraded:  # still taking calls (200), but an operator must look: e.g. recordings cannot be written
        return web.json_response({"status": "degraded", "degraded": degraded})
    return web.json_response({"status": "ready"})


ROUTES = (Route("GET", "/healthz", healthz, Access.OPEN), Route("GET", "/readyz", readyz, Access.OPEN))
