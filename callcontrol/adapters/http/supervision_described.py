"""The OpenAPI description of live supervision (supervision.py's ROUTES): its operations and the Session schema.

openapi.py's DESCRIBED_MODULES lists this module.
"""

from __future__ import annotations

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
from callcontrol.core.supervision import EndReason, Mode, State

_MODE: Schema = {"enum": [mode.value for mode in Mode]}
SCHEMAS: dict[str, Schema] = {
    "SupervisionSession": obj({
        "id": {"type": "string", "pattern": "^sup_[0-9a-f]{16}$"}, "supervisor": {"type": "string"},
        "endpoint": {"type": "string", "description": "the supervisor's phone"},
        "call_id": {"type": "string"}, "agent": {"type": "string"}, "queue": NULLABLE_STRING,
        "mode": _MODE, "state": {"enum": [state.value for state in State]},
        "requested_at": TIMESTAMP, "started_at": TIMESTAMP, "ended_at": TIMESTAMP,
        "end_reason": {"enum": [*(reason.value for reason in EndReason), None]},
        "duration_s": {"type": ["number", "null"]},
        "mode_changes": array_of(obj({"at": TIMESTAMP, "from": _MODE, "to": _MODE, "by": {"type": "string"}},
                                     required=("at", "from", "to", "by"))),
    }, required=("id", "supervisor", "endpoint", "call_id", "agent", "queue", "mode", "state", "requested_at",
                 "started_at", "ended_at", "end_reason", "duration_s", "mode_changes")),
}

_SESSION_ID = path_id("session_id", "the session's id (sup_ and 16 hex digits)", "sup_0123456789abcdef")
_SESSION = ref("SupervisionSession")
_NO_SESSION = error_response("No such session, or not the caller's (the same answer)")
_BAD_BODY = error_response("The body is not a JSON object, or a field is not as described")
_TAG = "supervision"

OPERATIONS: Operations = {
    ("POST", "/api/calls/{call_id}/supervise"): operation(
        "Ring the supervisor's own phone and join it to this call's agent: listen, whisper or barge", tag=_TAG,
        description="The call must have an agent on it now, in the caller's scope (a supervisor's teams and "
                    "queues); the phone is the user's first supervisor phone or one of them named as endpoint. "
                    "Listen: the supervisor hears both sides and nobody hears the supervisor. Whisper: only the "
                    "agent hears the supervisor. Barge: both do. Every start, refusal, mode change and end is "
                    "audited (GET /api/audit?action=supervision.start|supervision.mode_change|supervision.end).",
        parameters=[path_id("call_id", "the call's id (the caller channel's Asterisk uniqueid)", "1700000000.1")],
        body=json_body(obj({"mode": _MODE, "endpoint": {"type": "string", "pattern": "^PJSIP/[A-Za-z0-9_.-]{1,64}$"}},
                           closed=True), "the mode (listen when left out) and the phone", {"mode": "listen"}),
        responses={201: json_response("The session, ringing", _SESSION), 400: _BAD_BODY,
                   404: error_response("No call with an agent on it by that id, or one out of the caller's scope"),
                   409: error_response("The user has no supervisor phone (no_supervisor_phone) or it is in another "
                                       "session (phone_busy)"),
                   502: error_response("Asterisk could not ring the phone (pbx_failed)")}),
    ("GET", "/api/supervision"): operation(
        "The live supervision sessions: the caller's own; an admin's every one", tag=_TAG,
        parameters=[query("all", "1: the recently ended ones too", {"type": "string", "enum": ["0", "1"]})],
        responses={200: json_response("The sessions", obj({"sessions": array_of(_SESSION)},
                                                           required=("sessions",)))}),
    ("GET", "/api/supervision/{session_id}"): operation(
        "One supervision session: who, which call and agent, its mode, its changes and how it ended", tag=_TAG,
        parameters=[_SESSION_ID], responses={200: json_response("The session", _SESSION), 404: _NO_SESSION}),
    ("PATCH", "/api/supervision/{session_id}"): operation(
        "Change the mode mid-session", tag=_TAG,
        description="202: the mode's key is played to the supervisor's channel; the change shows in the session "
                    "(and in the audit trail) once Asterisk has taken it. 200: the session is in that mode already.",
        parameters=[_SESSION_ID], body=json_body(obj({"mode": _MODE}, required=("mode",), closed=True), "the mode",
                                                 {"mode": "whisper"}),
        responses={200: json_response("The session, unchanged", _SESSION),
                   202: json_response("The session, its change asked", _SESSION), 400: _BAD_BODY,
                   404: _NO_SESSION, 409: error_response("The session is not active (not_active)"),
                   502: error_response("Asterisk could not play the mode's key (pbx_failed)")}),
    ("DELETE", "/api/supervision/{session_id}"): operation(
        "End the session: the supervisor's phone is hung up", tag=_TAG, parameters=[_SESSION_ID],
        responses={200: json_response("The session, ended already", _SESSION),
                   202: json_response("The session, its end asked", _SESSION), 404: _NO_SESSION}),
}
