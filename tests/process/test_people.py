"""People and permissions through the real `callcontrol serve` process, over real HTTP and a real PostgreSQL.

No Asterisk is needed (nor used): agent state changes through the API drive the feed. The users are made with the
real `callcontrol users` command against the same database the service reads, and every refusal is then found in
the audit_events table.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from callcontrol.adapters.db.people_store import SqlAuditTrail
from callcontrol.adapters.db.store import make_engine
from callcontrol.devtools.sipp import free_port
from callcontrol.services.login_attempts import LOGIN_POLICY
from callcontrol.services.people import TOKEN_CACHE_S
from tests.support.backends import PG
from tests.support.polling import eventually
from tests.support.recorded_calls import add_user
from tests.support.service_process import ServiceProcess, closed_port

BOOTSTRAP = "bootstrap-admin-token-0123456789"
ACD = """\
agents:
  - {id: ann, name: Ann, endpoint: PJSIP/ann, teams: [north], skills: {english: 5}}
  - {id: ben, name: Ben, endpoint: PJSIP/ben, teams: [south], skills: {english: 5}}
queues:
  - {id: qn, name: North, required_skills: {english: 1}, teams: [north]}
  - {id: qs, name: South, required_skills: {english: 1}, teams: [south]}
"""


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    import asyncpg

    name = f"cc_proc_{secrets.token_hex(6)}"
    try:
        admin = await asyncpg.connect(database="test", timeout=5, **PG)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def service(postgres_url: str, tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    config = tmp_path / "acd.yaml"
    config.write_text(ACD)
    service = ServiceProcess(postgres_url, "s3cret-s3cret", ami_port=closed_port(),
                             extra_env={"CALLCONTROL_AGI_PORT": str(free_port()), "CALLCONTROL_API_TOKEN": BOOTSTRAP})
    await service.start(wait_ready=False, acd_config=config)  # AMI is closed: up, serving, not ready
    await eventually(lambda: _healthy(service), 20, what=f"service up\n{service.log_tail()}")
    yield service
    assert await service.stop() == 0, service.log_tail()


async def _healthy(service: ServiceProcess) -> bool:
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{service.http_port}/healthz") as response:
                return response.status == 200
    except aiohttp.ClientError:
        return False


async def test_people_and_permissions_through_the_real_service(service: ServiceProcess) -> None:
    south = await add_user(service, "sup.south", "--role", "supervisor", "--team", "south")
    rita = await add_user(service, "rita", "--role", "reporting")
    ann = await add_user(service, "ann", "--role", "agent", "--agent", "ann")
    base = f"http://127.0.0.1:{service.http_port}"

    async with aiohttp.ClientSession() as session:
        async def call(method: str, path: str, token: str | None = None, **kw) -> tuple[int, object, dict]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with session.request(method, base + path, headers=headers, **kw) as response:
                return response.status, await response.json(), dict(response.headers)

        assert (await call("GET", "/api/agents"))[0] == 401
        assert (await call("GET", "/api/agents", rita))[0] == 403
        assert (await call("GET", "/api/queues", rita))[0] == 200
        status, agents, _ = await call("GET", "/api/agents", south)
        assert status == 200 and [a["id"] for a in agents] == ["ben"]
        assert (await call("GET", "/api/agents/ann", south))[0] == 404

        assert (await call("POST", "/api/agents/ann/login", ann))[0] == 200
        assert (await call("POST", "/api/agents/ann/pause", ann, json={"reason": "lunch"}))[0] == 200
        assert (await call("POST", "/api/agents/ben/pause", ann, json={"reason": "lunch"}))[0] == 404
        _, mine, _ = await call("GET", "/api/agents/ann", ann)
        assert mine["state"] == "paused" and mine["pause_reason"] == "lunch"

        # the feed, with a ticket, carries only the south team's changes
        status, issued, _ = await call("POST", "/api/feed/ticket", south)
        assert status == 201
        ticket = issued["ticket"]
        async with session.ws_connect(f"{base}/api/feed?ticket={ticket}") as ws:
            snapshot = await asyncio.wait_for(ws.receive_json(), 5)
            assert [a["id"] for a in snapshot["agents"]] == ["ben"]
            assert [q["id"] for q in snapshot["queues"]] == ["qs"]
            assert (await call("POST", "/api/agents/ann/resume", ann))[0] == 200  # north: not for this feed
            assert (await call("POST", "/api/agents/ben/login", BOOTSTRAP))[0] == 200
            seen = [await asyncio.wait_for(ws.receive_json(), 5)]
            while seen[-1]["type"] != "agent":
                seen.append(await asyncio.wait_for(ws.receive_json(), 5))
            assert seen[-1]["id"] == "ben" and seen[-1]["state"] == "available"
            assert all(message.get("id") in ("ben", "qs") for message in seen), seen
        with pytest.raises(aiohttp.WSServerHandshakeError) as spent:
            async with session.ws_connect(f"{base}/api/feed?ticket={ticket}"):
                pass
        assert spent.value.status == 401

        # the admin reads the audit trail (before the address gets locked out below)
        status, trail, _ = await call("GET", "/api/audit?actor=sup.south", BOOTSTRAP)
        assert status == 200 and [(e["action"], e["object_id"]) for e in trail] == [("auth.out_of_scope", "ann")]

        # a revoke from the command line reaches the running service within its bound
        assert (await call("GET", "/api/queues", rita))[0] == 200  # cached in the service now
        code, out = await service.cli("users", "revoke", "rita")
        assert code == 0, out
        revoked_at = time.monotonic()
        while (await call("GET", "/api/queues", rita))[0] == 200:
            assert time.monotonic() - revoked_at <= 5.0, "a revoked token still works after 5 s"
            await asyncio.sleep(0.5)
        assert time.monotonic() - revoked_at <= TOKEN_CACHE_S + 1.0

        # wrong tokens from one address: 429 with Retry-After before the limit is passed
        answers = [await call("GET", "/api/queues", "cc_aaaaaaaaaaaa_" + "D" * 43)
                   for _ in range(LOGIN_POLICY.max_failures + 1)]
        assert answers[-1][0] == 429 and int(answers[-1][2]["Retry-After"]) >= 1
        assert (await call("GET", "/api/queues", south))[0] == 429  # refused unchecked while locked

    engine = make_engine(service.database_url)
    try:
        entries = await SqlAuditTrail(engine).entries(limit=1000)
    finally:
        await engine.dispose()
    refusals = {(e.action, e.actor, e.object_id) for e in entries if e.outcome.value == "denied"}
    assert ("auth.unauthenticated", "anonymous", "/api/agents") in refusals
    assert ("auth.forbidden", "rita", "/api/agents") in refusals
    assert ("auth.out_of_scope", "sup.south", "ann") in refusals
    assert ("auth.out_of_scope", "ann", "ben") in refusals
    assert ("auth.unauthenticated", "anonymous", "/api/feed") in refusals  # the spent ticket
    assert any(action == "auth.rate_limited" for action, _, _ in refusals)
    assert all(e.source == "127.0.0.1" for e in entries if e.outcome.value == "denied")
    assert BOOTSTRAP not in service.log_path.read_text() and south not in service.log_path.read_text()
