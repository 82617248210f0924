"""/api/feed, a WebSocket: a snapshot of every queue and agent, then one message per change; slow clients cut off."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import WSCloseCode, web

from callcontrol.adapters.http.acd_json import ACD_DESK, agent_data, agents_now, iso, queue_data, queues_now
from callcontrol.adapters.http.auth import Route
from callcontrol.adapters.http.openapi_parts import Operations, error_response, operation
from callcontrol.services.acd_feed import AgentChange, Change, Feed, QueueChange

FEED_HEARTBEAT_S = 30.0  # ping; a client that does not answer is dropped
FEED_SEND_TIMEOUT_S = 10.0  # a message the client does not take within this cuts it off
FEED_CLOSE_TIMEOUT_S = 5.0
FEED_LIMIT = web.AppKey("feed_limit", int)  # changes a client may fall behind before it is cut off
FEED_SOCKETS = web.AppKey("feed_sockets", set[web.WebSocketResponse])  # open feeds, closed on shutdown


async def live_feed(request: web.Request) -> web.StreamResponse:
    """WebSocket: a snapshot of every queue and agent, then one message per change."""
    desk = request.app[ACD_DESK]
    ws = web.WebSocketResponse(heartbeat=FEED_HEARTBEAT_S, timeout=FEED_CLOSE_TIMEOUT_S)
    if not ws.can_prepare(request).ok:  # a plain GET: the API's JSON error, not aiohttp's text
        return web.json_response({"error": "not_a_websocket",
                                  "message": "GET /api/feed is a WebSocket: send the Upgrade handshake"}, status=400)
    await ws.prepare(request)
    feed = desk.subscribe(request.app[FEED_LIMIT])  # subscribed and snapshot taken with no await between
    snapshot = {"type": "snapshot", "queues": queues_now(desk.view), "agents": agents_now(desk.view)}
    sender = asyncio.create_task(_send_changes(ws, feed, snapshot), name="acd-feed-sender")
    sockets = request.app[FEED_SOCKETS]
    sockets.add(ws)
    try:
        async for _ in ws:  # what the client sends is ignored; this ends when either side closes
            pass
    finally:
        sockets.discard(ws)
        desk.unsubscribe(feed)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    return ws


async def close_feeds(app: web.Application) -> None:
    """On shutdown: every open feed is closed (GOING_AWAY)."""
    for ws in list(app[FEED_SOCKETS]):
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown"),
                                   FEED_CLOSE_TIMEOUT_S)


async def _send_changes(ws: web.WebSocketResponse, feed: Feed, first: dict[str, Any]) -> None:
    """The snapshot, then each change; closes the socket when the feed ends or the client is too slow."""
    code, why = WSCloseCode.GOING_AWAY, b"feed ended"
    try:
        message: dict[str, Any] | None = first
        while message is not None:
            await asyncio.wait_for(ws.send_json(message), FEED_SEND_TIMEOUT_S)
            change = await feed.get()
            message = _message(change) if change is not None else None
        if feed.cut_off:
            code, why = WSCloseCode.POLICY_VIOLATION, f"too slow: {feed.limit} changes behind".encode()
    except TimeoutError:
        code, why = WSCloseCode.POLICY_VIOLATION, b"too slow: a message was not taken in time"
    except ConnectionError:
        return  # the client is gone; the handler's read loop ends
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(ws.close(code=code, message=why), FEED_CLOSE_TIMEOUT_S)


def _message(change: Change) -> dict[str, Any]:
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


ROUTES = (Route("GET", "/api/feed", live_feed),)

OPERATIONS: Operations = {
    ("GET", "/api/feed"): operation(
        "The live feed, a WebSocket", tag="feed",
        description="A snapshot {type: snapshot, queues, agents}, then one message per change: {type: agent, ...} "
                    "with its transition, {type: queue, ...}, {type: agent_removed|queue_removed, id}. A client "
                    "that falls too far behind is closed with 1008. docs/acd.md, \"Change feed\", has the details.",
        responses={101: {"description": "Switching to the WebSocket protocol"},
                   400: error_response("Not a WebSocket handshake"),
                   403: error_response("A browser page whose origin is not allow-listed")}),
}
