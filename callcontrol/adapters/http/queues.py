"""/api/queues: each queue in scope: its live calls, staffing and estimated wait, and who would get a call (explain)."""

from __future__ import annotations

from aiohttp import web

from callcontrol.adapters.http.acd_json import (
    ACD_DESK,
    ACD_REFUSALS,
    live_reads,
    live_reads_described,
    queue_now,
    refused,
)
from callcontrol.adapters.http.auth import Route, principal_of
from callcontrol.adapters.http.openapi_parts import (
    Operations,
    array_of,
    error_response,
    json_response,
    obj,
    operation,
    path_id,
    query,
)
from callcontrol.adapters.http.scope import ACD_SCOPE
from callcontrol.core.acd.errors import AcdError
from callcontrol.core.acd.model import Call, InvalidConfig
from callcontrol.core.permissions import Permission


async def explain(request: web.Request) -> web.Response:
    """?call=ID for a waiting call; else a caller entering now, with optional skills=name:level,...; only the
    agents the principal may see are listed."""
    view, scope, principal = request.app[ACD_DESK].view, request.app[ACD_SCOPE], principal_of(request)
    queue_id = request.match_info["queue_id"]
    try:
        if "call" in request.query:
            subject: str | Call = request.query["call"]
        else:
            subject = Call("hypothetical", queue_id, arrived_at=view.now(), skills=_skills(request.query.get("skills")))
        explanation = view.explain(subject, view.now())
    except AcdError as exc:
        return refused(exc)
    except (InvalidConfig, ValueError) as exc:
        return web.json_response({"error": "bad_request", "message": str(exc)}, status=400)
    return web.json_response({
        "call": explanation.call_id, "queue": explanation.queue_id, "waited_s": round(explanation.waited_s, 1),
        "requirement": str(explanation.requirement),
        "agents": [{"agent": v.agent_id, "eligible": v.eligible, "rank": v.rank, "reason": v.reason}
                   for v in explanation.verdicts if scope.sees_agent(principal, v.agent_id)],
    })


def _skills(text: str | None) -> dict[str, int]:
    """'english:5,billing:3' -> {'english': 5, 'billing': 3}."""
    skills: dict[str, int] = {}
    for part in (text or "").split(","):
        if not part:
            continue
        name, _, level = part.partition(":")
        if not level.isdigit():
            raise ValueError(f"skills: {part[:40]!r} is not name:level")
        skills[name] = int(level)
    return skills


ROUTES = (*live_reads("queue", lambda request, principal: request.app[ACD_SCOPE].queue_ids(principal), queue_now,
                     Permission.QUEUES_READ),
          # who would get a call names agents: it needs agents.read too (reporting users have queues.read only)
          Route("GET", "/api/queues/{queue_id}/explain", explain, Permission.AGENTS_READ))

_EXPLANATION = obj({
    "call": {"type": "string"}, "queue": {"type": "string"}, "waited_s": {"type": "number"},
    "requirement": {"type": "string", "description": "the skills the call needs now, after escalations"},
    "agents": array_of(obj({"agent": {"type": "string"}, "eligible": {"type": "boolean"},
                            "rank": {"type": ["integer", "null"]}, "reason": {"type": "string"}},
                           required=("agent", "eligible", "rank", "reason"))),
}, required=("call", "queue", "waited_s", "requirement", "agents"))
OPERATIONS: Operations = {
    **live_reads_described("queue", "sales"),
    ("GET", "/api/queues/{queue_id}/explain"): operation(
        "Who would get a call and why", tag="queues",
        description="For a waiting call (?call=ID), or else for a caller entering the queue now with the given "
                    "skills: each agent, eligible or not, its rank and the reason.",
        parameters=[path_id("queue_id", "the queue's id", "sales"),
                    query("call", "a call waiting in the queue", {"type": "string"}),
                    query("skills", "the hypothetical caller's skills, name:level,...", {"type": "string"},
                          "english:5,billing:3")],
        responses={200: json_response("Each agent's verdict", _EXPLANATION),
                   400: error_response("skills not written name:level,..."), **ACD_REFUSALS}),
}
