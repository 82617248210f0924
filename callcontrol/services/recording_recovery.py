"""Recordings a previous run left open (stopped, or killed, mid-call): finalized from their files, or followed.

After each AMI login the resync's channel snapshot says which channels exist. Every registered recording still
`recording`/`paused` that this run does not follow is then:
- finalized from its file when its caller's channel is gone (Asterisk closed the file as the channel went): size,
  duration and SHA-256 measured, `complete` / `empty` / `missing` as the file says, `recording.recovered` logged;
- adopted when the channel still exists (the conversation goes on in Asterisk): the caller's Hangup finalizes it
  the same way (`recording.adopted`, then `recording.finalized`).
The AMI dispatcher only queues the moments (it must not wait on files); `run` does the work, in their order.
"""

from __future__ import annotations

import asyncio

import structlog

from callcontrol.core.events import ChannelHungUp, ChannelsSnapshot
from callcontrol.services.recording_ports import RecordingRegistry
from callcontrol.services.recordings import CallRecorder

log = structlog.get_logger(__name__)


class OpenRecordingRecovery:
    """Takes over the recordings a previous run left live; `run` is an owned task (runtime.py)."""

    def __init__(self, recorder: CallRecorder, registry: RecordingRegistry) -> None:
        self._recorder = recorder
        self._registry = registry
        self._adopted: dict[str, str] = {}  # the caller's channel -> the call key of its adopted recording
        self._moments: asyncio.Queue[ChannelsSnapshot | ChannelHungUp] = asyncio.Queue()
        self._snapshots_pending = 0

    def channels_resynced(self, snapshot: ChannelsSnapshot) -> None:
        """AMI route: a resync's snapshot (queued; handled by run)."""
        self._snapshots_pending += 1
        self._moments.put_nowait(snapshot)

    def channel_hung_up(self, event: ChannelHungUp) -> None:
        """AMI route: a hangup (queued only when it may end an adopted recording)."""
        if event.channel in self._adopted or self._snapshots_pending:
            self._moments.put_nowait(event)

    async def run(self) -> None:
        """Handle the queued moments in order until cancelled; one failure never stops the rest."""
        while True:
            moment = await self._moments.get()
            try:
                if isinstance(moment, ChannelsSnapshot):
                    await self.recover(moment)
                else:
                    await self.hung_up(moment)
            except Exception:  # noqa: BLE001 - logged; the next moment is handled
                log.exception("recording.recovery_failed")
            finally:
                if isinstance(moment, ChannelsSnapshot):
                    self._snapshots_pending -= 1

    async def recover(self, snapshot: ChannelsSnapshot) -> None:
        """Every registered live recording this run does not follow: finalized (channel gone) or adopted."""
        for recording in await self._registry.live():
            adopted = self._adopted.get(recording.channel) == recording.call_id
            if self._recorder.owns(recording.id) and not adopted:
                continue  # started by this run: its own session ends it
            if recording.channel in snapshot.channels:
                if not adopted:
                    self._recorder.adopt(recording)
                    self._adopted[recording.channel] = recording.call_id
                    log.info("recording.adopted", recording=recording.id, call=recording.call_id,
                             channel=recording.channel)
                continue
            self._adopted.pop(recording.channel, None)
            self._recorder.adopt(recording)
            final = await self._recorder.finish(recording.call_id)
            log.info("recording.recovered", recording=final.id, call=final.call_id, state=final.state,
                     duration_s=final.duration_s, size=final.size_bytes, problem=final.problem)

    async def hung_up(self, event: ChannelHungUp) -> None:
        """The caller of an adopted recording hung up: Asterisk closes the file; measure and finalize it."""
        call_id = self._adopted.pop(event.channel, None)
        if call_id is not None and self._recorder.live_recording(call_id) is not None:
            await self._recorder.finish(call_id)
