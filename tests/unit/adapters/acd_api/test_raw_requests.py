"""Requests as raw bytes, as no well-behaved client sends them: each is a JSON 4xx, never a 500."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient

from tests.support.http_api import TOKEN


async def send(client: TestClient, method: str, path: str, headers: bytes = b"", body: bytes = b"") -> tuple[int, dict]:
    """One HTTP/1.1 request written byte for byte; (status, JSON body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n".encode() + headers
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert b"application/json" in head, head
    return int(head.split(b" ")[1]), json.loads(payload)


@pytest.mark.parametrize("credentials", [b"Bearer \xff\xfe", b"Bearer " + TOKEN.encode() + b"\xff", b"\xff\xfe"])
async def test_a_token_that_is_not_utf8_is_401_on_token_and_agent_routes(client, credentials):
    for method, path in (("GET", "/api/agents"), ("POST", "/api/agents/a1/login")):
        status, body = await send(client, method, path, b"Authorization: " + credentials + b"\r\n")
        assert status == 401 and body["error"] == "unauthorized", (method, path, body)


async def test_a_body_in_an_unknown_charset_is_400(client, desk):
    status, body = await send(client, "POST", "/api/agents/a1/pause",
                              f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json; charset=bogus\r\n"
                              .encode(), b'{"reason": "lunch"}')
    assert status == 400 and body["error"] == "bad_request"
    assert desk.view.agent_status("a1").pause_reason is None


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/agents/a1/pause"), ("PUT", "/api/config/agents/a3"),
                                              ("PUT", "/api/config/queues/q3")])
async def test_json_nested_deeper_than_the_parser_goes_is_400(client, store, method, path):
    status, body = await send(client, method, path, f"Authorization: Bearer {TOKEN}\r\n".encode(), b"[" * 100_000)
    assert status == 400, body
    assert (await store.load_config())[0][-1].id == "a2"  # nothing stored
