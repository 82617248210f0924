"""A call recording as the registry keeps it: states, paused spans, where its file sits, how it is finalized.

Pure: times are arguments, nothing here reads a file. The service measures the file and hands the facts to
`finalized`, which decides the final state.

States: recording -> paused <-> recording -> complete | missing | empty | failed; `purged` is a separate mark
(the file is deleted, the row stays as the trace of the deletion).
- complete: the file is there and holds audio;
- missing: the call reached an agent (a conversation should be in the file) but there is no file;
- empty: the file is there but holds no audio (a header only) although a conversation took place;
- failed: the recording could not be started or written (directory full or not writable, Asterisk refused);
- a recording whose call never reached an agent is not kept: with `b` MixMonitor still creates the file at
  start, so the service deletes it and the row ends as `discarded` with the reason logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

RECORDING, PAUSED, COMPLETE, MISSING, EMPTY, FAILED, DISCARDED = (
    "recording", "paused", "complete", "missing", "empty", "failed", "discarded")
STATES = (RECORDING, PAUSED, COMPLETE, MISSING, EMPTY, FAILED, DISCARDED)
LIVE = frozenset({RECORDING, PAUSED})
FORMAT = "wav"  # 8 kHz 16-bit mono PCM: what MixMonitor writes for a .wav name
CONTENT_TYPES = {"wav": "audio/wav"}
WAV_HEADER_BYTES = 44


@dataclass(frozen=True)
class PausedSpan:
    """A stretch of the recording that holds silence (MixMonitorMute both directions), and why."""

    started_at: datetime
    reason: str
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Recording:
    """One recording: one segment of one call (the caller's channel), with its policy facts copied in."""

    id: str
    call_id: str
    channel: str  # the caller's channel the MixMonitor runs on
    queue: str | None
    agent: str | None
    started_at: datetime
    retention_days: int
    agents_may_listen: bool = False
    state: str = RECORDING
    mixmonitor_id: str | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    format: str = FORMAT
    spans: tuple[PausedSpan, ...] = field(default_factory=tuple)
    legal_hold: bool = False
    purged_at: datetime | None = None
    problem: str | None = None  # why it is failed, missing, empty or discarded

    @property
    def relative_path(self) -> str:
        """Where the file sits under the recordings directory: YYYY/MM/DD/<id>.wav (UTC start day)."""
        return f"{self.started_at:%Y/%m/%d}/{self.id}.{self.format}"

    @property
    def live(self) -> bool:
        return self.state in LIVE

    def expires_at(self) -> datetime:
        return self.started_at + timedelta(days=self.retention_days)

    def purgeable(self, now: datetime) -> bool:
        """Past its retention, not on legal hold, not live and not already purged."""
        return not self.legal_hold and not self.live and self.purged_at is None and now >= self.expires_at()


def paused(recording: Recording, reason: str, now: datetime) -> Recording:
    """A span opens (no-op when one is already open: the first reason stands)."""
    if recording.state != RECORDING:
        return recording
    return replace(recording, state=PAUSED, spans=(*recording.spans, PausedSpan(now, reason)))


def resumed(recording: Recording, now: datetime) -> Recording:
    if recording.state != PAUSED:
        return recording
    *before, last = recording.spans
    return replace(recording, state=RECORDING, spans=(*before, replace(last, ended_at=now)))


def failed(recording: Recording, problem: str, now: datetime) -> Recording:
    return replace(_spans_closed(recording, now), state=FAILED, ended_at=recording.ended_at or now, problem=problem)


def finalized(recording: Recording, now: datetime, *, conversation: bool, size_bytes: int | None,
              duration_s: float | None, sha256: str | None) -> Recording:
    """The final state from what the file showed. `size_bytes` None: no file. `conversation`: an agent answered
    during this recording, so the file should hold it."""
    if not recording.live:
        return recording
    done = replace(_spans_closed(recording, now), ended_at=now, size_bytes=size_bytes, duration_s=duration_s,
                   sha256=sha256)
    if not conversation:
        return replace(done, state=DISCARDED, problem="the call never reached an agent: no bridged audio")
    if size_bytes is None:
        return replace(done, state=MISSING, problem="no file where Asterisk should have written it")
    if size_bytes <= WAV_HEADER_BYTES or not duration_s:
        return replace(done, state=EMPTY, problem="the file holds no audio")
    if all(span.reason == "on_demand" for span in done.spans) and done.spans and _never_resumed(done):
        return replace(done, state=DISCARDED, problem="on demand: never started")
    return replace(done, state=COMPLETE)


def _never_resumed(recording: Recording) -> bool:
    return len(recording.spans) == 1 and recording.spans[0].ended_at == recording.ended_at


def _spans_closed(recording: Recording, now: datetime) -> Recording:
    spans = tuple(span if span.ended_at is not None else replace(span, ended_at=now) for span in recording.spans)
    return replace(recording, spans=spans)


def silent_seconds(recording: Recording) -> float:
    """How long the file holds deliberate silence (the closed paused spans)."""
    return sum((span.ended_at - span.started_at).total_seconds() for span in recording.spans
               if span.ended_at is not None)


@dataclass(frozen=True)
class FileFacts:
    """What a recording's file holds, as measured when it is finalized or verified."""

    size_bytes: int
    duration_s: float
    sha256: str
