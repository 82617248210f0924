"""The one place HTTP requests and WebSocket handshakes are authenticated and authorized, and refusals audited.

Every route is declared with the Permission it needs (Route(..., permission), app.py's table); the middleware
here, before any handler runs: refuses a browser WebSocket from an origin not allow-listed (403); lets the open
permissions (PROBE, SIGN_IN) through; names the Principal (below) or answers 401/429; checks `allows` (403); then
the object's scope through the Guard's `scope` hook (404, the same answer as for an object that does not exist).
Every refusal goes into the audit trail: who (or "anonymous"), what, when, from which address.

Who a request is:
- `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235 section 2.1): the bootstrap token
  CALLCONTROL_API_TOKEN (compared with hmac.compare_digest) acts as the admin TOKEN_PRINCIPAL; a user token
  (cc_<id>_<secret>, services/people.py) as its user. Wrong tokens are counted per source address
  (services/login_attempts.py): past the limit, 429 with Retry-After before any check.
- An agent's own actions (AGENT_OPERATE routes with {agent_id}) also take HTTP Basic with the agent's id and PIN,
  through services/agent_pins.py (shared with the phones; 429 while the agent is locked out).
- A WebSocket handshake may carry `?ticket=` (services/feed_tickets.py), as browsers cannot set headers on one.
No token is ever logged. With neither a bootstrap token nor a people store, the API answers 403 api_token_unset.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from aiohttp import hdrs, web

from callcontrol.core.audit import AuditEntry, Outcome
from callcontrol.core.permissions import OPEN_PERMISSIONS, Permission, Principal, Role, allows
from callcontrol.services.agent_pins import AgentPins
from callcontrol.services.feed_tickets import FeedTickets
from callcontrol.services.login_attempts import LoginAttempts
from callcontrol.services.people import People
from callcontrol.services.ports import AuditTrail, Clock, SystemClock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BASIC_CHALLENGE = 'Basic realm="callcontrol agents"'
log = structlog.get_logger("callcontrol.http")


@dataclass(frozen=True)
class Route:
    """One line of the route table: method, path, handler and the Permission a caller needs."""

    method: str
    path: str
    handler: Handler
    permission: Permission


class ObjectScope(Protocol):
    """Whether the principal may see the object the path names ({agent_id}, {queue_id}): None, or the 404."""

    def refusal(self, principal: Principal, match_info: Mapping[str, str]) -> web.Response | None: ...


class NoAuditTrail:
    """Refusals are only logged (an app built without a database)."""

    async def record(self, entry: AuditEntry) -> None:
        log.info("audit", actor=entry.actor, action=entry.action, object_id=entry.object_id[:128],
                 outcome=entry.outcome.value, source=entry.source)


@dataclass(frozen=True)
class Guard:
    """What the middleware checks requests against."""

    api_token: str | None
    agent_pins: AgentPins | None = None
    known_agent: Callable[[str], bool] = lambda agent_id: False  # agent ids are public: no PIN work for others
    allowed_origins: frozenset[str] = frozenset()
    people: People | None = None
    tickets: FeedTickets = field(default_factory=FeedTickets)
    attempts: LoginAttempts = field(default_factory=LoginAttempts)
    audit: AuditTrail = field(default_factory=NoAuditTrail)
    scope: ObjectScope | None = None
    clock: Clock = field(default_factory=SystemClock)

    @staticmethod
    def origins(values: Iterable[str]) -> frozenset[str]:
        """Origins as browsers send them: scheme://host[:port], lower case, no trailing slash."""
        return frozenset(value.strip().rstrip("/").lower() for value in values if value.strip())


GUARD = web.AppKey("guard", Guard)
PRINCIPAL = web.RequestKey("principal", Principal)  # the request key the middleware puts the authenticated Principal under
TOKEN_PRINCIPAL = Principal("api-token", Role.ADMIN)  # who the bootstrap token (CALLCONTROL_API_TOKEN) acts as
ROUTE_PERMISSION = web.AppKey("route_permission", dict[Handler, Permission])  # each route's handler -> its need


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place requests are authenticated and authorized: each route's Permission, then the handler."""
    if request.match_info.http_exception is not None:  # no such route (404, 405): nothing to protect
        return await handler(request)
    guard = request.app[GUARD]
    denied = _origin_denied(request, guard)
    if denied is not None:
        await audit_refusal(request, None, "auth.origin_refused", denied.status)
        return denied
    # a handler not in the table (none should be) needs what only the admin has
    permission = request.app[ROUTE_PERMISSION].get(request.match_info.handler, Permission.USERS_MANAGE)
    if permission in OPEN_PERMISSIONS:
        return await handler(request)
    found = await _principal(request, guard, permission)
    if isinstance(found, web.Response):
        action = "auth.rate_limited" if found.status == 429 else "auth.unauthenticated"
        await audit_refusal(request, None, action, found.status)
        return found
    if not allows(found, permission):
        await audit_refusal(request, found, "auth.forbidden", 403, permission=permission.value)
        return web.json_response({"error": "forbidden", "message": f"the {found.role.value} role does not carry "
                                  f"{permission.value}"}, status=403)
    if guard.scope is not None:
        refused = guard.scope.refusal(found, request.match_info)
        if refused is not None:
            await audit_refusal(request, found, "auth.out_of_scope", refused.status)
            return refused
    request[PRINCIPAL] = found
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    """Who the request acts as (set by the middleware); LookupError on a route anybody may call."""
    principal = request.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise LookupError(f"{request.path}: nobody is signed in on an open route")
    return principal


