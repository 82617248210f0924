"""/api/queues: each queue in scope: its live calls, staffing and estimated wait, and who would get a call (explain)."""

from __future__ import annotations

from aiohttp import web

from callcontrol.adapters.http.acd_json import ACD_DESK, live_reads, queue_now, refused
from callcontrol.adapters.http.auth import Route, principal_of
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
