"""/api/users, /api/audit and /api/login: the admin's people API, the audit trail read back, password sign-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from callcontrol.adapters.http.acd_json import request_json
from callcontrol.adapters.http.auth import GUARD, Route, audit_refusal, principal_of, too_many
from callcontrol.adapters.http.openapi_parts import (
    NULLABLE_STRING,
    TIMESTAMP,
    Operations,
    Schema,
    array_of,
    error_response,
    json_body,
    json_response,
    obj,
    operation,
    path_id,
    query,
    ref,
)
from callcontrol.core.audit import AuditEntry, Outcome
from callcontrol.core.people import InvalidUser, User
from callcontrol.core.permissions import Permission, Principal, Role
from callcontrol.services.people import LOGIN_TOKEN_DAYS, People
from callcontrol.services.ports import AuditReader, UnknownUser, UserExists

PEOPLE = web.AppKey("people", People)
AUDIT_READER = web.AppKey("audit_reader", AuditReader)
MAX_AUDIT_ROWS = 1000


def user_data(user: User) -> dict[str, Any]:
    """A user as the API and `callcontrol users list` show it (never a hash)."""
    return {"name": user.name, "role": user.role.value, "teams": sorted(user.teams), "queues": sorted(user.queues),
            "agent": user.agent_id, "password": user.has_password,
            "created_at": user.created_at.isoformat() if user.created_at else None,
            "revoked_at": user.revoked_at.isoformat() if user.revoked_at else None}


def _bad(message: str, status: int = 400, error: str = "bad_request") -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request_json(request)
    except ValueError:
        return _bad("the body must be JSON")
    return body if isinstance(body, dict) else _bad("the body must be a JSON object")


def _fields(body: dict[str, Any]) -> dict[str, Any] | str:
    """role, teams, queues, agent, password of a body, checked for type; a message when one is wrong."""
    found: dict[str, Any] = {}
    if "role" in body:
        try:
            found["role"] = Role(body["role"])
        except ValueError:
            return f"role must be one of {', '.join(role.value for role in Role)}"
    for key in ("teams", "queues"):
        if key in body:
            if not (isinstance(body[key], list) and all(isinstance(item, str) for item in body[key])):
                return f"{key} must be a list of names"
            found[key] = frozenset(body[key])
    for key, name in (("agent", "agent_id"), ("password", "password")):
        if body.get(key) is not None:
            if not isinstance(body[key], str):
                return f"{key} must be a string"
            found[name] = body[key]
    return found


async def _audit(request: web.Request, action: str, name: str, **detail: object) -> None:
    principal, guard = principal_of(request), request.app[GUARD]
    await guard.audit.record(AuditEntry(guard.clock.now(), principal.user, action, "user", name, Outcome.ALLOWED,
                                        principal.role.value, request.remote, detail))


async def list_users(request: web.Request) -> web.Response:
    return web.json_response([user_data(user) for user in await request.app[PEOPLE].store.users()])


async def add_user(request: web.Request) -> web.Response:
    """POST {"name", "role", "teams"?, "queues"?, "agent"?, "password"?}: 201 with the user and its token (once)."""
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    fields = _fields(body)
    name = body.get("name")
    if isinstance(fields, str) or not isinstance(name, str) or "role" not in fields:
        return _bad(fields if isinstance(fields, str) else "a user needs a \"name\" and a \"role\"")
    try:
        user, token = await request.app[PEOPLE].add_user(name, **fields)
    except UserExists as exc:
        return _bad(str(exc), 409, "user_exists")
    except (InvalidUser, ValueError) as exc:
        return _bad(str(exc), 422, "invalid_user")
    await _audit(request, "user.add", name, role=user.role.value)
    return web.json_response({**user_data(user), "token": token}, status=201)


async def one_user(request: web.Request) -> web.Response:
    user = await request.app[PEOPLE].store.user(request.match_info["user"])
    if user is None:
        return _bad(f"no user {request.match_info['user'][:64]}", 404, "unknown_user")
    return web.json_response(user_data(user))


async def change_user(request: web.Request) -> web.Response:
    """PATCH {"role"?, "teams"?, "queues"?, "agent"?, "password"?}: the user as changed."""
    name, body = request.match_info["user"], await _body(request)
    if isinstance(body, web.Response):
        return body
    fields = _fields(body)
    if isinstance(fields, str):
        return _bad(fields)
    try:
        user = await request.app[PEOPLE].set_user(name, **fields)
    except UnknownUser as exc:
        return _bad(str(exc), 404, "unknown_user")
    except (InvalidUser, ValueError) as exc:
        return _bad(str(exc), 422, "invalid_user")
    await _audit(request, "user.set", name, changed=sorted(key for key in fields if key != "password")
                 + (["password"] if "password" in fields else []))
    return web.json_response(user_data(user))


async def revoke_user(request: web.Request) -> web.Response:
    name = request.match_info["user"]
    if not await request.app[PEOPLE].revoke(name):
        return _bad(f"no user {name[:64]}", 404, "unknown_user")
    await _audit(request, "user.revoke", name)
    return web.json_response(user_data(await request.app[PEOPLE].store.user(name)))  # type: ignore[arg-type]


async def new_token(request: web.Request) -> web.Response:
    """POST {"expires_days"?: N}: 201 with a new token (shown once)."""
    name = request.match_info["user"]
    body = await _body(request) if request.can_read_body else {}
    if isinstance(body, web.Response):
        return body
    days = body.get("expires_days")
    if days is not None and not (isinstance(days, (int, float)) and not isinstance(days, bool) and 0 < days <= 3650):
        return _bad("expires_days must be a number of days, more than 0 and at most 3650")
    try:
        token = await request.app[PEOPLE].issue_token(name, days)
    except UnknownUser as exc:
        return _bad(str(exc), 404, "unknown_user")
    await _audit(request, "user.token", name, expires_days=days)
    return web.json_response({"user": name, "token": token, "expires_days": days}, status=201)


async def audit_log(request: web.Request) -> web.Response:
    """GET ?actor=&action=&from=&to=&limit=: the audit trail, newest first."""
    query = request.query
    try:
        since, until = (datetime.fromisoformat(query[key]) if key in query else None for key in ("from", "to"))
        limit = int(query.get("limit", "100"))
        if any(value is not None and value.tzinfo is None for value in (since, until)) \
                or not 0 < limit <= MAX_AUDIT_ROWS:
            return _bad(f"from and to need a time zone (e.g. 2026-12-02T09:00:00+00:00); limit is 1 to "
                        f"{MAX_AUDIT_ROWS}")
        since, until = (value.astimezone(UTC) if value is not None else None for value in (since, until))
    except (ValueError, OverflowError):  # OverflowError: a time whose UTC falls outside the years datetime holds
        return _bad("from and to are ISO 8601 times with a zone, limit a number")
    entries = await request.app[AUDIT_READER].entries(query.get("actor"), query.get("action"), since, until, limit)
    return web.json_response([{"at": entry.at.isoformat(), "actor": entry.actor, "role": entry.role,
                               "action": entry.action, "object_type": entry.object_type, "object_id": entry.object_id,
                               "outcome": entry.outcome.value, "source": entry.source, "detail": dict(entry.detail)}
                              for entry in entries])


async def login(request: web.Request) -> web.Response:
    """POST {"name", "password"}: 201 with a token expiring in LOGIN_TOKEN_DAYS; failures limited (429)."""
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    name, password = body.get("name"), body.get("password")
    if not (isinstance(name, str) and isinstance(password, str)):
        return _bad("login needs {\"name\": ..., \"password\": ...}")
    guard, people = request.app[GUARD], request.app[PEOPLE]
    locked = guard.attempts.begin_password(guard.clock.now(), request.remote, name)
    if locked is not None:
        await audit_refusal(request, None, "auth.rate_limited", 429, user=name[:64])
        return too_many(locked.retry_after_s, "sign-ins")
    principal: Principal | None = None
    try:
        principal = await people.login(name, password)
    finally:  # a cancelled check counts as a failure: it cannot be used to try for free
        guard.attempts.end_password(guard.clock.now(), request.remote, name, principal is not None)
    if principal is None:
        await audit_refusal(request, None, "auth.login_failed", 401, user=name[:64])
        return _bad("wrong name or password", 401, "unauthorized")
    token = await people.issue_token(principal.user, LOGIN_TOKEN_DAYS)
    expires = guard.clock.now() + timedelta(days=LOGIN_TOKEN_DAYS)
    await guard.audit.record(AuditEntry(guard.clock.now(), principal.user, "auth.login", "user", principal.user,
                                        Outcome.ALLOWED, principal.role.value, request.remote))
    return web.json_response({"user": principal.user, "role": principal.role.value, "token": token,
                              "expires_at": expires.isoformat()}, status=201)


ROUTES = (
    Route("GET", "/api/users", list_users, Permission.USERS_MANAGE),
    Route("POST", "/api/users", add_user, Permission.USERS_MANAGE),
    Route("GET", "/api/users/{user}", one_user, Permission.USERS_MANAGE),
    Route("PATCH", "/api/users/{user}", change_user, Permission.USERS_MANAGE),
    Route("DELETE", "/api/users/{user}", revoke_user, Permission.USERS_MANAGE),
    Route("POST", "/api/users/{user}/tokens", new_token, Permission.USERS_MANAGE),
    Route("GET", "/api/audit", audit_log, Permission.AUDIT_READ),
    Route("POST", "/api/login", login, Permission.SIGN_IN),
)


_NAMES: Schema = array_of({"type": "string"})
_ROLE: Schema = {"enum": [role.value for role in Role]}
SCHEMAS: dict[str, Schema] = {
    "User": obj({"name": {"type": "string"}, "role": _ROLE, "teams": _NAMES, "queues": _NAMES,
                 "agent": NULLABLE_STRING, "password": {"type": "boolean", "description": "whether one is set"},
                 "created_at": TIMESTAMP, "revoked_at": TIMESTAMP},
                required=("name", "role", "teams", "queues", "agent", "password", "created_at", "revoked_at")),
}
_CHANGES = {"role": _ROLE, "teams": _NAMES, "queues": _NAMES, "agent": NULLABLE_STRING,
            "password": NULLABLE_STRING}
_USER = path_id("user", "the user's name", "admin")
_NO_USER = error_response("No such user")
_BAD = error_response("The body is not a JSON object, or a field has the wrong type")
_INVALID = error_response("The user breaks a rule (name, scope, agent link)")
OPERATIONS: Operations = {
    ("GET", "/api/users"): operation("Every user", tag="users",
                                     responses={200: json_response("Every user", array_of(ref("User")))}),
    ("POST", "/api/users"): operation(
        "Add a user; its first token is in the answer, shown once", tag="users",
        body=json_body(obj({"name": {"type": "string"}, **_CHANGES}, required=("name", "role")), "the user",
                       {"name": "sam", "role": "supervisor", "teams": ["sales"]}),
        responses={201: json_response("Added", {"allOf": [ref("User"), obj({"token": {"type": "string"}},
                                                                            required=("token",))]}),
                   400: _BAD, 409: error_response("A user has this name"), 422: _INVALID}),
    ("GET", "/api/users/{user}"): operation("One user", tag="users", parameters=[_USER],
                                            responses={200: json_response("The user", ref("User")), 404: _NO_USER}),
    ("PATCH", "/api/users/{user}"): operation(
        "Change a user's role, scope, agent link or password", tag="users", parameters=[_USER],
        body=json_body(obj(_CHANGES), "the fields to change", {"password": "correct horse battery staple"}),
        responses={200: json_response("The user as changed", ref("User")), 400: _BAD, 404: _NO_USER,
                   422: _INVALID}),
    ("DELETE", "/api/users/{user}"): operation(
        "Revoke a user and every token of it", tag="users", parameters=[_USER],
        responses={200: json_response("The user, revoked", ref("User")), 404: _NO_USER}),
    ("POST", "/api/users/{user}/tokens"): operation(
        "A new token for the user, shown once", tag="users", parameters=[_USER],
        body={**json_body(obj({"expires_days": {"type": "number", "exclusiveMinimum": 0, "maximum": 3650}}),
                          "when it expires (never when left out)", {"expires_days": 30}), "required": False},
        responses={201: json_response("The token", obj({"user": {"type": "string"}, "token": {"type": "string"},
                                                        "expires_days": {"type": ["number", "null"]}},
                                                       required=("user", "token", "expires_days"))),
                   400: _BAD, 404: _NO_USER}),
    ("GET", "/api/audit"): operation(
        "The audit trail, newest first", tag="audit",
        parameters=[query("actor", "who acted", {"type": "string"}), query("action", "what", {"type": "string"}),
                    query("from", "since (ISO 8601 with a zone)", {"type": "string", "format": "date-time"}),
                    query("to", "until (ISO 8601 with a zone)", {"type": "string", "format": "date-time"}),
                    query("limit", "at most this many", {"type": "integer", "minimum": 1,
                                                         "maximum": MAX_AUDIT_ROWS, "default": 100})],
        responses={200: json_response("The entries", array_of(obj({
            "at": {"type": "string"}, "actor": {"type": "string"}, "role": NULLABLE_STRING,
            "action": {"type": "string"}, "object_type": {"type": "string"}, "object_id": {"type": "string"},
            "outcome": {"type": "string"}, "source": NULLABLE_STRING, "detail": {"type": "object"}}))),
                   400: error_response("from/to not ISO 8601 with a zone, or limit out of range")}),
    ("POST", "/api/login"): operation(
        f"Sign in with a name and password: a token for {LOGIN_TOKEN_DAYS} day(s)", tag="users",
        body=json_body(obj({"name": {"type": "string"}, "password": {"type": "string"}},
                           required=("name", "password")), "the user's name and password",
                       {"name": "admin", "password": "correct horse battery staple"}),
        responses={201: json_response("Signed in", obj({"user": {"type": "string"}, "role": _ROLE,
                                                        "token": {"type": "string"}, "expires_at": TIMESTAMP},
                                                       required=("user", "role", "token", "expires_at"))),
                   400: _BAD, 401: error_response("Wrong name or password"),
                   429: error_response("Too many failed sign-ins: wait Retry-After seconds",
                                       {"Retry-After": {"type": "integer"}})}),
}
