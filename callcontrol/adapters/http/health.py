"""Liveness and readiness probes (/healthz, /readyz): open to anybody, for load balancers and orchestrators."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from callcontrol.adapters.http.auth import Route
from callcontrol.core.permissions import Permission

Readiness = Callable[[], list[str]]  # the reasons the service is not ready; empty when it is
READINESS = web.AppKey("readiness", Readiness)


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "up"})


async def readyz(request: web.Request) -> web.Response:
    reasons = request.app[READINESS]()
    if reasons:
        return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
    return web.json_response({"status": "ready"})


ROUTES = (Route("GET", "/healthz", healthz, Permission.PROBE), Route("GET", "/readyz", readyz, Permission.PROBE))
