"""The http node: validation against the allow list, the engine's mapping, and the aiohttp client on real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

import callcontrol.core.ivr as ivr
from callcontrol.adapters.flow_files import load_flow_text
from callcontrol.adapters.http_client import MAX_ANSWER_BYTES, AiohttpClient
from callcontrol.core.flow_tests import FlowTestCase, run_case
from callcontrol.services.ports import HttpLookupFailed

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FACTS = {"caller.number": "+1 555&x=1", "caller.name": "", "call.dialed": "7000"}
FLOW = '''
id: t
numbers: ["7000"]
start: lookup
allow: {http: ["http://127.0.0.1:8081/api/"]}
nodes:
  lookup:
    type: http
    method: POST
    url: "http://127.0.0.1:8081/api/accounts/find"
    query: {caller: caller.number}
    body: {account: '"1234"'}
    timeout_s: 1
    result: {name: customer.name, tier: customer.tier}
    ok: known
    error: unknown
    timeout: unknown
  known: {type: hangup, prompts: [hello]}
  unknown: {type: hangup, prompts: [vm-sorry]}
'''


def build(text: str) -> tuple[ivr.Flow | None, list[str]]:
    flow, problems = load_flow_text(text.encode(), "t.yaml")
    return flow, [str(p) for p in problems]


@pytest.fixture
def flow() -> ivr.Flow:
    built, problems = build(FLOW)
    assert built is not None, problems
    return built


def test_request_carries_evaluated_query_and_body(flow):
    """Entering the node asks for one request with the caller number as a query value (encoded later)."""
    step = ivr.start(flow, NOW, FACTS)
    assert step.effect == ivr.HttpRequest("POST", "http://127.0.0.1:8081/api/accounts/find",
                                          (("caller", "+1 555&x=1"),), step.effect.body, 1)
    assert dict(step.effect.body) == {"account": "1234"}


def test_answer_fields_become_variables_and_take_the_ok_exit(flow):
    """A 200 JSON answer fills the mapped variables and goes to ok."""
    step = ivr.start(flow, NOW, FACTS)
    step = ivr.advance(flow, step.state, ivr.HttpAnswered(200, {"customer": {"name": "Ada", "tier": "gold"}}), NOW)
    assert step.state.node_id == "known"
    assert dict(step.state.variables) == {"name": "Ada", "tier": "gold"}


@pytest.mark.parametrize("outcome, target, result", [
    (ivr.HttpAnswered(500, {"error": "boom"}), "unknown", "error"),
    (ivr.HttpAnswered(200, {"customer": {"name": "Ada"}}), "unknown", "error"),  # tier missing
    (ivr.HttpAnswered(200, None), "unknown", "error"),  # not JSON
    (ivr.HttpFailed("timeout"), "unknown", "timeout"),
    (ivr.HttpFailed("error"), "unknown", "error"),
])
def test_failures_take_error_or_timeout(flow, outcome, target, result):
    """Non-2xx, missing fields, non-JSON, timeouts and transport errors each take their exit."""
    step = ivr.advance(flow, ivr.start(flow, NOW, FACTS).state, outcome, NOW)
    assert step.state.node_id == target and step.state.path[-1].result == result


def test_urls_outside_the_allow_list_or_with_odd_paths_are_rejected():
    """A url not under allow.http, a path carrying template characters, and a GET body are errors."""
    _, problems = build(FLOW.replace('"http://127.0.0.1:8081/api/accounts/find"', '"http://evil.example/x"'))
    assert any("is not under an allow-listed base URL" in p for p in problems)
    _, problems = build(FLOW.replace("accounts/find", "accounts/{caller}"))
    assert any("may only hold letters" in p for p in problems)
    _, problems = build(FLOW.replace("method: POST", "method: GET"))
    assert any("a body needs method: POST" in p for p in problems)


def test_flow_tests_stub_the_service(flow):
    """A flow test answers the http node from its stub, and an unstubbed node fails with how to stub it."""
    case = FlowTestCase(name="x", expected_path=("lookup:ok", "known"), expected_end="hangup",
                        http={"lookup": {"status": 200, "json": {"customer": {"name": "A", "tier": "b"}}}})
    result = run_case(flow, case)
    assert result.actual_path == ("lookup[ok]", "known")
    missing = run_case(flow, FlowTestCase(name="y", expected_path=(), expected_end="hangup"))
    assert not missing.passed and "stub it in the case" in missing.message


@pytest.fixture
async def service() -> AsyncIterator[tuple[str, list[web.Request]]]:
    seen: list[web.Request] = []

    async def find(request: web.Request) -> web.Response:
        seen.append(request)
        body = await request.json() if request.can_read_body else None
        return web.json_response({"query": dict(request.query), "body": body})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.1:1/elsewhere")

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="not json")

    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"[" + b"1," * MAX_ANSWER_BYTES + b"1]", content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/api/find", find)
    for path, handler in (("/api/slow", slow), ("/api/moved", moved), ("/api/text", text), ("/api/huge", huge)):
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/api", seen
    await runner.cleanup()


async def test_client_encodes_caller_data_and_sends_json(service):
    """Caller data with spaces, & and = arrives as one query value; the body arrives as JSON."""
    base, seen = service
    client = AiohttpClient()
    try:
        status, answer = await client.request("POST", f"{base}/find", [("caller", "+1 555&x=1")], {"a": 1}, 2)
    finally:
        await client.close()
    assert status == 200
    assert answer == {"query": {"caller": "+1 555&x=1"}, "body": {"a": 1}}
    assert len(seen) == 1


async def test_client_timeout_redirect_text_and_size(service):
    """A slow answer times out; a redirect is not followed; text is None; an oversized answer is an error."""
    base, _ = service
    client = AiohttpClient()
    try:
        with pytest.raises(HttpLookupFailed) as slow:
            await client.request("GET", f"{base}/slow", [], None, 0.3)
        assert slow.value.reason == "timeout"
        assert (await client.request("GET", f"{base}/moved", [], None, 2))[0] == 302
        assert await client.request("GET", f"{base}/text", [], None, 2) == (200, None)
        with pytest.raises(HttpLookupFailed) as huge:
            await client.request("GET", f"{base}/huge", [], None, 2)
        assert huge.value.reason == "error"
        with pytest.raises(HttpLookupFailed):
            await client.request("GET", "http://127.0.0.1:1/api/x", [], None, 1)
    finally:
        await client.close()
