"""/api/calls: the calls in progress in the caller's scope, one of them, and how each viewer sees a live call.

The view of a call (its caller masked per role) is shared with the feed; the routes' OpenAPI description is here.

The middleware has checked CALLS_VIEW; scope is checked here on each call (adapters/http/scope.py): a supervisor sees
the calls of its queues and teams, an agent the calls it is on, the admin every one (core/live_calls.py). A call out
of scope answers exactly as an unknown one (404), and a list never holds one.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcontrol.adapters.http.auth import Route, principal_of
from callcontrol.adapters.http.openapi_parts import (
    NULLABLE_STRING,
    TIMESTAMP,
    Operations,
    Schema,
    array_of,
    error_response,
    json_pattern,
    json_response,
    obj,
    operation,
    path_id,
    query,
    ref,
)
from callcontrol.adapters.http.scope import ACD_SCOPE
from callcontrol.core.identifiers import ACD_ID, ASTERISK_ID, TEAM_NAME
from callcontrol.core.live_calls import (
    CallState,
    LiveCall,
    LiveCallFilter,
    RecordingState,
    live_call_view,
    masks_caller,
)
from callcontrol.core.permissions import Permission, Principal
from callcontrol.services.live_calls import LiveCalls

LIVE_CALLS = web.AppKey("live_calls", LiveCalls)
CALLER_MASKED_FOR = web.AppKey("caller_masked_for", frozenset)  # the roles that see callers masked


def call_json(app: web.Application, principal: Principal, call: LiveCall) -> dict[str, Any]:
    """The call as this principal sees it now (its caller masked when its role is in CALLER_MASKED_FOR)."""
    masked = masks_caller(principal, app.get(CALLER_MASKED_FOR, frozenset()))
    return dict(live_call_view(call, app[LIVE_CALLS].clock.now(), masked))


def _filter(query_: Any) -> LiveCallFilter | str:
    """The list's filter from ?state=&queue=&team=, or what is wrong with it."""
    values: dict[str, Any] = {}
    if "state" in query_:
        try:
            values["state"] = CallState(query_["state"])
        except ValueError:
            return f"state must be one of {', '.join(state.value for state in CallState)}"
    if "queue" in query_:
        if not ACD_ID.match(query_["queue"]):
            return "queue is not a queue id (a lowercase identifier)"
        values["queue"] = query_["queue"]
    if "team" in query_:
        if not TEAM_NAME.match(query_["team"]):
            return "team is not a team name (1-64 letters, digits, _ and -)"
        values["team"] = query_["team"]
    return LiveCallFilter(**values)


async def list_calls(request: web.Request) -> web.Response:
    wanted = _filter(request.query)
    if isinstance(wanted, str):
        return web.json_response({"error": "bad_request", "message": wanted}, status=400)
    principal, scope = principal_of(request), request.app[ACD_SCOPE]
    live = request.app[LIVE_CALLS]
    found = [call for call in live.calls() if scope.sees_live_call(principal, call)
             and wanted.matches(call, scope.queue_teams, scope.agent_teams)]
    return web.json_response({"at": live.clock.now().isoformat(),
                              "calls": [call_json(request.app, principal, call) for call in found]})


async def show_call(request: web.Request) -> web.Response:
    principal, scope = principal_of(request), request.app[ACD_SCOPE]
    call_id = request.match_info["call_id"]
    call = request.app[LIVE_CALLS].get(call_id) if ASTERISK_ID.match(call_id) else None
    if call is None or not scope.sees_live_call(principal, call):
        return web.json_response({"error": "not_found", "message": "no such call in progress"}, status=404)
    return web.json_response(call_json(request.app, principal, call))


ROUTES = (Route("GET", "/api/calls", list_calls, Permission.CALLS_VIEW),
          Route("GET", "/api/calls/{call_id}", show_call, Permission.CALLS_VIEW))

_ID = {"type": "string", "pattern": json_pattern(ACD_ID)}
SCHEMAS: dict[str, Schema] = {
    "LiveCall": obj({
        "call_id": {"type": "string", "description": "the call key (Asterisk's linkedid)"},
        "caller_number": {"type": "string", "description": "masked (all but its last 4 digits as *) for the roles "
                                                           "of CALLCONTROL_MASK_CALLER_FOR"},
        "caller_name": NULLABLE_STRING, "caller_masked": {"type": "boolean"},
        "dnis": {"type": "string", "description": "the number the caller dialled"},
        "flow_id": NULLABLE_STRING, "queue": NULLABLE_STRING, "agent": NULLABLE_STRING,
        "state": {"enum": [state.value for state in CallState]},
        "state_since": TIMESTAMP, "state_s": {"type": "number"},
        "started_at": {"type": "string", "format": "date-time"}, "total_s": {"type": "number"},
        "durations_s": {"type": "object", "additionalProperties": {"type": "number"},
                        "description": "seconds in each state the call has been in, the current one so far"},
        "recording": {"enum": [state.value for state in RecordingState]},
        "supervisors": array_of({"type": "string"}),
        "caller_gone": {"type": "boolean", "description": "the caller hung up; shown while its agent wraps up"},
    }, required=("call_id", "caller_number", "caller_name", "caller_masked", "dnis", "flow_id", "queue", "agent",
                 "state", "state_since", "state_s", "started_at", "total_s", "durations_s", "recording",
                 "supervisors", "caller_gone")),
}

OPERATIONS: Operations = {
    ("GET", "/api/calls"): operation(
        "The calls in progress in the caller's scope, oldest first", tag="calls",
        description="A supervisor sees the calls of its queues and teams (by the call's queue or agent), an agent "
                    "the calls it is on, the admin every one, a call still in the IVR included. docs/live-calls.md.",
        parameters=[query("state", "only calls in this state", {"enum": [state.value for state in CallState]},
                          "talking"),
                    query("queue", "only calls of this queue", _ID, "sales"),
                    query("team", "only calls whose queue or agent is of this team",
                          {"type": "string", "pattern": json_pattern(TEAM_NAME)}, "sales")],
        responses={200: json_response("The calls", obj({"at": {"type": "string", "format": "date-time"},
                                                        "calls": array_of(ref("LiveCall"))},
                                                       required=("at", "calls"))),
                   400: error_response("A parameter is not as described")}),
    ("GET", "/api/calls/{call_id}"): operation(
        "One call in progress", tag="calls",
        parameters=[path_id("call_id", "the call's id (its Asterisk linkedid)", "1764666000.1")],
        responses={200: json_response("The call as it is now", ref("LiveCall")),
                   404: error_response("No such call in progress, or one out of the caller's scope (the same "
                                       "answer)")}),
}
