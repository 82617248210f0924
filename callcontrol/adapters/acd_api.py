"""HTTP routes of the ACD: live queues and agents, explain, and agent login/logout/pause/resume."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from callcontrol.core.acd.errors import AcdError, NotFound
from callcontrol.core.acd.model import Call, InvalidConfig
from callcontrol.services.acd_desk import AcdDesk

PAUSE_REASON_MAX = 64


def add_acd_routes(app: web.Application, acd: AcdDesk, api_token: str | None) -> None:
    distributor = acd.distributor

    def now():  # the desk's clock: the same one its decisions use
        return acd.clock.now()

    def authorized(request: web.Request) -> web.Response | None:
        """None when the request carries the API token; else the 401/403 answer."""
        if api_token is None:
            return web.json_response({"error": "api_token_unset",
                                      "message": "changes through the API need CALLCONTROL_API_TOKEN set"},
                                     status=403)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {api_token}".encode()):
            return web.json_response({"error": "unauthorized", "message": "Authorization: Bearer <api token>"},
                                     status=401, headers={"WWW-Authenticate": "Bearer"})
        return None

    def refused(exc: AcdError) -> web.Response:
        return web.json_response({"error": exc.rule, "message": str(exc)}, status=404 if isinstance(exc, NotFound)
                                 else 409)

    def agent_view(agent_id: str) -> dict[str, Any]:
        status = distributor.agent_status(agent_id)
        calls, talk_s = distributor.agent_stats(agent_id)
        return {
            "id": agent_id, "state": status.state.value, "since": _iso(status.since),
            "pause_reason": status.pause_reason, "call": status.call_id, "reachable": status.reachable,
            "device_busy": status.device_busy, "missed_in_a_row": status.misses,
            "wrap_up_until": _iso(status.wrap_up_until), "calls_today": calls, "talk_s_today": round(talk_s, 1),
        }

    def queue_view(queue_id: str) -> dict[str, Any]:
        at = now()
        calls = [{"call": call.id, "waited_s": round((at - entered).total_seconds(), 1),
                  "priority": call.priority, "ringing": agent}
                 for call, entered, agent in distributor.waiting_calls(queue_id)]
        estimate = distributor.estimated_wait(queue_id, at)
        return {"id": queue_id, "calls": calls, "logged_in": distributor.logged_in(queue_id),
                "staffed": estimate.staffed, "free": estimate.free,
                "estimated_wait_s": None if estimate.seconds is None else round(estimate.seconds)}

    async def list_agents(_: web.Request) -> web.Response:
        return web.json_response([agent_view(agent_id) for agent_id in distributor.agent_ids()])

    async def one_agent(request: web.Request) -> web.Response:
        try:
            return web.json_response(agent_view(request.match_info["agent_id"]))
        except AcdError as exc:
            return refused(exc)

    async def list_queues(_: web.Request) -> web.Response:
        return web.json_response([queue_view(queue_id) for queue_id in distributor.queue_ids()])

    async def one_queue(request: web.Request) -> web.Response:
        try:
            return web.json_response(queue_view(request.match_info["queue_id"]))
        except AcdError as exc:
            return refused(exc)

    async def explain(request: web.Request) -> web.Response:
        """?call=ID for a waiting call; else a caller entering now, with optional skills=name:level,..."""
        queue_id = request.match_info["queue_id"]
        try:
            if "call" in request.query:
                subject: str | Call = request.query["call"]
            else:
                subject = Call("hypothetical", queue_id, arrived_at=now(), skills=_skills(request.query.get("skills")))
            explanation = distributor.explain(subject, now())
        except AcdError as exc:
            return refused(exc)
        except (InvalidConfig, ValueError) as exc:
            return web.json_response({"error": "bad_request", "message": str(exc)}, status=400)
        return web.json_response({
            "call": explanation.call_id, "queue": explanation.queue_id, "waited_s": round(explanation.waited_s, 1),
            "requirement": str(explanation.requirement),
            "agents": [{"agent": v.agent_id, "eligible": v.eligible, "rank": v.rank, "reason": v.reason}
                       for v in explanation.verdicts],
        })

    def agent_action(action: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            denied = authorized(request)
            if denied is not None:
                return denied
            agent_id = request.match_info["agent_id"]
            try:
                if action == "pause":
                    body = await request.json() if request.can_read_body else {}
                    reason = body.get("reason") if isinstance(body, dict) else None
                    if not (isinstance(reason, str) and 0 < len(reason) <= PAUSE_REASON_MAX
                            and reason.replace("_", "").replace("-", "").isalnum()):
                        return web.json_response({"error": "bad_request", "message": "pause needs {\"reason\": "
                                                  "\"lunch\"}: letters, digits, _ and -, at most 64"}, status=400)
                    acd.pause(agent_id, reason)
                else:
                    getattr(acd, action)(agent_id)
            except AcdError as exc:
                return refused(exc)
            except ValueError:
                return web.json_response({"error": "bad_request", "message": "the body must be JSON"}, status=400)
            return web.json_response(agent_view(agent_id))
        return handle

    app.router.add_get("/api/agents", list_agents)
    app.router.add_get("/api/agents/{agent_id}", one_agent)
    for action in ("login", "logout", "pause", "resume"):
        app.router.add_post(f"/api/agents/{{agent_id}}/{action}", agent_action(action))
    app.router.add_get("/api/queues", list_queues)
    app.router.add_get("/api/queues/{queue_id}", one_queue)
    app.router.add_get("/api/queues/{queue_id}/explain", explain)


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


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
