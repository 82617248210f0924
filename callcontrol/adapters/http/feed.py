"""/api/feed, a WebSocket: a snapshot of the queues, agents and live calls in scope, then one message per change.

Each connection is filtered by its own principal (adapters/http/scope.py): agent changes by whether the agent is
seen, queue changes by whether the queue is, live calls by the call's queue and agent (an agent: its own calls), and
a removal or a call's end only for an id this connection was shown. Slow clients are cut off. POST /api/feed/ticket
gives browsers (which cannot set headers on a WebSocket) a single-use ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from aiohttp import WSCloseCode, web

from callcontrol.adapters.http.acd_json import ACD_DESK, agent_data, agents_now, iso, queue_data, queues_now
from callcontrol.adapters.http.auth import GUARD, Route, principal_of
from callcontrol.adapters.http.live_calls import LIVE_CALLS, call_json
from callcontrol.adapters.http.openapi_parts import Operations, error_response, json_response, obj, operation, query
from callcontrol.adapters.http.scope import ACD_SCOPE, AcdScope
from callcontrol.core.permissions import Permission, Principal, Role
from callcontrol.services.acd_feed import AgentChange, CallChange, CallGone, Change, Feed, QueueChange, Removed
from callcontrol.services.feed_tickets import TooManyTickets
from callcontrol.services.people import People

log = structlog.get_logger("callcontrol.http")
FEED_HEARTBEAT_S = 30.0  # ping; a client that does not answer is dropped
FEED_SEND_TIMEOUT_S = 10.0  # a message the client does not take within this cuts it off
FEED_CLOSE_TIMEOUT_S = 5.0
FEED_RECHECK_S = 5.0  # an open feed re-reads its user this often: a revoke closes it, a new scope applies
FEED_LIMIT = web.AppKey("feed_limit", int)  # changes a client may fall behind before it is cut off
FEED_RECHECK = web.AppKey("feed_recheck", float)  # FEED_RECHECK_S, shorter in tests
FEED_SOCKETS = web.AppKey("feed_sockets", set[web.WebSocketResponse])  # open feeds, closed on shutdown


async def live_feed(request: web.Request) -> web.StreamResponse:
    """WebSocket: a snapshot of the queues, agents (and live calls) in scope, then one message per change in scope."""
    desk, in_scope = request.app[ACD_DESK], _InScope(request.app, principal_of(request))
    ws = web.WebSocketResponse(heartbeat=FEED_HEARTBEAT_S, timeout=FEED_CLOSE_TIMEOUT_S)
    if not ws.can_prepare(request).ok:  # a plain GET: the API's JSON error, not aiohttp's text
        return web.json_response({"error": "not_a_websocket",
                                  "message": "GET /api/feed is a WebSocket: send the Upgrade handshake"}, status=400)
    await ws.prepare(request)
    feed = desk.subscribe(request.app[FEED_LIMIT])  # subscribed and snapshot taken with no await between
    queues, agents = in_scope.snapshot()
    snapshot = {"type": "snapshot", "queues": queues_now(desk.view, queues), "agents": agents_now(desk.view, agents)}
    if LIVE_CALLS in request.app:
        snapshot["calls"] = in_scope.calls_snapshot()
    sender = asyncio.create_task(_send_changes(ws, feed, snapshot, in_scope), name="acd-feed-sender")
    people = request.app[GUARD].people
    rechecker = asyncio.create_task(_recheck(ws, in_scope, people, request.app[FEED_RECHECK]),
                                    name="acd-feed-recheck") if people is not None else None
    sockets = request.app[FEED_SOCKETS]
    sockets.add(ws)
    try:
        async for _ in ws:  # what the client sends is ignored; this ends when either side closes
            pass
    finally:
        sockets.discard(ws)
        desk.unsubscribe(feed)
        owned = [task for task in (sender, rechecker) if task is not None]
        for task in owned:
            task.cancel()
        await asyncio.gather(*owned, return_exceptions=True)
    return ws


async def _recheck(ws: web.WebSocketResponse, in_scope: _InScope, people: People, every_s: float) -> None:
    """Every `every_s`: the user as it stands now; revoked, the feed is closed (1008 "revoked")."""
    while not ws.closed:
        await asyncio.sleep(every_s)
        try:
            principal = await people.refreshed(in_scope.principal)
        except Exception as exc:  # the database is away: the feed goes on as it was; the next round retries
            log.warning("acd.feed_recheck_failed", user=in_scope.principal.user, error=repr(exc)[:200])
            continue
        if principal is None:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"revoked"),
                                       FEED_CLOSE_TIMEOUT_S)
            return
        in_scope.principal = principal


async def feed_ticket(request: web.Request) -> web.Response:
    """POST: a ticket for one WebSocket handshake (GET /api/feed?ticket=...) as this principal, within the TTL."""
    tickets = request.app[GUARD].tickets
    try:
        ticket = tickets.issue(principal_of(request), request.app[GUARD].clock.now())
    except TooManyTickets as exc:
        return web.json_response({"error": "too_many_tickets", "message": str(exc)}, status=503)
    return web.json_response({"ticket": ticket, "expires_in_s": tickets.ttl_s, "use": "GET /api/feed?ticket=<ticket>"},
                             status=201)


class _InScope:
    """One connection's filter: what its principal may see, and the ids it was shown (so removals can follow)."""

    def __init__(self, app: web.Application, principal: Principal) -> None:
        self._app = app
        self._scope: AcdScope = app[ACD_SCOPE]
        self.principal = principal  # replaced when the user's role or scope changes (see _recheck)
        self._shown: dict[str, set[str]] = {"agent": set(), "queue": set(), "call": set()}

    def snapshot(self) -> tuple[list[str], list[str]]:
        queues, agents = self._scope.queue_ids(self.principal), self._scope.agent_ids(self.principal)
        self._shown["queue"].update(queues)
        self._shown["agent"].update(agents)
        return queues, agents

    def calls_snapshot(self) -> list[dict[str, Any]]:
        """The live calls in scope now (those the connection is then told about as they change or end)."""
        calls = [call for call in self._app[LIVE_CALLS].calls() if self._scope.sees_live_call(self.principal, call)]
        self._shown["call"].update(call.call_id for call in calls)
        return [call_json(self._app, self.principal, call) for call in calls]

    def message(self, change: Change) -> dict[str, Any] | None:
        """What this connection is sent of the change; None when nothing. A live call is sent while in scope; its
        end (or its move out of scope) as call_ended, only to a connection that was shown it."""
        if isinstance(change, CallChange | CallGone):
            call_id = change.call.call_id if isinstance(change, CallChange) else change.call_id
            if isinstance(change, CallChange) and self._scope.sees_live_call(self.principal, change.call):
                self._shown["call"].add(call_id)
                return {"type": "call", **call_json(self._app, self.principal, change.call)}
            if call_id in self._shown["call"]:
                self._shown["call"].discard(call_id)
                return {"type": "call_ended", "id": call_id}
            return None
        return _message(change) if self.passes(change) else None

    def passes(self, change: Change) -> bool:
        if isinstance(change, Removed):
            shown = change.id in self._shown[change.kind]
            self._shown[change.kind].discard(change.id)
            return shown
        kind, item_id = ("agent", change.status.agent_id) if isinstance(change, AgentChange) else \
            ("queue", change.queue_id)
        seen = self.principal.role is Role.ADMIN or (self._scope.sees_agent(self.principal, item_id) if kind == "agent"
                                                      else self._scope.sees_queue(self.principal, item_id))
        if seen:
            self._shown[kind].add(item_id)
        return seen


