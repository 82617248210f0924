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
