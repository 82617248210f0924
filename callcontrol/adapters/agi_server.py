"""FastAGI: our own accept loop (header timeout, tracked sessions) and the header block each call starts with."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

from callcontrol.adapters.agi import AgiConnection, DigitLatency

log = structlog.get_logger(__name__)

MAX_HEADER_BYTES = 16 * 1024


class AgiProtocolError(Exception):
    """The peer does not speak AGI (junk, oversized or truncated headers)."""


@dataclass(frozen=True)
class AgiRequest:
    """The headers Asterisk sends when a call enters AGI()."""

    headers: Mapping[str, str]

    @property
    def script(self) -> str:
        return self.headers.get("agi_network_script", "")

    @property
    def uniqueid(self) -> str:
        return self.headers.get("agi_uniqueid", "")

    @property
    def channel(self) -> str:
        return self.headers.get("agi_channel", "")

    @property
    def caller_number(self) -> str:
        return self.headers.get("agi_callerid", "")

    @property
    def caller_name(self) -> str:
        return self.headers.get("agi_calleridname", "")

    @property
    def dialed_number(self) -> str:
        return self.headers.get("agi_extension", "")

    def arg(self, index: int) -> str:
        return self.headers.get(f"agi_arg_{index}", "")

    @property
    def position(self) -> str | None:
        """Where this session runs in the dialplan, context/extension/priority (None when a header is missing)."""
        parts = [self.headers.get(f"agi_{key}", "") for key in ("context", "extension", "priority")]
        return "/".join(parts) if all(parts) else None


MAX_HEADER_LINES = 64


def parse_header_line(raw: bytes) -> tuple[str, str] | None:
    """One header line as (key, value); None for the blank line that ends the block."""
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise AgiProtocolError("header line is not UTF-8") from exc
    if not line:
        return None
    key, sep, value = line.partition(": ")
    if not sep or not key.startswith("agi_") or not key.replace("_", "").isalnum():
        raise AgiProtocolError(f"malformed AGI header line {line[:60]!r}")
    return key, value


async def read_request(reader: asyncio.StreamReader) -> AgiRequest:
    """Read the header block line by line, rejecting the first line that is not an AGI header."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        parsed = parse_header_line(await reader.readuntil(b"\n"))
        if parsed is None:
            if "agi_network_script" not in headers:
                raise AgiProtocolError("no agi_network_script header")
            return AgiRequest(headers)
        headers[parsed[0]] = parsed[1]
    raise AgiProtocolError(f"more than {MAX_HEADER_LINES} header lines")


AgiHandler = Callable[[AgiRequest, AgiConnection], Awaitable[None]]


class FastAgiServer:
    """Accepts Asterisk's FastAGI connections; owns one task per session and cancels them on stop."""

    def __init__(self, host: str, port: int, handler: AgiHandler, header_timeout_s: float = 5.0) -> None:
        self.host = host
        self.port = port
        self._handler = handler
        self._header_timeout_s = header_timeout_s
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self.rejected = 0
        self.digit_latency = DigitLatency()

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, limit=MAX_HEADER_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("agi.listening", host=self.host, port=self.port)

    async def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def stop(self, grace_s: float) -> None:
        """Stop accepting, let calls in progress go on for grace_s, then cancel and await the rest."""
        await self.stop_accepting()
        if self._sessions:
            await asyncio.wait(set(self._sessions), timeout=grace_s)
        remaining = set(self._sessions)
        for task in remaining:
            task.cancel()
        if remaining:
            await asyncio.gather(*remaining, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._sessions.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            request = await asyncio.wait_for(read_request(reader), self._header_timeout_s)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.rejected += 1
            log.info("agi.rejected", peer=str(peer), reason="closed before the end of the headers")
            return
        except asyncio.LimitOverrunError:
            self.rejected += 1
            log.warning("agi.rejected", peer=str(peer), reason=f"header line longer than {MAX_HEADER_BYTES} bytes")
            return
        except TimeoutError:
            self.rejected += 1
            log.warning("agi.rejected", peer=str(peer), reason=f"no complete headers in {self._header_timeout_s}s")
            return
        except AgiProtocolError as exc:
            self.rejected += 1
            log.warning("agi.rejected", peer=str(peer), reason=str(exc))
            return
        try:
            await self._handler(request, AgiConnection(reader, writer, self.digit_latency, request.position))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("agi.handler_failed", script=request.script)
