"""PUT /api/calls/{call_id}/wrapup: the wrap-up code (disposition) of an agent's leg of a call, and its OpenAPI.

The middleware has checked Permission.CALLS_WRAPUP (agents, supervisors, the admin). The leg is the call's latest
agent leg; an agent reaches only its own legs, a supervisor the calls of its scope (the leg's queue or agent,
core/permissions.py sees_call); anything else answers 404 like an unknown call. The code must be one of the
queue's (400 names the allowed ones); after the call it may be set for the service's window (409 too_late).
Every attempt goes to the audit trail (action call.wrapup): allowed with the code, refused with why.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcontrol.adapters.http.acd_json import request_json
from callcontrol.adapters.http.auth import GUARD, Route, principal_of
from callcontrol.adapters.http.openapi_parts import (
    TIMESTAMP,
    Operations,
    Schema,
    array_of,
    error_response,
    json_body,
    json_pattern,
    json_response,
    obj,
    operation,
    path_id,
    ref,
)
from callcontrol.adapters.http.scope import ACD_SCOPE
from callcontrol.core.audit import AuditEntry, Outcome
from callcontrol.core.identifiers import ASTERISK_ID
from callcontrol.core.permissions import Permission, Principal, Role
from callcontrol.core.wrapup import MAX_NOTE, WRAPUP_CODE
from callcontrol.services.wrapups import LegRef, NotAllowedCode, WrapupRefused, Wrapups

WRAPUPS = web.AppKey("wrapups", Wrapups)
PATH = "/api/calls/{call_id}/wrapup"
EXAMPLE_CALL_ID = "1764672000.42"  # tests/process/test_openapi_live.py stores this call (ada's, in sales) first
BODY_KEYS = ("code", "note")


def _error(status: int, error: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": error, "message": message, **extra}, status=status)


async def _audit(request: web.Request, principal: Principal, call_id: str, outcome: Outcome,
                 **detail: object) -> None:
    guard = request.app[GUARD]
    await guard.audit.record(AuditEntry(guard.clock.now(), principal.user, "call.wrapup", "call",
                                        call_id if ASTERISK_ID.match(call_id) else "(invalid id)", outcome,
                                        role=principal.role.value, source=request.remote, detail=detail))


def _in_scope(request: web.Request, principal: Principal, ref: LegRef) -> bool:
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.AGENT:
        return ref.leg.agent == principal.agent_id
    scope = request.app.get(ACD_SCOPE)
    return scope is not None and scope.sees_call(principal, [ref.queue], [ref.leg.agent])


async def set_wrapup(request: web.Request) -> web.Response:
    wrapups, principal = request.app[WRAPUPS], principal_of(request)
    call_id = request.match_info.get("call_id", "")
    ref = None
    if ASTERISK_ID.match(call_id):
        ref = await wrapups.find(call_id, principal.agent_id if principal.role is Role.AGENT else None)
    if ref is None or not _in_scope(request, principal, ref):
        await _audit(request, principal, call_id, Outcome.DENIED, reason="not found or out of scope")
        return _error(404, "not_found", "no such call with an agent leg")
    try:
        body = await request_json(request)
    except ValueError:
        return _error(400, "bad_request", "the body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "bad_request", 'the body must be a JSON object {"code": ..., "note": ...}')
    unknown = sorted(str(key)[:40] for key in body if key not in BODY_KEYS)
    if unknown:
        return _error(400, "bad_request", f"unknown key {unknown[0]!r} (allowed: {', '.join(BODY_KEYS)})")
    facts = {"agent": ref.leg.agent, "queue": ref.queue, "code": str(body.get("code"))[:40]}
    try:
        leg = await wrapups.set(ref, body.get("code"), body.get("note"), principal.user)
    except NotAllowedCode as exc:
        await _audit(request, principal, call_id, Outcome.DENIED, reason=exc.error, **facts)
        return _error(400, exc.error, str(exc), allowed=list(exc.allowed))
    except WrapupRefused as exc:
        await _audit(request, principal, call_id, Outcome.DENIED, reason=exc.error, **facts)
        return _error(409, exc.error, str(exc))
    await _audit(request, principal, call_id, Outcome.ALLOWED, during_call=leg.ended_at is None, **facts)
    return web.json_response({"call_id": ref.call_id, "queue": ref.queue, "agent_leg": leg.as_json()})


ROUTES = (Route("PUT", PATH, set_wrapup, Permission.CALLS_WRAPUP),)

_SPAN: Schema = obj({"start": TIMESTAMP, "end": TIMESTAMP}, required=("start", "end"))
SCHEMAS: dict[str, Schema] = {
    "AgentLeg": obj({
        "agent": {"type": "string"}, "endpoint": {"type": ["string", "null"]}, "answered_at": TIMESTAMP,
        "ended_at": TIMESTAMP, "talk_s": {"type": ["number", "null"]}, "hold_spans": array_of(_SPAN),
        "hold_s": {"type": "number", "description": "seconds on hold in the spans that ended"},
        "wrapup": {"oneOf": [{"type": "null"}, obj({
            "code": {"type": "string"}, "note": {"type": ["string", "null"]}, "set_at": TIMESTAMP,
            "set_by": {"type": "string", "description": "the user who set it"}},
            required=("code", "note", "set_at", "set_by"))]},
        "wrapup_required": {"type": "boolean", "description": "the queue required a code when the caller entered it"},
        "wrapup_missing": {"type": "boolean", "description": "required, the leg ended, and no code was set"},
        "transferred_to": {"type": ["string", "null"]},
    }, required=("agent", "endpoint", "answered_at", "ended_at", "talk_s", "hold_spans", "hold_s", "wrapup",
                 "wrapup_required", "wrapup_missing", "transferred_to")),
}
OPERATIONS: Operations = {
    ("PUT", PATH): operation(
        "Set the wrap-up code of the agent's leg of a call", tag="calls",
        description="During the call or up to the service's window after its end (CALLCONTROL_WRAPUP_WINDOW_S); "
                    "setting it again changes it. The call's latest agent leg (an agent's own). See docs/wrapup.md.",
        parameters=[path_id("call_id", "the call's key (Asterisk's linkedid)", EXAMPLE_CALL_ID)],
        body=json_body(obj({"code": {"type": "string", "pattern": json_pattern(WRAPUP_CODE),
                                     "description": "one of the queue's wrap-up codes"},
                            "note": {"type": ["string", "null"], "maxLength": MAX_NOTE}},
                           required=("code",), closed=True),
                       "The code, and an optional note", {"code": "sale", "note": "upgrade to premium"}),
        responses={200: json_response("The leg with its code", obj({
                       "call_id": {"type": "string"}, "queue": {"type": "string"}, "agent_leg": ref("AgentLeg")},
                       required=("call_id", "queue", "agent_leg"))),
                   400: json_response("Not JSON, an unknown key, a bad note, or a code not of the queue (bad_code, "
                                      "with the allowed ones)", obj({
                                          "error": {"type": "string"}, "message": {"type": "string"},
                                          "allowed": array_of({"type": "string"})}, required=("error", "message"))),
                   404: error_response("No such call, no agent leg, or out of the caller's scope (the same answer)"),
                   409: error_response("Too late (too_late: the call ended longer ago than the window), or the "
                                       "ended call's record is not stored yet (not_stored_yet: try again)")}),
}
