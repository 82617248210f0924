"""Who may call which route: the API token, an agent with its PIN, or anybody (the probes); and WebSocket origins.

Every route is declared with its `Access` in the route table (app.py); the one middleware here checks it before
any handler runs, so no handler checks credentials itself. A route not declared needs the API token.

- `Authorization: Bearer <api token>`: the scheme compared case-insensitively (RFC 7235 section 2.1), the token
  with hmac.compare_digest; the token is never logged. Unset (no CALLCONTROL_API_TOKEN): 403 api_token_unset.
- An agent's own actions also take HTTP Basic with its id and PIN, through services/agent_pins.py (failed attempts
  limited, shared with the phones): while an agent is locked out the answer is 429 with Retry-After, whatever PIN
  was sent, and the PIN is not even hashed.
- A WebSocket handshake that carries an Origin header (a browser's) is refused with 403 unless that origin is
  allow-listed (CALLCONTROL_HTTP_ALLOWED_ORIGINS); clients that send no Origin are not browsers.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from aiohttp import hdrs, web

from callcontrol.core.permissions import Principal, Role
from callcontrol.services.agent_pins import AgentPins

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BASIC_CHALLENGE = 'Basic realm="callcontrol agents"'


class Access(Enum):
    """Who may call a route."""

    OPEN = "open"  # anybody: the liveness and readiness probes load balancers poll
    TOKEN = "token"  # the API token
    AGENT_OR_TOKEN = "agent or token"  # the agent named in the path ({agent_id}) with its PIN, or the API token


@dataclass(frozen=True)
class Route:
    """One line of the route table: method, path, handler and who may call it."""

    method: str
    path: str
    handler: Handler
    access: Access = Access.TOKEN


@dataclass(frozen=True)
class Guard:
    """What the middleware checks requests against: the API token, agents' PINs, the allowed browser origins."""

    api_token: str | None
    agent_pins: AgentPins | None = None
    known_agent: Callable[[str], bool] = lambda agent_id: False  # agent ids are public: no PIN work for others
    allowed_origins: frozenset[str] = frozenset()

    @staticmethod
    def origins(values: Iterable[str]) -> frozenset[str]:
        """Origins as browsers send them: scheme://host[:port], lower case, no trailing slash."""
        return frozenset(value.strip().rstrip("/").lower() for value in values if value.strip())


GUARD = web.AppKey("guard", Guard)
PRINCIPAL = web.RequestKey("principal", Principal)  # the request key the middleware puts the authenticated Principal under
TOKEN_PRINCIPAL = Principal("api-token", Role.ADMIN)  # who the API token (CALLCONTROL_API_TOKEN) acts as
ROUTE_ACCESS = web.AppKey("route_access", dict[Handler, Access])  # each route's handler -> who may call it


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place requests are authenticated: each route's Access, then the handler."""
    if request.match_info.http_exception is not None:  # no such route (404, 405): nothing to protect
        return await handler(request)
    guard = request.app[GUARD]
    denied = _origin_denied(request, guard)
    if denied is None:
        access = request.app[ROUTE_ACCESS].get(request.match_info.handler, Access.TOKEN)
        if access is Access.TOKEN:
            denied = _token_denied(request, guard.api_token)
        elif access is Access.AGENT_OR_TOKEN:
            denied = await _agent_or_token_denied(request, request.match_info["agent_id"], guard)
    return denied if denied is not None else await handler(request)


def principal_of(request: web.Request) -> Principal:
    """Who the request acts as (set by the middleware); LookupError on a route anybody may call."""
    principal = request.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise LookupError(f"{request.path}: nobody is signed in on an open route")
    return principal


def _credentials(request: web.Request) -> tuple[str, str]:
    """The Authorization header as (scheme, the rest), the scheme as sent; ("", "") when there is none."""
    scheme, _, rest = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")
    return scheme, rest.strip()


def _origin_denied(request: web.Request, guard: Guard) -> web.Response | None:
    """403 for a WebSocket handshake from a browser page whose origin is not allow-listed."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or request.headers.get(hdrs.UPGRADE, "").lower() != "websocket":
        return None
    if origin.strip().rstrip("/").lower() in guard.allowed_origins:
        return None
    return web.json_response({"error": "origin_not_allowed",
                              "message": f"origin {origin[:100]!r} is not in CALLCONTROL_HTTP_ALLOWED_ORIGINS"},
                             status=403)


def _token_denied(request: web.Request, api_token: str | None) -> web.Response | None:
    """None when the request carries the API token; else the 401/403 answer."""
    if api_token is None:
        return web.json_response({"error": "api_token_unset", "message": "the API needs CALLCONTROL_API_TOKEN set"},
                                 status=403)
    scheme, token = _credentials(request)
    # a header's bytes that are not UTF-8 arrive as surrogates (aiohttp decodes with surrogateescape): compared as sent
    sent = token.encode("utf-8", "surrogateescape")
    if not (scheme.lower() == "bearer" and hmac.compare_digest(sent, api_token.encode())):
        return web.json_response({"error": "unauthorized", "message": "Authorization: Bearer <api token>"},
                                 status=401, headers={hdrs.WWW_AUTHENTICATE: "Bearer"})
    request[PRINCIPAL] = TOKEN_PRINCIPAL
    return None


async def _agent_or_token_denied(request: web.Request, agent_id: str, guard: Guard) -> web.Response | None:
    """None for the agent itself (HTTP Basic: its id and PIN) or the API token; else the 401/403/429 answer."""
    scheme, encoded = _credentials(request)
    if scheme.lower() != "basic" or guard.agent_pins is None:
        return _token_denied(request, guard.api_token)
    try:
        user, _, pin = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        user, pin = "", ""
    if user == agent_id and guard.known_agent(agent_id):
        verdict = await guard.agent_pins.check(agent_id, pin, "api", remote=request.remote)
        if verdict.ok:
            request[PRINCIPAL] = Principal(agent_id, Role.AGENT, agent_id=agent_id)
            return None
        if verdict.locked is not None:
            seconds = verdict.locked.retry_after_s
            return web.json_response(
                {"error": "too_many_attempts",
                 "message": f"too many wrong PINs for agent {agent_id[:64]}: try again in {seconds} s"},
                status=429, headers={hdrs.RETRY_AFTER: str(seconds)})
    return web.json_response({"error": "unauthorized", "message": "wrong agent id or PIN"}, status=401,
                             headers={hdrs.WWW_AUTHENTICATE: BASIC_CHALLENGE})
