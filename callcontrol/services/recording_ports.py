"""The ports the recorder talks through: the registry, the recordings directory, the AMI controls of a recording."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from callcontrol.core.recording_policy import RecordingOverride

from callcontrol.core.recordings import FileFacts, Recording
from callcontrol.services.ports import AgiChannel, CallerRef


class RecordingRegistry(Protocol):
    """Where recordings are registered (adapters/db/recording_store.py)."""

    async def save(self, recording: Recording) -> None: ...

    async def get(self, recording_id: str) -> Recording | None: ...

    async def live(self) -> list[Recording]: ...

    async def purge_candidates(self, now: datetime, limit: int = 500) -> list[Recording]: ...

    async def mark_purged(self, recording_ids: list[str], at: datetime) -> None: ...


class RecordingFiles(Protocol):
    """The recordings directory as the service sees it (adapters/recording_files.py)."""

    def problem(self) -> str | None:
        """None when a recording can be written there; else why not (missing, not writable, full)."""

    def asterisk_path(self, relative_path: str) -> str:
        """The file as Asterisk sees it (its chroot, a shared volume), for MixMonitor."""

    def measure(self, relative_path: str) -> FileFacts | None:
        """Size, audio duration and SHA-256 of the file; None when there is no file."""

    def size_of(self, relative_path: str) -> int | None:
        """The file's size now; None when there is no file (cheap: polled while Asterisk closes it)."""

    def delete(self, relative_path: str) -> bool:
        """Delete the file; True when one was deleted."""


class RecordingControls(Protocol):
    """A live recording's controls over AMI, with the `call` class only (adapters/ami_recording.py)."""

    async def mute(self, channel: str, mixmonitor_id: str | None, muted: bool) -> None:
        """MixMonitorMute both directions: the file holds silence while muted."""

    async def stop(self, channel: str, mixmonitor_id: str | None) -> bool:
        """StopMixMonitor (the file is closed when it returns); False when the channel is gone already."""


class QueueRecorder(Protocol):
    """What a caller's queue wait asks of the recorder (services/recordings.py), from the caller's session."""

    async def before_dial(self, channel: AgiChannel, caller: CallerRef, queue_id: str,
                          override: RecordingOverride | None, agent_id: str) -> None: ...

    def caller_transferred(self, call_id: str) -> None:
        """The caller was blind-transferred on from its agent: its recording goes on into the transfer leg
        (the session that ends now does not finish it)."""
        ...


class FlowRecorder(Protocol):
    """What a flow's walk asks of the recorder: the IVR part recorded, a secure input muted, the end."""

    async def start_ivr(self, channel: AgiChannel, caller: CallerRef) -> None: ...

    def secure_span(self, call_id: str, reason: str = "secure_input") -> AbstractAsyncContextManager[None]: ...

    async def flow_ended(self, call_id: str) -> None: ...


class RecordingRefused(Exception):
    """A control asked of a recording that cannot take it (not live, unknown)."""


class RecordingControlFailed(Exception):
    """Asterisk did not carry a mute or a stop out (AMI down, an error reply)."""
