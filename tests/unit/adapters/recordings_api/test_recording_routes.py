"""/api/recordings in process: permissions and scope per principal, audio with Range, controls, hold, audit, odd ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from callcontrol.adapters.http import recordings as routes
from callcontrol.adapters.http.app import make_app
from callcontrol.adapters.http.auth import PRINCIPAL
from callcontrol.adapters.http.recordings import RECORDINGS, RecordingsApi
from callcontrol.adapters.recording_files import RecordingDirectory
from callcontrol.core.audit import Outcome
from callcontrol.core.permissions import Principal, Role
from callcontrol.core.recordings import COMPLETE, Recording
from callcontrol.services.recordings import CallRecorder
from tests.support.clock import T0, SettableClock
from tests.support.http_api import AUTH, TOKEN
from tests.support.recording import LoggedControls, MemoryAuditTrail, MemoryRecordingRegistry, write_wav

PRINCIPALS = {
    "admin": Principal("root", Role.ADMIN),
    "sup-a": Principal("sue", Role.SUPERVISOR, teams={"team_a"}),
    "sup-b": Principal("sam", Role.SUPERVISOR, teams={"team_b"}),
    "ada": Principal("ada", Role.AGENT, agent_id="ada"),
    "bob": Principal("bob", Role.AGENT, agent_id="bob"),
    "report": Principal("rita", Role.REPORTING),
}
AGENT_TEAMS = {"ada": {"team_a"}, "bob": {"team_b"}}


def recording(number: int, **changes: object) -> Recording:
    values: dict[str, object] = dict(id=f"rec_{number:032x}", call_id=f"1764666000.{number}",
                                     channel="PJSIP/caller-00000001", queue="support", agent="ada", started_at=T0,
                                     retention_days=30, agents_may_listen=True, state=COMPLETE,
                                     ended_at=T0 + timedelta(seconds=2), duration_s=2.0)
    return Recording(**(values | changes))  # type: ignore[arg-type]


class World:
    def __init__(self, root: Path) -> None:
        self.registry = MemoryRecordingRegistry()
        self.files = RecordingDirectory(root, str(root))
        self.audit = MemoryAuditTrail()
        clock = SettableClock(T0)
        self.api = RecordingsApi(self.registry, CallRecorder(self.registry, self.files, LoggedControls(), clock,
                                                             lambda q: None), self.files, self.audit, clock,
                                 agent_teams=lambda a: AGENT_TEAMS.get(a, set()), queue_teams=lambda q: ())


@web.middleware
async def as_header_principal(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Tests only: the principal named by X-Test-Principal (what the people lane's authentication will set)."""
    name = request.headers.get("X-Test-Principal")
    if name:
        request[PRINCIPAL] = PRINCIPALS[name]
    return await handler(request)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[TestClient, World]]:
    w = World(tmp_path)
    for rec in (recording(1), recording(2, agent="bob"), recording(3, agents_may_listen=False)):
        await w.registry.save(rec)
        write_wav(w.files.path_of(rec.relative_path), 2.0)
    app = web.Application(middlewares=[as_header_principal])
    app[RECORDINGS] = w.api
    for route in routes.ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    async with TestClient(TestServer(app)) as client:
        yield client, w


def as_(name: str) -> dict[str, str]:
    return {"X-Test-Principal": name}


async def test_lists_are_filtered_by_scope(world) -> None:
    client, _ = world
    async def ids(name: str, query: str = "") -> list[str]:
        response = await client.get(f"/api/recordings{query}", headers=as_(name))
        assert response.status == 200
        return sorted(r["id"][-1] for r in (await response.json())["recordings"])
    assert await ids("admin") == ["1", "2", "3"]
    assert await ids("sup-a") == ["1", "3"] and await ids("sup-b") == ["2"]
    assert await ids("ada") == ["1", "3"] and await ids("bob") == ["2"]
    assert await ids("admin", "?agent=bob") == ["2"]
    assert (await client.get("/api/recordings?agent=../x", headers=as_("admin"))).status == 400
    assert (await client.get("/api/recordings?from=yesterday", headers=as_("admin"))).status == 400


