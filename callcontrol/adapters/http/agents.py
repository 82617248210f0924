"""/api/agents: the live state of each agent in scope, and its login, logout, pause and resume (agent.operate)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from callcontrol.adapters.http.acd_json import (
    ACD_DESK,
    ACD_REFUSALS,
    agent_now,
    live_reads,
    live_reads_described,
    refused,
    request_json,
)
from callcontrol.adapters.http.auth import Handler, Route
from callcontrol.adapters.http.openapi_parts import (
    Operation,
    Operations,
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
from callcontrol.core.acd.errors import AcdError
from callcontrol.core.identifiers import PAUSE_REASON
from callcontrol.core.permissions import Permission
from callcontrol.services.acd_desk import AcdDesk


async def pause(request: web.Request) -> web.Response:
    """POST {"reason": "lunch"}: letters, digits, _ and -, at most 64."""
    try:
        body = await request_json(request) if request.can_read_body else {}
    except ValueError:
        return web.json_response({"error": "bad_request", "message": "the body must be JSON"}, status=400)
    reason = body.get("reason") if isinstance(body, dict) else None
    if not (isinstance(reason, str) and PAUSE_REASON.match(reason)):
        return web.json_response({"error": "bad_request", "message": "pause needs {\"reason\": "
                                  "\"lunch\"}: letters, digits, _ and -, at most 64"}, status=400)
    return _act(request, lambda desk, agent_id: desk.pause(agent_id, reason))


def _without_body(action: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        return _act(request, lambda desk, agent_id: getattr(desk, action)(agent_id))
    return handle


def _act(request: web.Request, change: Callable[[AcdDesk, str], object]) -> web.Response:
    """Carry the change out on the desk; answer with the agent as it is then."""
    desk, agent_id = request.app[ACD_DESK], request.match_info["agent_id"]
    try:
        change(desk, agent_id)
    except AcdError as exc:
        return refused(exc)
    return web.json_response(agent_now(desk.view, agent_id))


_ACTIONS = {"login": "Log the agent in to its queues", "logout": "Log the agent out",
            "resume": "End the agent's pause: it is available again"}
ROUTES = (
    *live_reads("agent", lambda request, principal: request.app[ACD_SCOPE].agent_ids(principal), agent_now,
                Permission.AGENTS_READ),
    *(Route("POST", f"/api/agents/{{agent_id}}/{action}", _without_body(action), Permission.AGENT_OPERATE)
      for action in _ACTIONS),
    Route("POST", "/api/agents/{agent_id}/pause", pause, Permission.AGENT_OPERATE),
)


def _action(summary: str, bad_request: str | None = None, body: dict[str, object] | None = None) -> Operation:
    answers = {200: json_response("The agent as it is after the change", ref("Agent")), **ACD_REFUSALS}
    if bad_request is not None:
        answers[400] = error_response(bad_request)
    return operation(summary, tag="agents", parameters=[path_id("agent_id", "the agent's id", "ada")],
                     responses=answers, body=body,
                     description="By the agent itself (HTTP Basic: its id and PIN) or with the API token.")


OPERATIONS: Operations = {
    **live_reads_described("agent", "ada"),
    **{("POST", f"/api/agents/{{agent_id}}/{action}"): _action(summary) for action, summary in _ACTIONS.items()},
    ("POST", "/api/agents/{agent_id}/pause"): _action(
        "Pause the agent, with a reason", "No JSON body or no valid reason",
        json_body(obj({"reason": {"type": "string", "pattern": json_pattern(PAUSE_REASON)}}, required=("reason",)),
                  "why: ASCII letters, digits, _ and -, at most 64", {"reason": "lunch"})),
}
