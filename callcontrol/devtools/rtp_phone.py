"""A phone's media end for audio tests and benchmarks: SIPp does the SIP; this socket sends a tone, keeps what it hears.

The SIPp scenario's SDP names this socket's port instead of SIPp's media port, so Asterisk's RTP for that phone
comes here. Asterisk's own RTP address is read from the SDP it sent (SIPp's message log). What was heard is
judged per frequency with a Goertzel filter: the amplitude of one tone in the decoded G.711 mu-law audio.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import re
import socket
import struct
import time
from pathlib import Path

from callcontrol.devtools.sipp import _ulaw

SAMPLE_RATE = 8000
FRAME = 160  # 20 ms of PCMU
_M_AUDIO = re.compile(r"^m=audio ([0-9]+) ", re.MULTILINE)
_C_IN = re.compile(r"^c=IN IP4 ([0-9.]+)", re.MULTILINE)


def _ulaw_to_linear(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    magnitude = ((mantissa << 3) + 0x84) << exponent
    return -(magnitude - 0x84) if sign else magnitude - 0x84


ULAW_TO_LINEAR = [_ulaw_to_linear(value) for value in range(256)]


def tone_amplitude(samples: list[int], hz: float) -> float:
    """The amplitude (in linear 16-bit units) of the `hz` tone in these samples (Goertzel)."""
    if not samples:
        return 0.0
    coefficient = 2 * math.cos(2 * math.pi * hz / SAMPLE_RATE)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    power = previous * previous + before * before - coefficient * previous * before
    return 2 * math.sqrt(max(power, 0.0)) / len(samples)


def with_media_port(xml: str, port: int) -> str:
    """A SIPp scenario whose SDP offers (or answers) this port for audio instead of SIPp's own."""
    return xml.replace("m=audio [media_port] RTP/AVP", f"m=audio {int(port)} RTP/AVP")


class RtpPhone(asyncio.DatagramProtocol):
    """Sends a `hz` tone (None: silence) to Asterisk every 20 ms once it knows where, and keeps every frame it
    receives with the time it came."""

    def __init__(self, hz: float | None, message_log: Path, amplitude: int = 8000) -> None:
        self.hz, self.message_log, self.amplitude = hz, message_log, amplitude
        self.heard: list[tuple[float, bytes]] = []
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > 12 and data[1] & 0x7F == 0:  # PCMU only (not telephone-event)
            self.heard.append((time.monotonic(), data[12:]))

    async def open(self) -> RtpPhone:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)
        self._transport = transport
        return self

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _asterisk_address(self) -> tuple[str, int] | None:
        try:
            text = self.message_log.read_text(errors="replace")
        except OSError:
            return None
        ports = [int(port) for port in _M_AUDIO.findall(text) if int(port) != self.port]
        hosts = _C_IN.findall(text)
        return (hosts[0] if hosts else "127.0.0.1", ports[0]) if ports else None

    async def talk(self, seconds: float) -> None:
        """Wait for Asterisk's SDP, then send the tone for `seconds` (paced by the clock, 20 ms a frame)."""
        deadline = time.monotonic() + 15
        address = None
        while address is None:
            address = self._asterisk_address()
            if time.monotonic() > deadline:
                raise RuntimeError(f"no SDP from Asterisk in {self.message_log}")
            await asyncio.sleep(0.05)
        start, sequence = time.monotonic(), 0
        while time.monotonic() - start < seconds:
            payload = self._tone(sequence) if self.hz else b"\xff" * FRAME  # 0xff: mu-law silence
            header = struct.pack("!BBHII", 0x80, 0, sequence & 0xFFFF, (FRAME * sequence) & 0xFFFFFFFF, 0x5EED0001)
            assert self._transport is not None
            self._transport.sendto(header + payload, address)
            sequence += 1
            await asyncio.sleep(max(0.0, start + sequence * 0.02 - time.monotonic()))

    def _tone(self, sequence: int) -> bytes:
        assert self.hz is not None
        step = 2 * math.pi * self.hz / SAMPLE_RATE
        return bytes(_ulaw(int(self.amplitude * math.sin(step * (FRAME * sequence + n)))) for n in range(FRAME))

    def samples(self, since: float, until: float) -> list[int]:
        """What it heard between two monotonic times, as linear samples."""
        return [ULAW_TO_LINEAR[byte] for at, payload in self.heard if since <= at < until for byte in payload]

    def amplitude_of(self, hz: float, since: float, until: float) -> float:
        return tone_amplitude(self.samples(since, until), hz)

    def first_heard(self, hz: float, since: float, threshold: float) -> float | None:
        """When the first 20 ms frame received at or after `since` carried the `hz` tone above `threshold` (None:
        none yet): the moment a voice starts being heard, for latency figures."""
        for at, payload in self.heard[bisect.bisect_left(self.heard, since, key=lambda frame: frame[0]):]:
            if tone_amplitude([ULAW_TO_LINEAR[byte] for byte in payload], hz) > threshold:
                return at
        return None

    def frame_amplitudes(self, hz: float, since: float, until: float) -> list[float]:
        """The `hz` tone's amplitude in each frame received between two monotonic times."""
        return [tone_amplitude([ULAW_TO_LINEAR[byte] for byte in payload], hz)
                for at, payload in self.heard if since <= at < until]
