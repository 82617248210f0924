"""POST /api/calls/{call_id}/transfer: a blind transfer of a talking caller to an allowed queue or number.

Who (Permission.CALLS_TRANSFER): the agent on the call, a supervisor whose scope has the call's queue or agent, the
admin. A call out of the principal's scope answers exactly as a call that is not there (404). The destination
comes only from the allow lists (core/transfers.py); every transfer is audited (call.transfer). docs/transfers.md.
"""

from __future__ import annotations

from aiohttp import web

from callcontrol.adapters.http.acd_json import request_json
from callcontrol.adapters.http.auth import GUARD, Route, principal_of
from callcontrol.adapters.http.openapi_parts import (
    Operations,
    Schema,
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
from callcontrol.core.identifiers import ACD_ID, ASTERISK_ID, TRANSFER_DESTINATION
from callcontrol.core.permissions import Permission, Principal, Role
from callcontrol.core.transfers import TransferRefused, describe, destination_from_request
from callcontrol.services.transfers import TransferDesk, TransferFailed

TRANSFERS = web.AppKey("transfers", TransferDesk)
_STATUS = {"bad_request": 400, "unsupported_mode": 400, "unknown_queue": 422, "unknown_agent": 422,
           "number_not_allowed": 422, "agent_not_offered": 422, "not_talking": 409,
           "transfer_pending": 409}


def _error(rule: str, message: str, status: int) -> web.Response:
    return web.json_response({"error": rule, "message": message}, status=status)


def _in_scope(request: web.Request, principal: Principal, queue_id: str, agent_id: str) -> bool:
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.AGENT:  # only the agent on the call
        return principal.agent_id == agent_id
    return request.app[ACD_SCOPE].sees_call(principal, [queue_id], [agent_id])


async def transfer(request: web.Request) -> web.Response:
    """POST {"to": {"queue": "support"} | {"number": "0155500001"}, "mode": "blind"}."""
    desk, call_id = request.app[TRANSFERS], request.match_info["call_id"]
    principal = principal_of(request)
    talking = desk.talking(call_id) if ASTERISK_ID.match(call_id) else None
    if talking is None or not _in_scope(request, principal, talking[0], talking[1]):
        return _error("no_call", "no call in a conversation with that id", 404)
    try:
        body = await request_json(request)
        destination, _ = destination_from_request(body)
        started = await desk.transfer(call_id, destination, f"api:{principal.user}")
    except ValueError as exc:
        rule = exc.rule if isinstance(exc, TransferRefused) else "bad_request"
        await _audit(request, principal, call_id, Outcome.DENIED, {"rule": rule})
        return _error(rule, str(exc)[:300], _STATUS.get(rule, 400))
    except TransferFailed as exc:
        return _error("transfer_failed", f"Asterisk did not transfer the call: {exc}"[:300], 502)
    await _audit(request, principal, call_id, Outcome.ALLOWED,
                 {"to": describe(started.destination), "from_agent": started.from_agent})
    return web.json_response({"call_id": call_id, "to": describe(started.destination), "mode": "blind",
                              "from_agent": started.from_agent, "state": "transferring",
                              "accepted_in_ms": round(started.accepted_in_s * 1000, 1)})


async def _audit(request: web.Request, principal: Principal, call_id: str, outcome: Outcome,
                 detail: dict[str, object]) -> None:
    guard = request.app[GUARD]
    await guard.audit.record(AuditEntry(guard.clock.now(), principal.user, "call.transfer", "call", call_id[:64],
                                        outcome, role=principal.role.value, source=request.remote, detail=detail))


ROUTES = (Route("POST", "/api/calls/{call_id}/transfer", transfer, Permission.CALLS_TRANSFER),)

_DESTINATION: Schema = {"oneOf": [
    obj({"queue": {"type": "string", "pattern": json_pattern(ACD_ID)}}, required=("queue",), closed=True),
    obj({"number": {"type": "string", "pattern": json_pattern(TRANSFER_DESTINATION)}}, required=("number",),
        closed=True),
]}
SCHEMAS: dict[str, Schema] = {
    "TransferStarted": obj({
        "call_id": {"type": "string"}, "to": {"type": "object"}, "mode": {"type": "string", "enum": ["blind"]},
        "from_agent": {"type": "string"}, "state": {"type": "string", "enum": ["transferring"]},
        "accepted_in_ms": {"type": "number"}}, required=("call_id", "to", "mode", "from_agent", "state")),
}
OPERATIONS: Operations = {
    ("POST", "/api/calls/{call_id}/transfer"): operation(
        "Blind-transfer a talking caller to an allowed queue or number", tag="calls",
        description="The agent on the call, a supervisor in scope or the admin. A queue keeps the caller's original "
                    "arrival for its place; a number must be on the transfer allow list (transfer_numbers). The "
                    "agent goes to wrap-up as after any call; the recording goes on.",
        parameters=[path_id("call_id", "the call's id (Asterisk linkedid)", "1796217587.0")],
        body=json_body(obj({"to": _DESTINATION, "mode": {"type": "string", "enum": ["blind"]}}, required=("to",)),
                       "where to: exactly one of queue, number", {"to": {"queue": "support"}, "mode": "blind"}),
        responses={200: json_response("Asterisk accepted the transfer", ref("TransferStarted")),
                   400: error_response("Not a JSON object of that shape, or a mode other than blind"),
                   404: error_response("No call in a conversation with that id in the principal's scope"),
                   409: error_response("The call is not in a conversation with an agent now, or a transfer of it "
                                       "is already under way"),
                   422: error_response("The destination is on no allow list"),
                   502: error_response("Asterisk refused or AMI is down: nothing moved")}),
}
