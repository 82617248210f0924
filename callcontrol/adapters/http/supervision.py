"""/api/calls/{call_id}/supervise and /api/supervision: start, show, change and end live supervision sessions.

The middleware (auth.py) has checked the route's Permission (calls.supervise); the Supervision service checks the
call's scope (404 for another team's call, exactly as for a call that does not exist), the supervisor's phone and
writes every start, refusal, mode change and end to the audit trail. Nothing typed here reaches Asterisk: the
mode is one of three words, the endpoint must be one of the phones the admin allows the user, the call and
session ids must be tokens. The OpenAPI description is supervision_described.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcontrol.adapters.http.acd_json import request_json
from callcontrol.adapters.http.auth import Route, principal_of
from callcontrol.core.identifiers import ASTERISK_ID
from callcontrol.core.permissions import Permission
from callcontrol.core.supervision import Mode
from callcontrol.services.supervision import Supervision, SupervisionRefused

SUPERVISION = web.AppKey("supervision", Supervision)
MODES = ", ".join(mode.value for mode in Mode)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request_json(request) if request.can_read_body else {}
    except ValueError:
        raise SupervisionRefused(400, "bad_request", "the body must be JSON") from None
    if not isinstance(body, dict):
        raise SupervisionRefused(400, "bad_request", "the body must be a JSON object")
    return body


def _mode(body: dict[str, Any], required: bool) -> Mode:
    value = body.get("mode", None if required else Mode.LISTEN.value)
    if not isinstance(value, str) or value not in {mode.value for mode in Mode}:
        raise SupervisionRefused(400, "bad_request", f"mode must be one of {MODES}")
    return Mode(value)


async def supervise(request: web.Request) -> web.Response:
    """POST {mode, endpoint?}: ring the supervisor's phone and join it to the call's agent."""
    supervision = request.app[SUPERVISION]
    call_id = request.match_info["call_id"]
    try:
        if not ASTERISK_ID.match(call_id):
            raise SupervisionRefused(404, "unknown_call", "no call with an agent on it by that id")
        body = await _body(request)
        mode = _mode(body, required=False)
        endpoint = body.get("endpoint")
        if endpoint is not None and not isinstance(endpoint, str):
            raise SupervisionRefused(400, "bad_request", "endpoint must be a string such as PJSIP/supervisor1")
        session = await supervision.start(principal_of(request), call_id, mode, endpoint, request.remote)
    except SupervisionRefused as refused:
        return _error(refused.status, refused.code, str(refused))
    return web.json_response(session.as_json(), status=201)


async def list_sessions(request: web.Request) -> web.Response:
    """GET: the live sessions the user may see (its own; an admin every one); ?all=1 adds recently ended ones."""
    live_only = request.query.get("all", "0") not in ("1", "true")
    sessions = request.app[SUPERVISION].sessions(principal_of(request), live_only=live_only)
    return web.json_response({"sessions": [session.as_json() for session in sessions]})


async def show_session(request: web.Request) -> web.Response:
    try:
        session = request.app[SUPERVISION].session(principal_of(request), request.match_info["session_id"])
    except SupervisionRefused as refused:
        return _error(refused.status, refused.code, str(refused))
    return web.json_response(session.as_json())


async def change_session(request: web.Request) -> web.Response:
    """PATCH {mode}: change the mode mid-session (202: asked; the change shows once Asterisk has taken it)."""
    supervision = request.app[SUPERVISION]
    try:
        principal = principal_of(request)
        supervision.session(principal, request.match_info["session_id"])  # 404 before the body is judged
        mode = _mode(await _body(request), required=True)
        session = await supervision.change_mode(principal, request.match_info["session_id"], mode)
    except SupervisionRefused as refused:
        return _error(refused.status, refused.code, str(refused))
    return web.json_response(session.as_json(), status=202 if session.pending_mode is not None else 200)


async def end_session(request: web.Request) -> web.Response:
    """DELETE: hang up the supervisor's phone (202: asked; the session ends on its Hangup)."""
    try:
        session = await request.app[SUPERVISION].end(principal_of(request), request.match_info["session_id"])
    except SupervisionRefused as refused:
        return _error(refused.status, refused.code, str(refused))
    return web.json_response(session.as_json(), status=202 if session.live else 200)


ROUTES = (
    Route("POST", "/api/calls/{call_id}/supervise", supervise, Permission.CALLS_SUPERVISE),
    Route("GET", "/api/supervision", list_sessions, Permission.CALLS_SUPERVISE),
    Route("GET", "/api/supervision/{session_id}", show_session, Permission.CALLS_SUPERVISE),
    Route("PATCH", "/api/supervision/{session_id}", change_session, Permission.CALLS_SUPERVISE),
    Route("DELETE", "/api/supervision/{session_id}", end_session, Permission.CALLS_SUPERVISE),
)
