"""The ACD change feed: the desk's bounded subscriptions and the /api/feed WebSocket (snapshot, then changes)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import WSCloseCode, WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from callcontrol.adapters.http.app import make_app
from callcontrol.adapters.http.feed import FEED_SOCKETS
from callcontrol.core.acd.agent_states import AgentState
from callcontrol.core.ivr import QueueLeft
from callcontrol.services.acd_feed import AgentChange, QueueChange, Removed
from tests.support.http_api import AUTH, TOKEN
from tests.support.queue_desk import caller, request


async def next_json(ws) -> dict:
    message = await asyncio.wait_for(ws.receive(), 2)
    assert message.type is WSMsgType.TEXT, message
    return message.json()


async def messages_until(ws, done) -> list[dict]:
    """Feed messages up to and including the first one `done` accepts."""
    seen = []
    while True:
        seen.append(await next_json(ws))
        if done(seen[-1]):
            return seen


# ---------------------------------------------------------------- the desk's subscriptions


async def test_a_subscription_gets_each_transition_and_each_queue_whose_calls_change(desk):
    feed = desk.subscribe()
    desk.login("a1")
    change = await feed.get()
    assert isinstance(change, AgentChange)
    assert change.status.state is AgentState.AVAILABLE and change.transition.cause.value == "login"
    desk.pause("a1", "lunch")
    assert (await feed.get()).status.pause_reason == "lunch"

    channel, ref = caller(desk, "c1", {"PJSIP/a1": ["ANSWER"]})
    waiting = asyncio.create_task(desk.wait_in_queue(channel, request(max_wait_s=10), ref))
    queued = await feed.get()
    assert isinstance(queued, QueueChange) and queued.queue_id == "sales"
    assert [(call.id, agent) for call, _, agent in queued.calls] == [("c1", None)]

    desk.resume("a1")  # a1 available, then offered c1 in the same outcome
    changes = [await feed.get() for _ in range(3)]
    assert [c.transition.to_state.value for c in changes[:2]] == ["available", "reserved"]
    assert [(call.id, agent) for call, _, agent in changes[2].calls] == [("c1", "a1")]
    assert await waiting == QueueLeft("answered")
    rest = []
    while not feed._changes.empty():
        rest.append(feed._changes.get_nowait())
    assert [c.transition.to_state.value for c in rest if isinstance(c, AgentChange)] == ["on_call", "available"]
    answered = [c for c in rest if isinstance(c, QueueChange)]
    assert len(answered) == 1 and answered[0].calls == ()  # the answered call left the queue


async def test_callers_who_join_and_leave_while_nobody_is_offered_are_announced(desk):
    """A decision that names no call (a caller queued or gone while the only agent is paused) still shows up."""
    desk.login("a1")
    desk.pause("a1", "lunch")
    feed = desk.subscribe()
    channels = [caller(desk, name, {}) for name in ("c1", "c2")]
    waiting = [asyncio.create_task(desk.wait_in_queue(channel, request(max_wait_s=10), ref))
               for channel, ref in channels]
    first, second = await feed.get(), await feed.get()
    assert [call.id for call, _, _ in second.calls] == ["c1", "c2"] and len(first.calls) == 1
    waiting[0].cancel()  # c1 hangs up
    await asyncio.gather(waiting[0], return_exceptions=True)
    assert [call.id for call, _, _ in (await feed.get()).calls] == ["c2"]
    waiting[1].cancel()
    await asyncio.gather(waiting[1], return_exceptions=True)
    assert (await feed.get()).calls == ()


async def test_a_slow_subscriber_is_cut_off_and_never_slows_the_desk(desk):
    slow, fast = desk.subscribe(limit=2), desk.subscribe()
    for _ in range(3):
        desk.login("a1")
        desk.logout("a1")
    assert slow.cut_off and await slow.get() is None  # its backlog dropped: it must reconnect for a snapshot
    assert not fast.cut_off and fast._changes.qsize() == 6
    desk.login("a2")
    assert fast._changes.qsize() == 7 and await slow.get() is None


async def test_definitions_and_removals_are_announced(desk):
    feed = desk.subscribe()
    desk.remove_agent("a2")
    assert await feed.get() == Removed("agent", "a2")
    desk.remove_queue("sales")
    assert await feed.get() == Removed("queue", "sales")
    feed_end = desk.subscribe()
    desk.unsubscribe(feed_end)
    assert await feed_end.get() is None


# ---------------------------------------------------------------- the WebSocket


async def test_the_feed_starts_with_a_snapshot_shaped_like_the_get_routes(client, desk):
    desk.login("a2")
    async with client.ws_connect("/api/feed", headers=AUTH) as ws:
        snapshot = await next_json(ws)
        assert snapshot["type"] == "snapshot"
        assert snapshot["queues"] == await (await client.get("/api/queues", headers=AUTH)).json()
        assert snapshot["agents"] == await (await client.get("/api/agents", headers=AUTH)).json()
        assert [a["state"] for a in snapshot["agents"]] == ["logged_out", "available"]


async def test_a_plain_get_of_the_feed_is_the_api_s_json_400(client, desk):
    """Without the WebSocket handshake the feed answers like the rest of the API (not aiohttp's text) and no
    subscription is left behind."""
    response = await client.get("/api/feed", headers=AUTH)
    assert response.status == 400 and response.content_type == "application/json"
    assert (await response.json())["error"] == "not_a_websocket"
    assert not client.app[FEED_SOCKETS]


async def test_the_feed_sends_agent_transitions_and_queue_changes(client, desk):
    async with client.ws_connect("/api/feed", headers=AUTH) as ws:
        await next_json(ws)  # snapshot
        assert (await client.post("/api/agents/a1/login", headers=AUTH)).status == 200
        login = await next_json(ws)
        assert login["type"] == "agent" and login["id"] == "a1" and login["state"] == "available"
        assert login["transition"]["from"] == "logged_out" and login["transition"]["cause"] == "login"
        agent = await (await client.get("/api/agents/a1", headers=AUTH)).json()
        assert login.keys() - {"type", "transition"} == agent.keys()
        await client.post("/api/agents/a1/pause", json={"reason": "lunch"}, headers=AUTH)
        assert (await next_json(ws))["pause_reason"] == "lunch"

        channel, ref = caller(desk, "c1", {"PJSIP/a1": ["ANSWER"]})
        waiting = asyncio.create_task(desk.wait_in_queue(channel, request(max_wait_s=10), ref))
        queued = await next_json(ws)
        assert queued["type"] == "queue" and queued["id"] == "sales"
        assert [(c["call"], c["ringing"]) for c in queued["calls"]] == [("c1", None)]
        queue = await (await client.get("/api/queues/sales", headers=AUTH)).json()
        assert queued.keys() - {"type"} == queue.keys()

        await client.post("/api/agents/a1/resume", headers=AUTH)
        seen = await messages_until(ws, lambda m: m["type"] == "queue" and m["calls"] == [])
        assert await waiting == QueueLeft("answered")
        assert [(m["type"], m.get("state"), [c["ringing"] for c in m.get("calls", [])]) for m in seen] == [
            ("agent", "reserved", []),  # the resume's own message shows where the outcome left a1
            ("agent", "reserved", []),
            ("queue", None, ["a1"]),  # offered
            ("agent", "on_call", []),
            ("queue", None, []),  # answered: the call left the queue
        ]
        assert [m["transition"]["to"] for m in seen if m["type"] == "agent"] == ["available", "reserved", "on_call"]


async def test_config_changes_reach_the_feed(client):
    async with client.ws_connect("/api/feed", headers=AUTH) as ws:
        await next_json(ws)
        await client.put("/api/config/queues/support", json={"required_skills": {"english": 1}}, headers=AUTH)
        added = await next_json(ws)
        assert added["type"] == "queue" and added["id"] == "support" and added["calls"] == []
        await client.put("/api/config/agents/a3", json={"endpoint": "PJSIP/a3"}, headers=AUTH)
        agent = await next_json(ws)
        assert (agent["type"], agent["id"], agent["state"], agent["transition"]) == ("agent", "a3", "logged_out", None)
        await client.delete("/api/config/agents/a3", headers=AUTH)
        assert await next_json(ws) == {"type": "agent_removed", "id": "a3"}
        await client.delete("/api/config/queues/support", headers=AUTH)
        assert await next_json(ws) == {"type": "queue_removed", "id": "support"}


async def test_a_client_that_falls_behind_is_disconnected(desk):
    app = make_app(lambda: [], acd=desk, api_token=SecretStr(TOKEN), feed_limit=3)
    async with TestClient(TestServer(app)) as client:
        ws = await client.ws_connect("/api/feed", headers=AUTH)
        await next_json(ws)
        for _ in range(5):  # ten changes with no await between: the feed cannot drain, as behind a stalled client
            desk.login("a1")
            desk.logout("a1")
        assert desk.feed.feeds == {}  # cut off at once, without waiting for the client
        message = await asyncio.wait_for(ws.receive(), 2)
        assert message.type is WSMsgType.CLOSE and ws.close_code == WSCloseCode.POLICY_VIOLATION
        assert message.extra == "too slow: 3 changes behind"  # the backlog was dropped: reconnect for a snapshot
        assert desk.distributor.agent_status("a1").state is AgentState.LOGGED_OUT  # the desk went on
        async with client.ws_connect("/api/feed", headers=AUTH) as again:  # a new connection starts over
            assert (await next_json(again))["type"] == "snapshot"
            desk.login("a1")
            assert (await next_json(again))["state"] == "available"
        await ws.close()


async def test_a_client_that_takes_changes_in_time_stays_connected(desk):
    app = make_app(lambda: [], acd=desk, api_token=SecretStr(TOKEN), feed_limit=3)
    async with TestClient(TestServer(app)) as client, client.ws_connect("/api/feed", headers=AUTH) as ws:
        await next_json(ws)
        for _ in range(5):
            desk.login("a1")
            desk.logout("a1")
            assert [m["state"] for m in (await next_json(ws), await next_json(ws))] == ["available", "logged_out"]
        assert len(desk.feed.feeds) == 1


async def test_shutting_down_closes_every_feed(desk):
    app = make_app(lambda: [], acd=desk, api_token=SecretStr(TOKEN))
    server = TestServer(app)
    async with TestClient(server) as client:
        ws = await client.ws_connect("/api/feed", headers=AUTH)
        await next_json(ws)
        stopping = asyncio.create_task(server.close())
        message = await asyncio.wait_for(ws.receive(), 5)
        assert message.type is WSMsgType.CLOSE and ws.close_code == WSCloseCode.GOING_AWAY
        await asyncio.wait_for(stopping, 10)
        assert desk.feed.feeds == {}  # unsubscribed


# ---------------------------------------------------------------- who may open the feed


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_the_feed_needs_the_bearer_token(client, headers):
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/feed", headers=headers)
    assert refused.value.status == 401 and refused.value.headers["WWW-Authenticate"] == "Bearer"


async def test_a_browser_page_from_a_foreign_origin_cannot_open_the_feed(client, desk):
    """A handshake with an Origin header is refused unless the origin is allowed; none are by default."""
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/feed", headers={**AUTH, "Origin": "https://evil.example"})
    assert refused.value.status == 403
    assert desk.feed.feeds == {}  # refused before subscribing


async def test_an_allowed_origin_opens_the_feed(desk, store):
    app = make_app(lambda: [], acd=desk, api_token=SecretStr(TOKEN), acd_store=store,
                   allowed_origins=["https://Console.example:8443/", "https://other.example"])
    async with TestClient(TestServer(app)) as client:
        async with client.ws_connect("/api/feed", headers={**AUTH, "Origin": "https://console.example:8443"}) as ws:
            assert (await next_json(ws))["type"] == "snapshot"
        for origin in ("https://console.example", "http://console.example:8443", "null"):
            with pytest.raises(WSServerHandshakeError) as refused:
                await client.ws_connect("/api/feed", headers={**AUTH, "Origin": origin})
            assert refused.value.status == 403, origin
        with pytest.raises(WSServerHandshakeError) as refused:  # an allowed origin still needs the token
            await client.ws_connect("/api/feed", headers={"Origin": "https://other.example"})
        assert refused.value.status == 401
