"""The ACD in JSON, as the API and the feed show it: agents, queues, the ACD's refusals, their OpenAPI schemas."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from callcontrol.adapters.http.auth import Route, principal_of
from callcontrol.adapters.http.openapi_parts import (
    NULLABLE_STRING,
    TIMESTAMP,
    Operation,
    Schema,
    array_of,
    error_response,
    json_response,
    obj,
    operation,
    path_id,
    ref,
)
from callcontrol.core.acd.agent_states import AgentState
from callcontrol.core.acd.agent_states import AgentStatus
from callcontrol.core.acd.distributor_view import Estimate
from callcontrol.core.acd.errors import AcdError, NotFound
from callcontrol.core.acd.model import Call
from callcontrol.core.permissions import Permission, Principal
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.acd_view import AcdView

ACD_DESK = web.AppKey("acd_desk", AcdDesk)  # reads through its `view`, changes through its methods
VisibleIds = Callable[[web.Request, Principal], Iterable[str]]  # the ids of a kind a principal may see


def refused(exc: AcdError) -> web.Response:
    """404 for what does not exist, 409 for what the ACD's rules refuse; the rule names the error."""
    return web.json_response({"error": exc.rule, "message": str(exc)}, status=404 if isinstance(exc, NotFound)
                             else 409)


async def request_json(request: web.Request) -> Any:
    """The request's body as JSON; ValueError when it is none: bad syntax or bytes, an unknown charset, nesting
    deeper than the parser's recursion allows."""
    try:
        return await request.json()
    except (ValueError, LookupError, RecursionError) as exc:
        raise ValueError(f"the body is not JSON: {type(exc).__name__}") from None


def live_reads(kind: str, visible: VisibleIds, one: Callable[[AcdView, str], dict[str, Any]],
               permission: Permission) -> tuple[Route, Route]:
    """GET /api/{kind}s (every one the principal may see, by id) and GET /api/{kind}s/{{kind}_id} (one; 404 when
    unknown, or out of the principal's scope: the middleware's scope check), as now."""
    async def list_all(request: web.Request) -> web.Response:
        view = request.app[ACD_DESK].view
        return web.json_response([one(view, item_id) for item_id in visible(request, principal_of(request))])

    async def one_by_id(request: web.Request) -> web.Response:
        try:
            return web.json_response(one(request.app[ACD_DESK].view, request.match_info[f"{kind}_id"]))
        except AcdError as exc:
            return refused(exc)

    return (Route("GET", f"/api/{kind}s", list_all, permission),
            Route("GET", f"/api/{kind}s/{{{kind}_id}}", one_by_id, permission))


def live_reads_described(kind: str, example: str) -> dict[tuple[str, str], Operation]:
    """The OpenAPI operations of live_reads(kind, ...)."""
    schema = ref(kind.capitalize())
    return {
        ("GET", f"/api/{kind}s"): operation(
            f"Every {kind} as the ACD has it now, by id", tag=f"{kind}s",
            responses={200: json_response(f"Every {kind}", array_of(schema))}),
        ("GET", f"/api/{kind}s/{{{kind}_id}}"): operation(
            f"One {kind} as the ACD has it now", tag=f"{kind}s",
            parameters=[path_id(f"{kind}_id", f"the {kind}'s id", example)],
            responses={200: json_response(f"The {kind}", schema), 404: error_response(f"No such {kind}")}),
    }


def agents_now(view: AcdView, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """These agents (every one when not given), by id."""
    return [agent_now(view, agent_id) for agent_id in (view.agent_ids() if ids is None else ids)]


def queues_now(view: AcdView, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """These queues (every one when not given), by id."""
    return [queue_now(view, queue_id) for queue_id in (view.queue_ids() if ids is None else ids)]


def agent_now(view: AcdView, agent_id: str) -> dict[str, Any]:
    """An agent as the ACD has it now."""
    calls, talk_s = view.agent_stats(agent_id)
    return agent_data(view.agent_status(agent_id), calls, talk_s)


def queue_now(view: AcdView, queue_id: str) -> dict[str, Any]:
    """A queue as the ACD has it now."""
    at = view.now()
    return queue_data(queue_id, at, view.waiting_calls(queue_id), view.estimated_wait(queue_id, at),
                      view.logged_in(queue_id))


def agent_data(status: AgentStatus, calls_today: int, talk_s_today: float) -> dict[str, Any]:
    """An agent as GET /api/agents and the feed show it."""
    return {
        "id": status.agent_id, "state": status.state.value, "since": iso(status.since),
        "pause_reason": status.pause_reason, "call": status.call_id, "reachable": status.reachable,
        "device_busy": status.device_busy, "resting_until": iso(status.resting_until),
        "missed_in_a_row": status.misses,
        "wrap_up_until": iso(status.wrap_up_until), "calls_today": calls_today,
        "talk_s_today": round(talk_s_today, 1),
    }


def queue_data(queue_id: str, at: datetime, calls: Sequence[tuple[Call, datetime, str | None]],
               estimate: Estimate, logged_in: int) -> dict[str, Any]:
    """A queue as GET /api/queues and the feed show it: its calls (ringing first), staffing and wait estimate."""
    return {"id": queue_id,
            "calls": [{"call": call.id, "waited_s": round((at - entered).total_seconds(), 1),
                       "priority": call.priority, "ringing": agent} for call, entered, agent in calls],
            "logged_in": logged_in, "staffed": estimate.staffed, "free": estimate.free,
            "estimated_wait_s": None if estimate.seconds is None else round(estimate.seconds),
            "handle_s": round(estimate.handle_s, 1)}  # the mean handle time the estimate uses


_NUMBER: Schema = {"type": "number"}
_COUNT: Schema = {"type": "integer", "minimum": 0}
SCHEMAS: dict[str, Schema] = {
    "Agent": obj({
        "id": {"type": "string"}, "state": {"enum": [state.value for state in AgentState]}, "since": TIMESTAMP,
        "pause_reason": NULLABLE_STRING, "call": NULLABLE_STRING, "reachable": {"type": "boolean"},
        "device_busy": {"type": "boolean"}, "resting_until": TIMESTAMP, "missed_in_a_row": _COUNT,
        "wrap_up_until": TIMESTAMP, "calls_today": _COUNT, "talk_s_today": _NUMBER,
    }, required=("id", "state", "since", "reachable", "calls_today", "talk_s_today")),
    "Queue": obj({
        "id": {"type": "string"},
        "calls": array_of(obj({"call": {"type": "string"}, "waited_s": _NUMBER, "priority": {"type": "integer"},
                               "ringing": NULLABLE_STRING}, required=("call", "waited_s", "priority", "ringing"))),
        "logged_in": _COUNT, "staffed": _COUNT, "free": _COUNT,
        "estimated_wait_s": {"type": ["integer", "null"], "description": "null: no agent could take a call"},
        "handle_s": {"type": "number", "description": "the mean handle time the estimate uses"},
    }, required=("id", "calls", "logged_in", "staffed", "free", "estimated_wait_s", "handle_s")),
}
ACD_REFUSALS = {404: error_response("No such agent, queue or call"),
                409: error_response("The ACD's rules refuse it now (the error names the rule)")}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
