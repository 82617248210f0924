"""Liveness and readiness probes (/healthz, /readyz): open to anybody, for load balancers and orchestrators."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from callcontrol.adapters.http.auth import Route
from callcontrol.adapters.http.openapi_parts import Operations, array_of, json_response, obj, operation
from callcontrol.core.permissions import Permission

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


ROUTES = (Route("GET", "/healthz", healthz, Permission.PROBE), Route("GET", "/readyz", readyz, Permission.PROBE))

_STATUS = {"type": "string"}
OPERATIONS: Operations = {
    ("GET", "/healthz"): operation(
        "Liveness: the process answers", tag="probes",
        responses={200: json_response("Up", obj({"status": {"const": "up"}}, required=("status",)))}),
    ("GET", "/readyz"): operation(
        "Readiness: the database, AMI and FastAGI are all usable", tag="probes",
        responses={200: json_response("Ready", obj({"status": {"const": "ready"}}, required=("status",))),
                   503: json_response("Not ready, and why", obj({"status": {"const": "not ready"},
                                                                 "reasons": array_of({"type": "string"})},
                                                                required=("status", "reasons")))}),
}
