"""HTTP client for flows' data dips (aiohttp): bounded time and size, no redirects, JSON answers only."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import aiohttp

from callcontrol.services.ports import HttpLookupFailed

MAX_ANSWER_BYTES = 64 * 1024


class AiohttpClient:
    """Implements the HttpClient port. One session for the service's life; close() on shutdown."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, url: str, query: Sequence[tuple[str, str]],
                      body: Mapping[str, object] | None, timeout_s: float) -> tuple[int, object]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            # Caller data travels as encoded query parameters or a JSON body; no redirect may lead the
            # request away from the allow-listed URL the flow was validated against.
            async with self._session.request(
                method, url, params=list(query), json=dict(body) if body is not None else None,
                allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                raw = b""
                while len(raw) <= MAX_ANSWER_BYTES:  # read() returns what has arrived: loop up to the cap
                    chunk = await response.content.read(MAX_ANSWER_BYTES + 1 - len(raw))
                    if not chunk:
                        break
                    raw += chunk
                if len(raw) > MAX_ANSWER_BYTES:
                    raise HttpLookupFailed("error", f"answer larger than {MAX_ANSWER_BYTES} bytes")
                try:
                    decoded: object = json.loads(raw) if raw else None
                except ValueError:
                    decoded = None
                return response.status, decoded
        except TimeoutError as exc:
            raise HttpLookupFailed("timeout", f"no answer in {timeout_s:g}s") from exc
        except aiohttp.ClientError as exc:
            raise HttpLookupFailed("error", type(exc).__name__) from exc
