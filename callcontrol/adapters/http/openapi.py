"""The OpenAPI 3.1 description of the HTTP API, assembled from the route table, and GET /api/openapi.json.

Each route module declares OPERATIONS (and the SCHEMAS they name) next to its ROUTES, with openapi_parts.py's
helpers; DESCRIBED_MODULES lists those modules. document() walks the route table an app serves: every route's
operation, its security requirement and 401/403/429 answers from its access (what the middleware checks), the
shared error schema. tests/unit/adapters/acd_api/test_openapi.py fails when a route has no description or a description
no route, so a new route module goes into DESCRIBED_MODULES and every new route gets its OPERATIONS entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from types import ModuleType
from typing import Any

from aiohttp import web

from callcontrol.adapters.http import (
    acd_json,
    agents,
    config,
    feed,
    flows,
    health,
    live_calls,
    queues,
    recordings_described,
    supervision_described,
    transfers,
    users,
    wrapups,
)
from callcontrol.adapters.http.auth import BASIC_CHALLENGE, Route
from callcontrol.adapters.http.openapi_parts import (
    ERROR_SCHEMA,
    Operation,
    Operations,
    Schema,
    error_response,
    json_response,
    operation,
)
from callcontrol.core.permissions import OPEN_PERMISSIONS, Permission

DOCUMENT = web.AppKey("openapi_document", dict)  # the app's description, built once by make_app
PATH = "/api/openapi.json"
OPENAPI_VERSION = "3.1.0"
BEARER, AGENT_BASIC = "apiToken", "agentPin"  # the security schemes' names
SECURITY_SCHEMES = {
    BEARER: {"type": "http", "scheme": "bearer",
             "description": "Authorization: Bearer <CALLCONTROL_API_TOKEN>"},
    AGENT_BASIC: {"type": "http", "scheme": "basic",
                  "description": "An agent's own actions only: its id and PIN (wrong PINs are limited, then 429)"},
}


async def serve_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT])


ROUTES = (Route("GET", PATH, serve_document, Permission.API_READ),)
OPERATIONS: Operations = {
    ("GET", PATH): operation(
        "This description of the API (OpenAPI 3.1)", tag="api",
        description="Only the routes this service serves; the same token as the rest of the API.",
        responses={200: json_response("The OpenAPI document", {"type": "object"})}),
}
DESCRIBED_MODULES: tuple[ModuleType, ...] = (health, flows, acd_json, agents, queues, config, feed, users,
                                             recordings_described,  # recordings.py's, kept apart for length
                                             supervision_described, live_calls, wrapups, transfers)


def _merged(parts: Iterable[Mapping[Any, Any]], what: str) -> dict[Any, Any]:
    merged: dict[Any, Any] = {}
    for part in parts:
        twice = merged.keys() & part.keys()
        if twice:
            raise ValueError(f"{what} described twice: {sorted(twice)}")
        merged.update(part)
    return merged


DESCRIBED: dict[tuple[str, str], Operation] = _merged(
    [OPERATIONS, *(getattr(module, "OPERATIONS", {}) for module in DESCRIBED_MODULES)], "operations")
SCHEMAS: dict[str, Schema] = _merged(
    [{"Error": ERROR_SCHEMA}, *(getattr(module, "SCHEMAS", {}) for module in DESCRIBED_MODULES)], "schemas")


def undescribed(table: Sequence[Route]) -> list[str]:
    """The routes of the table without an operation in DESCRIBED, as 'METHOD path'."""
    return [f"{route.method} {route.path}" for route in table if (route.method, route.path) not in DESCRIBED]


def routeless(table: Sequence[Route]) -> list[str]:
    """The operations in DESCRIBED no route of the table serves, as 'METHOD path'."""
    served = {(route.method, route.path) for route in table}
    return sorted(f"{method} {path}" for method, path in DESCRIBED.keys() - served)


def is_open(route: Route) -> bool:
    """Anybody may call it, without credentials (the middleware lets it through)."""
    return route.permission in OPEN_PERMISSIONS


def takes_agent_pin(route: Route) -> bool:
    """The agent the path names may call it with HTTP Basic (its id and PIN), as well as with the token."""
    return route.permission is Permission.AGENT_OPERATE and "{agent_id}" in route.path


def security_of(route: Route) -> list[dict[str, list[str]]]:
    """The OpenAPI security requirement of a route: any one of the listed schemes will do."""
    if is_open(route):
        return []
    return [{BEARER: []}, {AGENT_BASIC: []}] if takes_agent_pin(route) else [{BEARER: []}]


def refusals_of(route: Route) -> dict[str, dict[str, Any]]:
    """The answers the middleware gives before the handler runs."""
    if is_open(route):
        return {}
    answers = {"401": error_response("No credentials, or wrong ones", {"WWW-Authenticate": {"type": "string"}}),
               "403": error_response("The caller's role lacks the route's permission, the service has no token "
                                     "set (api_token_unset), or a browser origin not allow-listed opened a "
                                     "WebSocket"),
               "429": error_response("Too many wrong credentials from this address (or, for an agent, wrong PINs): "
                                     "wait Retry-After seconds", {"Retry-After": {"type": "integer"}})}
    if takes_agent_pin(route):
        answers["401"]["description"] += f" (HTTP Basic is challenged with {BASIC_CHALLENGE})"
    return answers


def document(table: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI document of the routes in `table` that are described (undescribed(table) names the rest)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in table:
        described = DESCRIBED.get((route.method, route.path))
        if described is None:
            continue
        paths.setdefault(route.path, {})[route.method.lower()] = {
            **described, "operationId": _operation_id(route),
            "security": security_of(route),
            "responses": _by_status({**refusals_of(route), **_too_large(described),
                                     **described["responses"]}),
        }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "callcontrol", "version": _version(),
                 "description": "The HTTP API of callcontrol serve: probes, IVR flows, the ACD's live state, its "
                                "configuration, the live feed, people and the audit trail, and call recordings. "
                                "Errors are JSON {error, message}.",
                 "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"}},
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
    }


def _too_large(described: Operation) -> dict[str, dict[str, Any]]:
    """A body over aiohttp's 1 MiB limit is refused before it is read (errors.py makes it the JSON error)."""
    return {"413": error_response("The body is over 1 MiB")} if "requestBody" in described else {}


def _by_status(responses: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return dict(sorted(responses.items()))


def _operation_id(route: Route) -> str:
    """GET /api/agents/{agent_id}/login -> get_api_agents_agent_id_login."""
    words = route.path.replace("{", "").replace("}", "").replace(".", "_").strip("/").split("/")
    return "_".join([route.method.lower(), *words])


def _version() -> str:
    try:
        return metadata.version("callcontrol")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0"