async def audit_refusal(request: web.Request, principal: Principal | None, action: str, status: int,
                        **detail: str) -> None:
    """Write a refused request into the audit trail: who, which route and object, when, from where."""
    guard = request.app[GUARD]
    info = request.match_info
    object_type, object_id = next(((key.removesuffix("_id"), value) for key, value in info.items()),
                                  ("route", request.path))
    route = getattr(info.route.resource, "canonical", request.path) if info.route.resource else request.path
    await guard.audit.record(AuditEntry(
        guard.clock.now(), principal.user if principal is not None else "anonymous", action, object_type,
        object_id, Outcome.DENIED, principal.role.value if principal is not None else None, request.remote,
        {"status": status, "method": request.method, "route": route, **detail}))


def too_many(seconds: int, what: str) -> web.Response:
    """429 with Retry-After."""
    return web.json_response({"error": "too_many_attempts", "message": f"too many failed {what}: try again in "
                              f"{seconds} s"}, status=429, headers={hdrs.RETRY_AFTER: str(seconds)})


def _credentials(request: web.Request) -> tuple[str, str]:
    """The Authorization header as (scheme, the rest), the scheme as sent; ("", "") when there is none."""
    scheme, _, rest = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")
    return scheme, rest.strip()


def _origin_denied(request: web.Request, guard: Guard) -> web.Response | None:
    """403 for a WebSocket handshake from a browser page whose origin is not allow-listed."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or not _is_websocket(request):
        return None
    if origin.strip().rstrip("/").lower() in guard.allowed_origins:
        return None
    return web.json_response({"error": "origin_not_allowed",
                              "message": f"origin {origin[:100]!r} is not in CALLCONTROL_HTTP_ALLOWED_ORIGINS"},
                             status=403)


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


async def _principal(request: web.Request, guard: Guard, permission: Permission) -> Principal | web.Response:
    """Who the request is, or the 401/403/429 answer."""
    scheme, credentials = _credentials(request)
    agent_id = request.match_info.get("agent_id")
    if scheme.lower() == "basic" and permission is Permission.AGENT_OPERATE and agent_id is not None \
            and guard.agent_pins is not None:
        return await _agent_with_pin(request, agent_id, credentials, guard)
    if guard.api_token is None and guard.people is None:
        return web.json_response({"error": "api_token_unset", "message": "the API needs CALLCONTROL_API_TOKEN set"},
                                 status=403)
    if scheme.lower() == "bearer" and credentials:
        return await _bearer(request, credentials, guard)
    ticket = request.query.get("ticket")
    if ticket is not None and _is_websocket(request):
        principal = guard.tickets.take(ticket, guard.clock.now())
        if principal is not None:
            return principal
        return web.json_response({"error": "unauthorized", "message": "the feed ticket is unknown, used or "
                                  "expired: POST /api/feed/ticket for a new one"}, status=401)
    return _unauthorized()


async def _bearer(request: web.Request, token: str, guard: Guard) -> Principal | web.Response:
    now = guard.clock.now()
    locked = guard.attempts.locked(now, request.remote)
    if locked is not None:
        return too_many(locked.retry_after_s, "sign-ins from this address")
    # a header's bytes that are not UTF-8 arrive as surrogates (aiohttp decodes with surrogateescape): compared as sent
    sent = token.encode("utf-8", "surrogateescape")
    if guard.api_token is not None and hmac.compare_digest(sent, guard.api_token.encode()):
        return TOKEN_PRINCIPAL
    principal, owner = await guard.people.resolve_token(token) if guard.people is not None else (None, None)
    if owner is not None:  # guesses at one user's token are limited too, from whatever address
        locked = guard.attempts.locked_user(now, owner)
        if locked is not None:
            return too_many(locked.retry_after_s, f"sign-ins for user {owner}")
    if principal is not None:
        return principal
    locked = guard.attempts.failed(now, request.remote, owner)
    if locked is not None and locked.lockout_started:
        log.warning("http.sign_in_locked", source=request.remote, failures=locked.failures,
                    lockout_s=locked.retry_after_s)
    return _unauthorized()


def _unauthorized() -> web.Response:
    return web.json_response({"error": "unauthorized", "message": "Authorization: Bearer <api token>"},
                             status=401, headers={hdrs.WWW_AUTHENTICATE: "Bearer"})


async def _agent_with_pin(request: web.Request, agent_id: str, encoded: str, guard: Guard) -> Principal | web.Response:
    """The agent itself (HTTP Basic: its id and PIN), or the 401/429 answer."""
    assert guard.agent_pins is not None
    try:
        user, _, pin = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        user, pin = "", ""
    if user == agent_id and guard.known_agent(agent_id):
        verdict = await guard.agent_pins.check(agent_id, pin, "api", remote=request.remote)
        if verdict.ok:
            return Principal(agent_id, Role.AGENT, agent_id=agent_id)
        if verdict.locked is not None:
            return too_many(verdict.locked.retry_after_s, f"PINs for agent {agent_id[:64]}")
    return web.json_response({"error": "unauthorized", "message": "wrong agent id or PIN"}, status=401,
                             headers={hdrs.WWW_AUTHENTICATE: BASIC_CHALLENGE})
