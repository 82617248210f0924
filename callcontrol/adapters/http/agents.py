"""/api/agents: the live state of each agent in scope, and its login, logout, pause and resume (agent.operate)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from callcontrol.adapters.http.acd_json import ACD_DESK, agent_now, live_reads, refused
from callcontrol.adapters.http.auth import Handler, Route
from callcontrol.adapters.http.scope import ACD_SCOPE
from callcontrol.core.acd.errors import AcdError
from callcontrol.core.identifiers import PAUSE_REASON
from callcontrol.core.permissions import Permission
from callcontrol.services.acd_desk import AcdDesk


async def pause(request: web.Request) -> web.Response:
    """POST {"reason": "lunch"}: letters, digits, _ and -, at most 64."""
    try:
        body = await request.json() if request.can_read_body else {}
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


ROUTES = (
    *live_reads("agent", lambda request, principal: request.app[ACD_SCOPE].agent_ids(principal), agent_now,
                Permission.AGENTS_READ),
    *(Route("POST", f"/api/agents/{{agent_id}}/{action}", _without_body(action), Permission.AGENT_OPERATE)
      for action in ("login", "logout", "resume")),
    Route("POST", "/api/agents/{agent_id}/pause", pause, Permission.AGENT_OPERATE),
)
