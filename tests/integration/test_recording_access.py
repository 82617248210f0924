"""Who may see and hear a real recording: real SIPp calls recorded by the sandbox Asterisk 22, users made with the
real `callcontrol users add`, every request over real HTTP to the running service, the audit trail read from the
audit_events table it writes.

The route's permission is checked first (403 for a role without it), the recording's scope afterwards (404, like an
unknown id: nothing says it exists).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from callcontrol.core.audit import Outcome
from tests.support.polling import eventually
from tests.support.recorded_calls import add_user, audit_entries, final_recording, talking_call
from tests.support.service_process import Records, ServiceProcess

BOOTSTRAP = "bootstrap-admin-token-0123456789"
ACD = """\
agents:
  - {id: ada, name: Ada, endpoint: PJSIP/agent1001, teams: [sales]}
  - {id: bob, name: Bob, endpoint: PJSIP/agent1002, teams: [support]}
queues:
  - {id: rec, name: Recorded, ring_timeout_s: 5, max_wait_s: 60, teams: [sales],
     recording: {mode: always, retention_days: 30}}
"""
FLOW = """\
id: rec
numbers: ["5002"]
allow: {queues: [rec]}
start: q
nodes:
  q: {type: queue, queue: rec, max_wait_s: 30, timeout: bye, no_agents: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
"""
ODD_IDS = ("..%2F..%2Fetc%2Fpasswd", "%00", "rec_%00", "rec_" + "a" * 31)


@pytest.fixture
async def service(sandbox, ami_secret, sqlite_url, tmp_path: Path, recordings_env):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "rec.yaml").write_text(FLOW)
    (tmp_path / "acd.yaml").write_text(ACD)
    service = ServiceProcess(sqlite_url, ami_secret, extra_env={
        "CALLCONTROL_FLOWS_DIR": str(flows), "CALLCONTROL_API_TOKEN": BOOTSTRAP, **recordings_env[1]})
    await service.start(acd_config=tmp_path / "acd.yaml")
    yield service
    assert await service.stop() == 0, service.log_tail()


class Client:
    """Requests to the running service as one token (None: no Authorization header)."""

    def __init__(self, session: aiohttp.ClientSession, service: ServiceProcess, token: str | None) -> None:
        self.session, self.base, self.token = session, f"http://127.0.0.1:{service.http_port}", token

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.get(self.base + path, headers={**auth, **(headers or {})}) as response:
            return response.status, await response.read(), dict(response.headers)

    async def status(self, path: str) -> int:
        return (await self.get(path))[0]

    async def listed(self) -> list[str]:
        import json
        code, body, _ = await self.get("/api/recordings")
        assert code == 200, body
        return [r["id"] for r in json.loads(body)["recordings"]]

    async def send(self, method: str, path: str, body: dict) -> tuple[int, dict]:
        async with self.session.request(method, self.base + path, json=body,
                                        headers={"Authorization": f"Bearer {self.token}"}) as response:
            return response.status, await response.json()


async def _recorded_call(sqlite_url: str, records: Records, caller: str, calls_before: int):
    """One real recorded queue call: the caller talks, ada answers; its recording once finalized."""
    caller_run, agent_run = await talking_call(caller, talk_ms=5000, agent_talk_ms=3000)
    assert caller_run.returncode == 0 and agent_run.returncode == 0, (caller_run.output, agent_run.output)
    record = [r for r in await records.ended(calls_before + 1) if r.caller_number == caller][0]
    rec = await eventually(lambda: final_recording(sqlite_url, record.call_id), 15, 0.2, what="finalized")
    assert rec.state == "complete" and rec.agent == "ada" and rec.queue == "rec", rec
    return rec


async def _set_agents_may_listen(admin: Client, allowed: bool) -> None:
    import json
    code, body, _ = await admin.get("/api/config/queues/rec")
    assert code == 200, body
    queue = json.loads(body)
    queue["recording"] = {**queue["recording"], "agents_may_listen": allowed}
    code, answer = await admin.send("PUT", "/api/config/queues/rec", queue)
    assert code == 200, answer


async def test_who_may_see_and_hear_a_real_recording_and_every_attempt_is_audited(
        service: ServiceProcess, sqlite_url: str, records: Records, recordings_env, no_channels_left) -> None:
    tokens = {
        "boss": await add_user(service, "boss", "--role", "admin"),
        "sup.sales": await add_user(service, "sup.sales", "--role", "supervisor", "--team", "sales"),
        "sup.support": await add_user(service, "sup.support", "--role", "supervisor", "--team", "support"),
        "ada": await add_user(service, "ada", "--role", "agent", "--agent", "ada"),
        "bob": await add_user(service, "bob", "--role", "agent", "--agent", "bob"),
        "rita": await add_user(service, "rita", "--role", "reporting"),
    }
    async with aiohttp.ClientSession() as session:
        as_ = {name: Client(session, service, token) for name, token in tokens.items()}
        nobody = Client(session, service, None)
        assert (await as_["ada"].send("POST", "/api/agents/ada/login", {}))[0] == 200
        first = await _recorded_call(sqlite_url, records, "15550601", 0)  # agents_may_listen: false (default)
        audio = f"/api/recordings/{first.id}/audio"
        file_bytes = (recordings_env[0] / first.relative_path).read_bytes()
        assert first.size_bytes == len(file_bytes) > 44 and (first.duration_s or 0) > 2.0, first

        for path in ("/api/recordings", f"/api/recordings/{first.id}", audio):
            assert await nobody.status(path) == 401, path
        assert await as_["rita"].status("/api/recordings") == 403
        assert await as_["rita"].status(audio) == 403
        assert await as_["sup.support"].status(f"/api/recordings/{first.id}") == 404
        assert await as_["sup.support"].status(audio) == 404
        assert first.id not in await as_["sup.support"].listed()
        assert await as_["bob"].status(f"/api/recordings/{first.id}") == 404
        assert await as_["bob"].status(audio) == 404
        assert first.id not in await as_["bob"].listed()
        assert await as_["ada"].status(f"/api/recordings/{first.id}") == 200  # its own: seen ...
        assert first.id in await as_["ada"].listed()
        assert await as_["ada"].status(audio) == 404  # ... but not heard: the queue does not allow it

        code, body, headers = await as_["sup.sales"].get(audio)
        assert code == 200 and body == file_bytes and headers["Content-Type"] == "audio/wav", (code, headers)
        assert headers["Cache-Control"] == "no-store"
        code, body, headers = await as_["sup.sales"].get(audio, {"Range": "bytes=100-1099"})
        assert code == 206 and body == file_bytes[100:1100], (code, headers)
        assert headers["Content-Range"] == f"bytes 100-1099/{len(file_bytes)}" and headers["Content-Type"] == "audio/wav"
        code, body, headers = await as_["boss"].get(audio + "?download=1")
        assert code == 200 and body == file_bytes and "attachment" in headers["Content-Disposition"], headers
        assert first.id in await as_["sup.sales"].listed() and first.id in await as_["boss"].listed()
        for odd in (*ODD_IDS, first.id.upper()):
            assert await as_["sup.sales"].status(f"/api/recordings/{odd}/audio") == 404, odd
            assert await as_["sup.sales"].status(f"/api/recordings/{odd}") == 404, odd

        # the queue now lets its agents hear their own recordings: from the next call on (the row keeps its policy)
        await _set_agents_may_listen(as_["boss"], True)
        second = await _recorded_call(sqlite_url, records, "15550602", 1)
        assert second.agents_may_listen and not first.agents_may_listen
        code, body, _ = await as_["ada"].get(f"/api/recordings/{second.id}/audio")
        assert code == 200 and body == (recordings_env[0] / second.relative_path).read_bytes()
        assert await as_["ada"].status(audio) == 404
        assert await as_["bob"].status(f"/api/recordings/{second.id}/audio") == 404  # another agent: never

    await asyncio.sleep(0.5)  # the audit rows of the last answers are written
    entries = await audit_entries(sqlite_url)
    rows = {(e.actor, e.action, e.object_id, e.outcome) for e in entries}
    denied, allowed = Outcome.DENIED, Outcome.ALLOWED
    expected = {
        ("anonymous", "auth.unauthenticated", "/api/recordings", denied),
        ("anonymous", "auth.unauthenticated", first.id, denied),
        ("rita", "auth.forbidden", "/api/recordings", denied),
        ("rita", "auth.forbidden", first.id, denied),
        ("sup.support", "recording.show", first.id, denied),
        ("sup.support", "recording.listen", first.id, denied),
        ("bob", "recording.show", first.id, denied),
        ("bob", "recording.listen", first.id, denied),
        ("bob", "recording.listen", second.id, denied),
        ("ada", "recording.listen", first.id, denied),
        ("sup.sales", "recording.listen", first.id, allowed),
        ("boss", "recording.download", first.id, allowed),
        ("ada", "recording.listen", second.id, allowed),
    }
    assert expected <= rows, sorted(expected - rows)
    listens = [e for e in entries if e.actor == "sup.sales" and e.action == "recording.listen"
               and e.outcome is allowed]
    assert sorted(e.detail.get("range", "") for e in listens) == ["", "bytes=100-1099"], listens
    assert {e.detail.get("route") for e in entries if e.actor in ("anonymous", "rita")} == {
        "/api/recordings", "/api/recordings/{recording_id}", "/api/recordings/{recording_id}/audio"}
    odd_refusals = [e for e in entries if e.actor == "sup.sales" and e.object_id == "(invalid id)"]
    assert len(odd_refusals) == 2 * (len(ODD_IDS) + 1) and all(e.outcome is denied for e in odd_refusals)
    audited = [e for e in entries if e.action.startswith(("recording.", "auth."))]
    assert all(e.source == "127.0.0.1" for e in audited), [e for e in audited if e.source != "127.0.0.1"]
    assert all(e.role for e in audited if e.actor != "anonymous")
