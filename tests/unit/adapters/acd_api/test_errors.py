"""aiohttp's own refusals as the API's JSON error (callcontrol.adapters.http.errors), over the ACD app."""

from __future__ import annotations

from structlog.testing import capture_logs

from tests.support.http_api import AUTH


async def test_no_such_route_is_a_json_404(client):
    response = await client.get("/api/nope", headers=AUTH)
    assert response.status == 404 and response.content_type == "application/json"
    assert await response.json() == {"error": "not_found", "message": "GET /api/nope: not found"}
    assert (await client.get("/api/nope")).status == 404  # nothing to protect: no credentials needed to learn it


async def test_a_method_the_route_lacks_is_a_json_405_with_allow(client):
    response = await client.patch("/api/agents/a1", headers=AUTH)
    assert response.status == 405 and response.content_type == "application/json"
    assert response.headers["Allow"] == "GET,HEAD"
    body = await response.json()
    assert body["error"] == "method_not_allowed" and "allowed: GET,HEAD" in body["message"]


async def test_a_body_over_the_limit_is_a_json_413_and_changes_nothing(client, desk):
    """aiohttp's 1 MiB request limit, hit inside the handler (pause reads its body): JSON too, the agent unpaused."""
    response = await client.post("/api/agents/a1/pause", headers=AUTH, data=b"x" * (1024 * 1024 + 1))
    assert response.status == 413 and response.content_type == "application/json"
    assert (await response.json())["error"] == "too_large"
    assert desk.view.agent_status("a1").pause_reason is None


async def test_the_api_s_own_json_errors_pass_unchanged(client):
    response = await client.get("/api/agents/nobody", headers=AUTH)
    assert response.status == 404 and (await response.json())["error"] == "UnknownAgent"


async def test_a_handler_that_fails_is_a_json_500_and_logged_with_its_traceback(client, desk, monkeypatch):
    """An unexpected exception: 500 {"error": "internal"} (no detail to the client), http.failed in the log."""
    def broken(agent_id: str) -> None:
        raise RuntimeError("the desk broke")

    monkeypatch.setattr(desk, "login", broken)
    with capture_logs() as logs:
        response = await client.post("/api/agents/a1/login", headers=AUTH)
    assert response.status == 500 and response.content_type == "application/json"
    assert (await response.json())["error"] == "internal" and "desk broke" not in await response.text()
    failed = [entry for entry in logs if entry["event"] == "http.failed"]
    assert failed and failed[0]["path"] == "/api/agents/a1/login" and failed[0]["log_level"] == "error"