async def close_feeds(app: web.Application) -> None:
    """On shutdown: every open feed is closed (GOING_AWAY)."""
    for ws in list(app[FEED_SOCKETS]):
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown"),
                                   FEED_CLOSE_TIMEOUT_S)


async def _send_changes(ws: web.WebSocketResponse, feed: Feed, first: dict[str, Any], in_scope: _InScope) -> None:
    """The snapshot, then each change in scope; closes the socket when the feed ends or the client is too slow."""
    code, why = WSCloseCode.GOING_AWAY, b"feed ended"
    try:
        message: dict[str, Any] | None = first
        while message is not None:
            await asyncio.wait_for(ws.send_json(message), FEED_SEND_TIMEOUT_S)
            message = None
            change = await feed.get()
            while change is not None and (message := in_scope.message(change)) is None:
                change = await feed.get()
        if feed.cut_off:
            code, why = WSCloseCode.POLICY_VIOLATION, f"too slow: {feed.limit} changes behind".encode()
    except TimeoutError:
        code, why = WSCloseCode.POLICY_VIOLATION, b"too slow: a message was not taken in time"
    except ConnectionError:
        return  # the client is gone; the handler's read loop ends
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(ws.close(code=code, message=why), FEED_CLOSE_TIMEOUT_S)


def _message(change: AgentChange | QueueChange | Removed) -> dict[str, Any]:
    if isinstance(change, AgentChange):
        t = change.transition
        transition = None if t is None else {
            "from": t.from_state.value, "to": t.to_state.value, "cause": str(t.cause), "at": iso(t.at),
            "reason": t.reason, "call": t.call_id}
        return {"type": "agent", **agent_data(change.status, change.calls_today, change.talk_s_today),
                "transition": transition}
    if isinstance(change, QueueChange):
        return {"type": "queue", **queue_data(change.queue_id, change.at, change.calls, change.estimate,
                                              change.logged_in)}
    return {"type": f"{change.kind}_removed", "id": change.id}


ROUTES = (Route("GET", "/api/feed", live_feed, Permission.FEED_READ),
          Route("POST", "/api/feed/ticket", feed_ticket, Permission.FEED_READ))

OPERATIONS: Operations = {
    ("GET", "/api/feed"): operation(
        "The live feed, a WebSocket", tag="feed",
        description="A snapshot {type: snapshot, queues, agents, calls}, then one message per change: {type: agent, "
                    "...} with its transition, {type: queue, ...}, {type: agent_removed|queue_removed, id}, {type: "
                    "call, ...} (a live call, as GET /api/calls/{call_id} shows it), {type: call_ended, id}. A "
                    "client that falls too far behind is closed with 1008. docs/acd.md, \"Change feed\", and "
                    "docs/live-calls.md have the details.",
        parameters=[query("ticket", "a single-use ticket from POST /api/feed/ticket (browsers cannot set headers)",
                          {"type": "string"})],
        responses={101: {"description": "Switching to the WebSocket protocol"},
                   400: error_response("Not a WebSocket handshake"),
                   403: error_response("A browser page whose origin is not allow-listed")}),
    ("POST", "/api/feed/ticket"): operation(
        "A single-use ticket for one WebSocket handshake, as the caller", tag="feed",
        responses={201: json_response("The ticket", obj({"ticket": {"type": "string"}, "expires_in_s": {"type": "number"},
                                                          "use": {"type": "string"}},
                                                         required=("ticket", "expires_in_s", "use"))),
                   503: error_response("Too many tickets outstanding: try again shortly")}),
}
