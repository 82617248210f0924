"""Fakes for the recorder's ports: an in-memory registry, AMI controls that log what they were asked, a channel
that "records" like MixMonitor (a real WAV file in the test's directory), an in-memory audit trail, and the
recordings routes' parts built from them (memory_recordings_api)."""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from callcontrol.adapters.http.recordings import RecordingsApi
from callcontrol.adapters.recording_files import RecordingDirectory
from callcontrol.core.audit import AuditEntry
from callcontrol.core.recordings import LIVE, Recording
from callcontrol.services.ports import Clock
from callcontrol.services.recordings import CallRecorder


class MemoryRecordingRegistry:
    def __init__(self) -> None:
        self.rows: dict[str, Recording] = {}

    async def save(self, recording: Recording) -> None:
        self.rows[recording.id] = recording

    async def get(self, recording_id: str) -> Recording | None:
        return self.rows.get(recording_id)

    async def live(self) -> list[Recording]:
        return [r for r in self.rows.values() if r.state in LIVE]

    async def purge_candidates(self, now: datetime, limit: int = 500) -> list[Recording]:
        return sorted((r for r in self.rows.values() if r.purgeable(now)), key=lambda r: r.started_at)[:limit]

    async def mark_purged(self, recording_ids: list[str], at: datetime) -> None:
        for recording_id in recording_ids:
            self.rows[recording_id] = replace(self.rows[recording_id], purged_at=at)

    async def find(self, wanted) -> list[Recording]:  # type: ignore[no-untyped-def]
        found = [r for r in self.rows.values()
                 if (wanted.call_id is None or r.call_id == wanted.call_id)
                 and (wanted.agent is None or r.agent == wanted.agent)
                 and (wanted.queue is None or r.queue == wanted.queue)
                 and (wanted.since is None or r.started_at >= wanted.since)
                 and (wanted.until is None or r.started_at < wanted.until)]
        return sorted(found, key=lambda r: r.started_at, reverse=True)[:wanted.limit]

    async def of_calls(self, call_ids) -> dict[str, list[Recording]]:  # type: ignore[no-untyped-def]
        linked: dict[str, list[Recording]] = {}
        for r in sorted(self.rows.values(), key=lambda r: r.started_at):
            if r.call_id in call_ids:
                linked.setdefault(r.call_id, []).append(r)
        return linked


@dataclass
class LoggedControls:
    """The RecordingControls port: logs (action, channel, mixmonitor id, muted); `gone` channels are hung up."""

    asked: list[tuple[str, str, str | None, bool | None]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    async def mute(self, channel: str, mixmonitor_id: str | None, muted: bool) -> None:
        self.asked.append(("mute", channel, mixmonitor_id, muted))

    async def stop(self, channel: str, mixmonitor_id: str | None) -> bool:
        self.asked.append(("stop", channel, mixmonitor_id, None))
        return channel not in self.gone


def write_wav(path: Path, seconds: float, hz: int = 440, amplitude: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"".join(struct.pack("<h", int(amplitude * math.sin(2 * math.pi * hz * n / 8000)))
                                   for n in range(int(8000 * seconds))))


class MixMonitorChannel:
    """An AGI channel whose start_mixmonitor writes `seconds` of tone where MixMonitor would (0: header only;
    None: no file at all); `refuse`: Asterisk refuses the command."""

    def __init__(self, seconds: float | None = 2.0, refuse: bool = False) -> None:
        self.seconds = seconds
        self.refuse = refuse
        self.started: list[tuple[str, str]] = []

    async def start_mixmonitor(self, file: str, options: str) -> str | None:
        from callcontrol.services.ports import ChannelCommandFailed
        if self.refuse:
            raise ChannelCommandFailed("EXEC MixMonitor: 510")
        self.started.append((file, options))
        if self.seconds is not None:
            write_wav(Path(file), self.seconds)
        return "0x55d0c4a1b2c0"


class MemoryAuditTrail:
    """The AuditTrail port in memory."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


def memory_recordings_api(root: Path, clock: Clock, audit: MemoryAuditTrail | None = None) -> RecordingsApi:
    """What the recordings routes work with: an in-memory registry and audit trail, files under `root` (as the
    service and Asterisk both see them), AMI controls that only log. make_app gives it the ACD's teams."""
    registry, files = MemoryRecordingRegistry(), RecordingDirectory(root, str(root))
    return RecordingsApi(registry, CallRecorder(registry, files, LoggedControls(), clock, lambda queue_id: None),
                         files, audit if audit is not None else MemoryAuditTrail(), clock)


def rms(path: Path, start_s: float = 0.0, end_s: float | None = None) -> float:
    """Root mean square of 16-bit mono WAV samples from start_s to end_s (0 for no samples): plain Python."""
    import array
    with wave.open(str(path), "rb") as audio:
        rate = audio.getframerate()
        assert audio.getsampwidth() == 2 and audio.getnchannels() == 1, "MixMonitor writes 16-bit mono"
        first = max(0, int(start_s * rate))
        last = audio.getnframes() if end_s is None else min(audio.getnframes(), int(end_s * rate))
        if last <= first:
            return 0.0
        audio.setpos(first)
        samples = array.array("h", audio.readframes(last - first))
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
