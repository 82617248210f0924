"""HTTP routes of the ACD: live state, explain, agent actions, admin CRUD of agents and queues, the change feed.

Reads need no token; every change (agent actions, /api/config writes) needs `Authorization: Bearer <api token>`,
or, for an agent's own actions, its id and PIN (adapters/api_auth.py).
/api/feed is a WebSocket: a snapshot of every queue and agent, then one message per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiohttp import WSCloseCode, web

from callcontrol.adapters.acd_files import AcdConfig, agent_to_data, build_acd_config, queue_to_data
from callcontrol.adapters.api_auth import agent_or_token_denied, token_denied
from callcontrol.core.acd.agent_states import AgentStatus
from callcontrol.core.acd.errors import AcdError, NotFound, UnknownAgent, UnknownQueue
from callcontrol.core.acd.model import Call, InvalidConfig, Overflow
from callcontrol.core.acd.router import Estimate, QueueIsOverflowTarget
from callcontrol.core.ivr import Problem
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.acd_feed import FEED_LIMIT, AgentChange, Change, Feed, QueueChange
from callcontrol.services.agent_pins import AgentPins
from callcontrol.services.ports import AcdStore

PAUSE_REASON_MAX = 64
NOT_AN_OBJECT = "the body must be a JSON object"
FEED_HEARTBEAT_S = 30.0  # ping; a client that does not answer is dropped
FEED_SEND_TIMEOUT_S = 10.0  # a message the client does not take within this cuts it off
FEED_CLOSE_TIMEOUT_S = 5.0
_WHERE = re.compile(r"^(agent|queue) [^:]*: ")  # the codec's "agent ada: " prefix (the path says where)


def add_acd_routes(app: web.Application, acd: AcdDesk, api_token: str | None, store: AcdStore | None = None,
                   feed_limit: int = FEED_LIMIT, agent_pins: AgentPins | None = None) -> None:
    """The ACD routes; the admin routes (/api/config/...) only with a store to keep the configuration in; agents
    act for themselves with their PIN only with `agent_pins`."""
    distributor = acd.distributor

    def now():  # the desk's clock: the same one its decisions use
        return acd.clock.now()

    def authorized(request: web.Request) -> web.Response | None:
        return token_denied(request, api_token)

    def refused(exc: AcdError) -> web.Response:
        return web.json_response({"error": exc.rule, "message": str(exc)}, status=404 if isinstance(exc, NotFound)
                                 else 409)

    def agent_view(agent_id: str) -> dict[str, Any]:
        calls, talk_s = distributor.agent_stats(agent_id)
        return _agent_data(distributor.agent_status(agent_id), calls, talk_s)

    def queue_view(queue_id: str) -> dict[str, Any]:
        at = now()
        return _queue_data(queue_id, at, distributor.waiting_calls(queue_id), distributor.estimated_wait(queue_id, at),
                           distributor.logged_in(queue_id))

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
            agent_id = request.match_info["agent_id"]
            denied = await agent_or_token_denied(request, agent_id, api_token, agent_pins,
                                                 lambda candidate: candidate in distributor.agent_ids())
            if denied is not None:
                return denied
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

    # ------------------------------------------------------------ the change feed

    sockets: set[web.WebSocketResponse] = set()

    def snapshot() -> dict[str, Any]:
        return {"type": "snapshot", "queues": [queue_view(queue_id) for queue_id in distributor.queue_ids()],
                "agents": [agent_view(agent_id) for agent_id in distributor.agent_ids()]}

    async def send_changes(ws: web.WebSocketResponse, feed: Feed, first: dict[str, Any]) -> None:
        """The snapshot, then each change; closes the socket when the feed ends or the client is too slow."""
        code, why = WSCloseCode.GOING_AWAY, b"feed ended"
        try:
            message: dict[str, Any] | None = first
            while message is not None:
                await asyncio.wait_for(ws.send_json(message), FEED_SEND_TIMEOUT_S)
                change = await feed.get()
                message = _feed_message(change) if change is not None else None
            if feed.cut_off:
                code, why = WSCloseCode.POLICY_VIOLATION, f"too slow: {feed.limit} changes behind".encode()
        except TimeoutError:
            code, why = WSCloseCode.POLICY_VIOLATION, b"too slow: a message was not taken in time"
        except ConnectionError:
            return  # the client is gone; the handler's read loop ends
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(ws.close(code=code, message=why), FEED_CLOSE_TIMEOUT_S)

    async def live_feed(request: web.Request) -> web.WebSocketResponse:
        """WebSocket: a snapshot of every queue and agent, then one message per change."""
        ws = web.WebSocketResponse(heartbeat=FEED_HEARTBEAT_S, timeout=FEED_CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        feed = acd.subscribe(feed_limit)  # subscribed and snapshot taken with no await between: nothing missed
        sender = asyncio.create_task(send_changes(ws, feed, snapshot()), name="acd-feed-sender")
        sockets.add(ws)
        try:
            async for _ in ws:  # what the client sends is ignored; this ends when either side closes
                pass
        finally:
            sockets.discard(ws)
            acd.unsubscribe(feed)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return ws

    async def close_feeds(_: web.Application) -> None:
        for ws in list(sockets):
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown"),
                                       FEED_CLOSE_TIMEOUT_S)

    app.router.add_get("/api/feed", live_feed)
    app.on_shutdown.append(close_feeds)

    if store is not None:
        _add_config_routes(app, acd, store, authorized, refused)


def _add_config_routes(app: web.Application, acd: AcdDesk, store: AcdStore, authorized: Any, refused: Any) -> None:
    """Admin CRUD of agents and queues: validated by the configuration file codec, saved, then applied live."""
    distributor = acd.distributor
    writing = asyncio.Lock()  # one configuration change at a time (each reads, writes, then applies)

    def invalid(problems: Sequence[str], status: int = 422) -> web.Response:
        """422: a JSON object the codec refuses (each problem names its field); 400: not a JSON object at all."""
        return web.json_response({"error": "invalid", "problems": list(problems)}, status=status)

    async def definition(request: web.Request, kind: str, item_id: str,
                         known_queues: set[str] | None = None) -> tuple[AcdConfig | None, list[str]]:
        """The body as one agent or queue, through the configuration file codec; else every problem."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return None, [NOT_AN_OBJECT]
        problems = []
        if "id" in body and body["id"] != item_id:
            problems.append(f"id: {str(body['id'])[:64]!r} is not the id in the path ({item_id[:64]})")
        config, found = build_acd_config({f"{kind}s": [{**body, "id": item_id}]}, known_queues or ())
        problems += [_problem_text(problem) for problem in found if problem.severity == "error"]
        return (None if problems else config), problems

    async def list_agents(_: web.Request) -> web.Response:
        agents, _queues = await store.load_config()
        return web.json_response([agent_to_data(agent) for agent in agents])

    async def one_agent(request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        agents, _queues = await store.load_config()
        for agent in agents:
            if agent.id == agent_id:
                return web.json_response(agent_to_data(agent))
        return refused(UnknownAgent(f"no agent {agent_id[:64]}"))

    async def put_agent(request: web.Request) -> web.Response:
        denied = authorized(request)
        if denied is not None:
            return denied
        agent_id = request.match_info["agent_id"]
        config, problems = await definition(request, "agent", agent_id)
        if config is None:
            return invalid(problems, 400 if problems == [NOT_AN_OBJECT] else 422)
        agent = config.agents[0]
        async with writing:
            agents, _queues = await store.load_config()
            existed = any(a.id == agent_id for a in agents) or agent_id in distributor.agent_ids()
            try:
                await store.save_config([agent], [])
            except InvalidConfig as exc:
                return invalid([str(exc)])
            acd.define_agent(agent)
        return web.json_response(agent_to_data(agent), status=200 if existed else 201,
                                 headers={"Location": f"/api/config/agents/{agent_id}"})

    async def delete_agent(request: web.Request) -> web.Response:
        denied = authorized(request)
        if denied is not None:
            return denied
        agent_id = request.match_info["agent_id"]
        async with writing:
            live = distributor.agent(agent_id) if agent_id in distributor.agent_ids() else None
            try:
                if live is not None:
                    acd.remove_agent(agent_id)  # refuses an agent still logged in
            except AcdError as exc:
                return refused(exc)
            try:  # the row goes too when the service refused it at start (an endpoint it cannot dial)
                stored = await store.remove_config(agent_ids=[agent_id])
            except BaseException:
                if live is not None:
                    acd.define_agent(live)  # back as it was: logged out
                raise
            if not stored and live is None:
                return refused(UnknownAgent(f"no agent {agent_id[:64]}"))
        return web.Response(status=204)

    async def list_queues(_: web.Request) -> web.Response:
        _agents, queues = await store.load_config()
        return web.json_response([queue_to_data(queue) for queue in queues])

    async def one_queue(request: web.Request) -> web.Response:
        queue_id = request.match_info["queue_id"]
        _agents, queues = await store.load_config()
        for queue in queues:
            if queue.id == queue_id:
                return web.json_response(queue_to_data(queue))
        return refused(UnknownQueue(f"no queue {queue_id[:64]}"))

    async def put_queue(request: web.Request) -> web.Response:
        denied = authorized(request)
        if denied is not None:
            return denied
        queue_id = request.match_info["queue_id"]
        async with writing:
            _agents, queues = await store.load_config()
            # an overflow may name a queue both saved and live (the running service must know it too)
            known = {q.id for q in queues} & set(distributor.queue_ids())
            config, problems = await definition(request, "queue", queue_id, known)
            if config is None:
                return invalid(problems, 400 if problems == [NOT_AN_OBJECT] else 422)
            queue = config.queues[0]
            existed = any(q.id == queue_id for q in queues) or queue_id in distributor.queue_ids()
            try:
                await store.save_config([], [queue])
            except InvalidConfig as exc:
                return invalid([str(exc)])
            try:
                acd.define_queue(queue)
            except AcdError as exc:  # not expected: the overflow target was checked against the live queues
                return refused(exc)
        return web.json_response(queue_to_data(queue), status=200 if existed else 201,
                                 headers={"Location": f"/api/config/queues/{queue_id}"})

    async def delete_queue(request: web.Request) -> web.Response:
        denied = authorized(request)
        if denied is not None:
            return denied
        queue_id = request.match_info["queue_id"]
        async with writing:
            _agents, queues = await store.load_config()
            stored = next((q for q in queues if q.id == queue_id), None)
            live = queue_id in distributor.queue_ids()
            if stored is None and not live:
                return refused(UnknownQueue(f"no queue {queue_id[:64]}"))
            sources = sorted(q.id for q in queues if q.id != queue_id and q.overflow is not None
                             and isinstance(q.overflow.action, Overflow) and q.overflow.action.queue_id == queue_id)
            if sources:
                return refused(QueueIsOverflowTarget(f"queue(s) {', '.join(sources)} overflow to {queue_id}"))
            try:
                if live:
                    acd.remove_queue(queue_id)  # refuses a queue calls are in
            except AcdError as exc:
                return refused(exc)
            if stored is not None:
                try:
                    await store.remove_config(queue_ids=[queue_id])
                except BaseException:
                    if live:
                        acd.define_queue(stored)
                    raise
        return web.Response(status=204)

    app.router.add_get("/api/config/agents", list_agents)
    app.router.add_get("/api/config/agents/{agent_id}", one_agent)
    app.router.add_put("/api/config/agents/{agent_id}", put_agent)
    app.router.add_delete("/api/config/agents/{agent_id}", delete_agent)
    app.router.add_get("/api/config/queues", list_queues)
    app.router.add_get("/api/config/queues/{queue_id}", one_queue)
    app.router.add_put("/api/config/queues/{queue_id}", put_queue)
    app.router.add_delete("/api/config/queues/{queue_id}", delete_queue)


def _agent_data(status: AgentStatus, calls_today: int, talk_s_today: float) -> dict[str, Any]:
    """An agent as GET /api/agents and the feed show it."""
    return {
        "id": status.agent_id, "state": status.state.value, "since": _iso(status.since),
        "pause_reason": status.pause_reason, "call": status.call_id, "reachable": status.reachable,
        "device_busy": status.device_busy, "resting_until": _iso(status.resting_until),
        "missed_in_a_row": status.misses,
        "wrap_up_until": _iso(status.wrap_up_until), "calls_today": calls_today,
        "talk_s_today": round(talk_s_today, 1),
    }


def _queue_data(queue_id: str, at: datetime, calls: Sequence[tuple[Call, datetime, str | None]],
                estimate: Estimate, logged_in: int) -> dict[str, Any]:
    """A queue as GET /api/queues and the feed show it: its calls (ringing first), staffing and wait estimate."""
    return {"id": queue_id,
            "calls": [{"call": call.id, "waited_s": round((at - entered).total_seconds(), 1),
                       "priority": call.priority, "ringing": agent} for call, entered, agent in calls],
            "logged_in": logged_in, "staffed": estimate.staffed, "free": estimate.free,
            "estimated_wait_s": None if estimate.seconds is None else round(estimate.seconds),
            "handle_s": round(estimate.handle_s, 1)}  # the mean handle time the estimate uses


def _feed_message(change: Change) -> dict[str, Any]:
    if isinstance(change, AgentChange):
        t = change.transition
        transition = None if t is None else {
            "from": t.from_state.value, "to": t.to_state.value, "cause": str(t.cause), "at": _iso(t.at),
            "reason": t.reason, "call": t.call_id}
        return {"type": "agent", **_agent_data(change.status, change.calls_today, change.talk_s_today),
                "transition": transition}
    if isinstance(change, QueueChange):
        return {"type": "queue", **_queue_data(change.queue_id, change.at, change.calls, change.estimate,
                                               change.logged_in)}
    return {"type": f"{change.kind}_removed", "id": change.id}


def _problem_text(problem: Problem) -> str:
    """'skills.english: skills english: level must be an integer 1-10, not 11' (the path inside the body)."""
    path = problem.path[2:] if problem.path[:1] in (("agents",), ("queues",)) else problem.path
    message = _WHERE.sub("", problem.message)
    return f"{'.'.join(str(part) for part in path)}: {message}" if path else message


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