async def test_audio_is_streamed_with_range_and_each_listen_audited(world) -> None:
    client, w = world
    rec = recording(1)
    whole = await client.get(f"/api/recordings/{rec.id}/audio", headers=as_("ada"))
    assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
    body = await whole.read()
    assert body[:4] == b"RIFF" and len(body) == 32044
    part = await client.get(f"/api/recordings/{rec.id}/audio?download=1",
                            headers=as_("sup-a") | {"Range": "bytes=0-99"})
    assert part.status == 206 and len(await part.read()) == 100
    assert part.headers["Content-Range"] == "bytes 0-99/32044"
    assert part.headers["Content-Disposition"] == f'attachment; filename="{rec.id}.wav"'
    assert [(e.actor, e.action, e.outcome, e.detail.get("range")) for e in w.audit.entries] == [
        ("ada", "recording.listen", Outcome.ALLOWED, ""),
        ("sue", "recording.download", Outcome.ALLOWED, "bytes=0-99")]
    assert all(e.source == "127.0.0.1" and e.object_id == rec.id for e in w.audit.entries)


@pytest.mark.parametrize(("who", "number", "status"), [
    (None, 1, 403),  # unauthenticated
    ("report", 1, 403),  # reporting: no audio
    ("sup-b", 1, 404),  # another team's supervisor: not even that it exists
    ("bob", 1, 404),  # an agent fetching another agent's recording
    ("ada", 3, 404),  # its own, but the queue does not let agents listen
])
async def test_refusals_are_refused_and_audited(world, who, number, status) -> None:
    client, w = world
    response = await client.get(f"/api/recordings/{recording(number).id}/audio", headers=as_(who) if who else {})
    assert response.status == status and (await response.json())["error"]
    (entry,) = w.audit.entries
    assert entry.outcome == Outcome.DENIED and entry.actor == (PRINCIPALS[who].user if who else "anonymous")


@pytest.mark.parametrize("raw", ["..%2F..%2Fetc%2Fpasswd", "rec_%00", "rec_" + "A" * 32, "rec_1", "%2e%2e",
                                 "rec_" + "0" * 31 + "1.wav", "rec_" + "f" * 32])
async def test_odd_ids_are_404_and_never_a_path(world, raw) -> None:
    client, w = world
    for suffix in ("", "/audio"):
        response = await client.get(f"/api/recordings/{raw}{suffix}", headers=as_("admin"))
        assert response.status == 404
    assert all(e.outcome == Outcome.DENIED for e in w.audit.entries)


async def test_hold_needs_manage_and_controls_need_a_live_recording(world) -> None:
    client, w = world
    rec = recording(1)
    assert (await client.put(f"/api/recordings/{rec.id}/hold", json={"legal_hold": True}, headers=as_("sup-a"))
            ).status == 403
    held = await client.put(f"/api/recordings/{rec.id}/hold", json={"legal_hold": True}, headers=as_("admin"))
    assert held.status == 200 and (await held.json())["legal_hold"] is True
    assert w.registry.rows[rec.id].legal_hold
    assert (await client.put(f"/api/recordings/{rec.id}/hold", json={"legal_hold": "yes"}, headers=as_("admin"))
            ).status == 400
    paused = await client.post(f"/api/recordings/{rec.id}/pause", json={"reason": "payment"}, headers=as_("ada"))
    assert paused.status == 409 and (await paused.json())["error"] == "not_live"


async def test_the_token_acts_as_admin_through_the_real_app(tmp_path: Path) -> None:
    w = World(tmp_path)
    await w.registry.save(recording(1))
    app = make_app(lambda: [], api_token=SecretStr(TOKEN), recordings=w.api, degraded_reasons=lambda: ["disk full"])
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/api/recordings")).status == 401
        listed = await client.get("/api/recordings", headers=AUTH)
        assert listed.status == 200 and len((await listed.json())["recordings"]) == 1
        ready = await client.get("/readyz")
        assert ready.status == 200 and await ready.json() == {"status": "degraded", "degraded": ["disk full"]}
