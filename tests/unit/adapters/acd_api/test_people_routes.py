"""Authentication, permissions and object scope over the HTTP API and the feed, with real People over SQLite."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import delete

from callcontrol.adapters.db.people_rows import ApiTokenRow, AuditEventRow, UserRow, UserScopeRow
from callcontrol.adapters.db.people_store import SqlAuditTrail, SqlPeopleStore
from callcontrol.adapters.db.store import make_engine
from callcontrol.adapters.http.app import make_app, route_table
from callcontrol.adapters.http.auth import GUARD
from callcontrol.adapters.http.scope import AcdScope
from callcontrol.core.acd.model import Agent, Queue
from callcontrol.core.permissions import Permission, Principal, Role
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.feed_tickets import FeedTickets
from callcontrol.services.login_attempts import LOGIN_POLICY
from callcontrol.services.people import People
from callcontrol.services.ports import SystemClock
from tests.support.clock import T0, LoopClock, SettableClock
from tests.support.http_api import AUTH, TOKEN
from tests.support.pbx import FakePbx
from tests.support.stores import fast_passwords

ANN = Agent("ann", "Ann", "PJSIP/ann", skills={"english": 5}, teams=frozenset({"north"}))
BEN = Agent("ben", "Ben", "PJSIP/ben", skills={"english": 5}, teams=frozenset({"south"}))
QN = Queue("qn", "North", required_skills={"english": 1}, teams=frozenset({"north"}))
QS = Queue("qs", "South", required_skills={"english": 1}, teams=frozenset({"south"}))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def world(acd_db: str, store) -> AsyncIterator[dict]:
    """An app with two teams (north: ann, qn; south: ben, qs) and a token per kind of user."""
    engine = make_engine(acd_db)
    async with engine.begin() as conn:
        for model in (AuditEventRow, ApiTokenRow, UserScopeRow, UserRow):
            await conn.execute(delete(model))
    people = People(SqlPeopleStore(engine), SystemClock(), passwords=fast_passwords())
    audit = SqlAuditTrail(engine)
    desk = AcdDesk((), (), FakePbx(), LoopClock())
    desk.configure([QN, QS], [ANN, BEN])
    runner = asyncio.create_task(desk.run())
    tokens = {
        "north": (await people.add_user("sup.north", Role.SUPERVISOR, frozenset({"north"})))[1],
        "south": (await people.add_user("sup.south", Role.SUPERVISOR, frozenset({"south"})))[1],
        "qs-only": (await people.add_user("sup.qs", Role.SUPERVISOR, queues=frozenset({"qs"})))[1],
        "report": (await people.add_user("rita", Role.REPORTING))[1],
        "ann": (await people.add_user("ann", Role.AGENT, agent_id="ann"))[1],
        "admin": (await people.add_user("root", Role.ADMIN, password="a long enough password"))[1],
    }
    app = make_app(lambda: [], acd=desk, api_token=SecretStr(TOKEN), acd_store=store, people=people, audit=audit,
                   audit_reader=audit, feed_recheck_s=0.05)
    async with TestClient(TestServer(app)) as client:
        yield {"client": client, "tokens": tokens, "people": people, "audit": audit, "desk": desk}
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await engine.dispose()


async def status(client: TestClient, method: str, path: str, token: str | None = None, **kw) -> int:
    answer = await client.request(method, path, headers=bearer(token) if token else {}, **kw)
    return answer.status


async def test_every_route_names_its_permission(world):
    table = route_table(world["client"].server.app)
    assert table[("GET", "/healthz")] == "probe" and table[("POST", "/api/login")] == "sign_in"
    assert table[("GET", "/api/agents/{agent_id}")] == "agents.read"
    assert table[("POST", "/api/agents/{agent_id}/pause")] == "agent.operate"
    assert table[("PUT", "/api/config/agents/{agent_id}")] == "config.write"
    assert set(table.values()) <= {p.value for p in Permission}


async def test_nobody_gets_401_and_the_refusal_is_audited(world):
    client = world["client"]
    answer = await client.get("/api/agents")
    assert answer.status == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert await status(client, "GET", "/api/agents", "cc_aaaaaaaaaaaa_" + "B" * 43) == 401
    [second, first] = await world["audit"].entries(action="auth.unauthenticated")
    assert first.actor == "anonymous" and first.object_id == "/api/agents" and first.source == "127.0.0.1"
    assert first.detail["status"] == 401 and first.detail["route"] == "/api/agents"


async def test_reporting_sees_figures_but_no_agents(world):
    client, token = world["client"], world["tokens"]["report"]
    assert await status(client, "GET", "/api/agents", token) == 403
    assert await status(client, "GET", "/api/queues/qn/explain", token) == 403
    assert [q["id"] for q in await (await client.get("/api/queues", headers=bearer(token))).json()] == ["qn", "qs"]
    explain, agents = await world["audit"].entries(actor="rita")  # newest first
    assert agents.action == "auth.forbidden" and agents.role == "reporting" and agents.object_type == "route"
    assert agents.detail["permission"] == "agents.read" and explain.object_id == "qn"


async def test_a_supervisor_sees_its_teams_only_and_other_teams_look_like_nothing(world):
    client, token = world["client"], world["tokens"]["south"]
    agents = await (await client.get("/api/agents", headers=bearer(token))).json()
    assert [a["id"] for a in agents] == ["ben"]
    assert [q["id"] for q in await (await client.get("/api/queues", headers=bearer(token))).json()] == ["qs"]
    hidden = await client.get("/api/agents/ann", headers=bearer(token))
    missing = await client.get("/api/agents/nobody", headers=bearer(token))
    assert hidden.status == missing.status == 404
    assert (await hidden.json())["error"] == (await missing.json())["error"] == "UnknownAgent"
    assert await status(client, "GET", "/api/queues/qn", token) == 404
    assert await status(client, "POST", "/api/agents/ann/login", token) == 404
    assert await status(client, "POST", "/api/agents/ben/login", token) == 200
    explained = await (await client.get("/api/queues/qs/explain", headers=bearer(token))).json()
    assert [v["agent"] for v in explained["agents"]] == ["ben"]  # ann, of the other team, is not named
    assert await status(client, "GET", "/api/config/agents", token) == 403  # the configuration is the admin's
    [*_, scope] = await world["audit"].entries(actor="sup.south", action="auth.out_of_scope")
    assert (scope.object_type, scope.object_id, scope.detail["status"]) == ("agent", "ann", 404)


async def test_a_supervisor_scoped_to_a_queue_sees_that_queue(world):
    client, token = world["client"], world["tokens"]["qs-only"]
    assert [q["id"] for q in await (await client.get("/api/queues", headers=bearer(token))).json()] == ["qs"]
    assert await (await client.get("/api/agents", headers=bearer(token))).json() == []


async def test_an_agent_operates_itself_only(world):
    client, token = world["client"], world["tokens"]["ann"]
    assert await status(client, "POST", "/api/agents/ann/login", token) == 200
    assert await status(client, "POST", "/api/agents/ann/pause", token, json={"reason": "lunch"}) == 200
    assert await status(client, "POST", "/api/agents/ben/pause", token, json={"reason": "lunch"}) == 404
    assert world["desk"].view.agent_status("ben").state.value == "logged_out"
    assert [a["id"] for a in await (await client.get("/api/agents", headers=bearer(token))).json()] == ["ann"]
    assert await status(client, "GET", "/api/queues", token) == 403


async def test_the_bootstrap_token_and_an_agent_pin_still_work(world, store):
    client = world["client"]
    assert (await client.get("/api/agents", headers=AUTH)).status == 200
    await store.save_config([ANN], [])
    await store.set_agent_pin("ann", "4321")
    basic = {"Authorization": "Basic " + base64.b64encode(b"ann:4321").decode()}
    assert (await client.post("/api/agents/ann/login", headers=basic)).status == 200


async def test_a_revoked_user_and_an_expired_token_are_refused(world):
    client, people = world["client"], world["people"]
    token = world["tokens"]["north"]
    assert await status(client, "GET", "/api/agents", token) == 200
    assert await status(client, "DELETE", "/api/users/sup.north", world["tokens"]["admin"]) == 200
    assert await status(client, "GET", "/api/agents", token) == 401
    short = await people.issue_token("rita", expires_days=1e-9)
    await asyncio.sleep(0.01)
    assert await status(client, "GET", "/api/queues", short) == 401


async def test_wrong_tokens_from_one_address_are_rate_limited(world):
    client = world["client"]
    for _ in range(LOGIN_POLICY.max_failures):
        assert await status(client, "GET", "/api/queues", "cc_aaaaaaaaaaaa_" + "C" * 43) == 401
    answer = await client.get("/api/queues", headers=bearer(world["tokens"]["report"]))
    assert answer.status == 429 and int(answer.headers["Retry-After"]) >= 1
    assert (await world["audit"].entries(action="auth.rate_limited"))[0].source == "127.0.0.1"


async def test_login_with_a_password_gives_an_expiring_token_and_failures_are_limited(world):
    client = world["client"]
    answer = await client.post("/api/login", json={"name": "root", "password": "a long enough password"})
    assert answer.status == 201
    body = await answer.json()
    assert body["role"] == "admin" and body["expires_at"]
    assert await status(client, "GET", "/api/users", body["token"]) == 200
    for _ in range(LOGIN_POLICY.max_failures):
        wrong = await client.post("/api/login", json={"name": "root", "password": "not the password"})
        assert wrong.status == 401
    locked = await client.post("/api/login", json={"name": "root", "password": "a long enough password"})
    assert locked.status == 429 and locked.headers["Retry-After"]
    failed = await world["audit"].entries(action="auth.login_failed")
    assert len(failed) == LOGIN_POLICY.max_failures and failed[0].detail["user"] == "root"


async def test_the_admin_manages_users_and_reads_the_audit_trail(world):
    client, admin = world["client"], bearer(world["tokens"]["admin"])
    made = await client.post("/api/users", headers=admin,
                             json={"name": "sam", "role": "supervisor", "teams": ["north"]})
    assert made.status == 201
    sam = (await made.json())["token"]
    assert [a["id"] for a in await (await client.get("/api/agents", headers=bearer(sam))).json()] == ["ann"]
    changed = await client.patch("/api/users/sam", headers=admin, json={"teams": ["south"]})
    assert (await changed.json())["teams"] == ["south"]
    assert [a["id"] for a in await (await client.get("/api/agents", headers=bearer(sam))).json()] == ["ben"]
    assert (await client.post("/api/users", headers=admin, json={"name": "sam", "role": "admin"})).status == 409
    assert (await client.post("/api/users", headers=admin, json={"name": "x", "role": "agent"})).status == 422
    assert (await client.post("/api/users", headers=admin, json={"name": "x", "role": "boss"})).status == 400
    second = await client.post("/api/users/sam/tokens", headers=admin, json={"expires_days": 7})
    assert second.status == 201 and (await second.json())["token"] != sam
    listed = await (await client.get("/api/users", headers=admin)).json()
    assert "sam" in [u["name"] for u in listed] and all("hash" not in repr(u) for u in listed)
    assert await status(client, "GET", "/api/users", sam) == 403
    assert await status(client, "GET", "/api/audit", sam) == 403
    trail = await (await client.get("/api/audit?actor=root&action=user.add", headers=admin)).json()
    assert [(e["action"], e["object_id"], e["outcome"]) for e in trail] == [("user.add", "sam", "allowed")]
    assert (await client.get("/api/audit?from=yesterday", headers=admin)).status == 400
    assert (await client.get("/api/audit?from=0001-01-01T00:00:00%2B01:00", headers=admin)).status == 400  # no UTC


async def test_the_feed_takes_a_single_use_ticket_and_shows_only_what_is_in_scope(world):
    client, desk = world["client"], world["desk"]
    answer = await client.post("/api/feed/ticket", headers=bearer(world["tokens"]["south"]))
    assert answer.status == 201
    ticket = (await answer.json())["ticket"]
    async with client.ws_connect(f"/api/feed?ticket={ticket}") as ws:
        snapshot = await asyncio.wait_for(ws.receive_json(), 2)
        assert [a["id"] for a in snapshot["agents"]] == ["ben"] and [q["id"] for q in snapshot["queues"]] == ["qs"]
        desk.login("ann")  # the other team: never sent
        desk.login("ben")
        message = await asyncio.wait_for(ws.receive_json(), 2)
        assert (message["type"], message["id"]) == ("agent", "ben")
        for agent_id in ("ann", "ben"):  # ann was never shown to this connection: its removal is not either
            desk.logout(agent_id)
            desk.remove_agent(agent_id)
        seen = [await asyncio.wait_for(ws.receive_json(), 2)]
        while seen[-1]["type"] != "agent_removed":
            seen.append(await asyncio.wait_for(ws.receive_json(), 2))
        assert seen[-1] == {"type": "agent_removed", "id": "ben"}
        assert all(m.get("id") in ("ben", "qs") for m in seen), seen
    with pytest.raises(WSServerHandshakeError) as refused:
        async with client.ws_connect(f"/api/feed?ticket={ticket}"):
            pass  # spent
    assert refused.value.status == 401
    async with client.ws_connect("/api/feed", headers=AUTH) as ws:
        snapshot = await asyncio.wait_for(ws.receive_json(), 2)
        assert snapshot["agents"] == [] and [q["id"] for q in snapshot["queues"]] == ["qn", "qs"]  # the admin: all


async def test_an_open_feed_follows_its_user_new_scope_and_closes_when_it_is_revoked(world):
    client, people, desk = world["client"], world["people"], world["desk"]
    async with client.ws_connect("/api/feed", headers=bearer(world["tokens"]["south"])) as ws:
        assert [a["id"] for a in (await asyncio.wait_for(ws.receive_json(), 2))["agents"]] == ["ben"]
        await people.set_user("sup.south", teams=frozenset({"north"}))
        await asyncio.sleep(0.3)  # a few rechecks
        desk.login("ben")  # south: no longer this user's
        desk.login("ann")
        message = await asyncio.wait_for(ws.receive_json(), 2)
        while message["type"] != "agent":
            message = await asyncio.wait_for(ws.receive_json(), 2)
        assert message["id"] == "ann"
        await people.revoke("sup.south")
        closed = await asyncio.wait_for(ws.receive(), 2)
        while closed.type.name == "TEXT":
            closed = await asyncio.wait_for(ws.receive(), 2)
        assert ws.close_code == 1008 and closed.extra == "revoked"


def test_tickets_expire_and_are_single_use():
    clock = SettableClock(T0)
    tickets = FeedTickets(ttl_s=30)
    sue = Principal("sue", Role.SUPERVISOR, frozenset({"north"}))
    first, second = tickets.issue(sue, clock.now()), tickets.issue(sue, clock.now())
    assert tickets.take(first, T0 + timedelta(seconds=29)) == sue
    assert tickets.take(first, T0 + timedelta(seconds=29)) is None
    assert tickets.take(second, T0 + timedelta(seconds=30)) is None
    assert tickets.take("../../etc/passwd", T0) is None


async def test_a_call_is_in_scope_through_its_queues_or_its_agents(world):
    """AcdScope.sees_call: what the recording routes ask of a recording's call (teams as the ACD has them now)."""
    scope = AcdScope(world["desk"].view)
    north = Principal("sue", Role.SUPERVISOR, frozenset({"north"}))
    assert scope.sees_call(north, ["qs"], ["ann"]) and scope.sees_call(north, ["qn"], [])
    assert not scope.sees_call(north, ["qs"], ["ben"]) and not scope.sees_call(north, ["gone"], ["gone"])
    assert scope.sees_call(Principal("ann", Role.AGENT, agent_id="ann"), ["qs"], ["ann"])
    assert not scope.sees_call(Principal("ann", Role.AGENT, agent_id="ann"), ["qn"], ["ben"])


async def test_guesses_at_one_users_token_lock_that_user(world):
    """A wrong secret with a live token's id counts against its user too: from many addresses it is still locked."""
    client, token = world["client"], world["tokens"]["report"]
    guard = client.server.app[GUARD]
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    for i in range(1, LOGIN_POLICY.max_failures):  # 9 wrong secrets from 9 other addresses
        guard.attempts.failed(guard.clock.now(), f"10.9.0.{i}", "rita")
    assert await status(client, "GET", "/api/queues", wrong) == 401  # the 10th failure, from this address
    answer = await client.get("/api/queues", headers=bearer(token))  # the right token: rita is locked
    assert answer.status == 429 and "rita" in (await answer.json())["message"]
    assert await status(client, "GET", "/api/queues", world["tokens"]["south"]) == 200  # others are not
