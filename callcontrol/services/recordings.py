"""The call recorder: starts a call's recording in its own FastAGI session, mutes, stops and finalizes it.

- A queue call is recorded (policy.decide) from the caller's session just before the agent's Dial():
  AGI EXEC MixMonitor on the caller's channel (the channel that persists across re-offers and transfers), with
  `b` (only bridged audio: the conversation, not the hold music), `i()` (its MixMonitorID) and `B(n)` (the beep).
  One recording per call: a ring-no-answer re-offer keeps the one already running.
- A flow with `record_ivr: true` starts the recording when the flow starts (no `b`: the IVR has no bridge).
- Pause/resume is AMI MixMonitorMute, both directions: the file holds silence (docs/recording.md). A flow's
  secure input mutes the recording of its channel while the digits are entered (`secure_span`).
- The end: the queue stint's end (QueueStintEnded: Dial() returned, or the caller hung up) or the flow's end.
  StopMixMonitor closes the file (when the caller hung up there is nothing to stop, and no MixMonitorStop
  event: Asterisk closes the file as the channel goes), then the file is measured and the state decided.
- The recordings directory full or not writable: the call goes on unrecorded, the recording is registered
  `failed`, an error is logged, and `problem` (readiness) says so until a recording starts again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import structlog

from callcontrol.core.domain_events import ConversationStarted, QueueStintEnded
from callcontrol.core.identifiers import RECORDING_ID_VARIABLE, SPAN_REASON
from callcontrol.core.interactions import STINT_TRANSFERRED
from callcontrol.core.recording_policy import RecordingOverride, RecordingPolicy, decide, mixmonitor_options
from callcontrol.core.recordings import (
    DISCARDED,
    FileFacts,
    PAUSED,
    Recording,
    failed,
    finalized,
    paused,
    resumed,
)
from callcontrol.services.ports import AgiChannel, CallerRef, ChannelCommandFailed, Clock
from callcontrol.services.recording_ports import (
    RecordingControlFailed,
    RecordingControls,
    RecordingFiles,
    RecordingRefused,
    RecordingRegistry,
)

log = structlog.get_logger(__name__)

FILE_SETTLE_S = 0.2  # the file is final when its size holds this long after the stop (the recorder thread)
FILE_SETTLE_MAX_S = 3.0
DEFAULT_RETENTION_DAYS = 90  # a flow's IVR recording outside any queue


def new_recording_id() -> str:
    return f"rec_{uuid.uuid4().hex}"


@dataclass
class _Live:
    recording: Recording
    for_queue: bool  # started for a queue conversation (ends with the stint) or for the flow (ends with it)
    conversation: bool = False  # an agent answered while it ran: the file must hold something
    lock: asyncio.Lock = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.lock = asyncio.Lock()


class CallRecorder:
    """Every live recording by call key, and the moments that start, mute and finish them."""

    def __init__(self, registry: RecordingRegistry, files: RecordingFiles, controls: RecordingControls,
                 clock: Clock, policy_of: Callable[[str], RecordingPolicy | None],
                 new_id: Callable[[], str] = new_recording_id) -> None:
        self._registry = registry
        self._files = files
        self._controls = controls
        self._clock = clock
        self._policy_of = policy_of
        self._new_id = new_id
        self._live: dict[str, _Live] = {}  # by call key
        self._transferring: set[str] = set()  # calls whose session ended in a blind transfer: kept for the next
        self.problem: str | None = None  # the last failure to start, for readiness; None once one starts again

    def live_recording(self, call_id: str) -> Recording | None:
        live = self._live.get(call_id)
        return live.recording if live is not None else None

    def owns(self, recording_id: str) -> bool:
        """True when this run follows the recording (it started it, or adopted it after a restart)."""
        return any(live.recording.id == recording_id for live in self._live.values())

    def adopt(self, recording: Recording) -> None:
        """A recording a previous run left live: followed from now on, so `finish` measures and finalizes it. What
        its file holds decides its state (complete, empty, missing): nobody here saw whether an agent answered."""
        self._live.setdefault(recording.call_id, _Live(recording, for_queue=recording.queue is not None,
                                                       conversation=True))

    # ------------------------------------------------------------------ starting

    async def before_dial(self, channel: AgiChannel, caller: CallerRef, queue_id: str,
                          override: RecordingOverride | None, agent_id: str) -> None:
        """Just before an agent is rung from the caller's session: start the call's recording when the policy
        says so (once per call; a re-offer keeps it and names the new agent)."""
        policy = self._policy_of(queue_id)
        if override is not None:
            policy = override.applied_to(policy or RecordingPolicy())
        live = self._live.get(caller.call_id)
        if live is not None:
            if live.recording.queue is None and policy is not None:  # the IVR's recording reaches a queue: its
                live.recording = replace(live.recording, queue=queue_id,  # retention and listening rules apply
                                         retention_days=policy.retention_days,
                                         agents_may_listen=policy.agents_may_listen)
            live.recording = replace(live.recording, agent=agent_id, queue=live.recording.queue or queue_id)
            return
        if policy is None or not decide(policy, caller.call_id):
            return
        await self._start(channel, caller, queue_id, agent_id, policy, for_queue=True)

    async def start_ivr(self, channel: AgiChannel, caller: CallerRef) -> None:
        """A flow asks for its IVR part to be recorded (record_ivr): from the flow's start, no `b`."""
        if caller.call_id not in self._live:
            await self._start(channel, caller, None, None, None, for_queue=False)

    async def _start(self, channel: AgiChannel, caller: CallerRef, queue_id: str | None, agent_id: str | None,
                     policy: RecordingPolicy | None, for_queue: bool) -> None:
        now = self._clock.now()
        recording = Recording(self._new_id(), caller.call_id, caller.channel, queue_id, agent_id, now,
                              policy.retention_days if policy else DEFAULT_RETENTION_DAYS,
                              policy.agents_may_listen if policy else False)
        problem = self._files.problem()
        if problem is not None:
            await self._failed(recording, problem)
            return
        options = mixmonitor_options(policy, RECORDING_ID_VARIABLE, bridged_only=for_queue)
        try:
            mixmonitor_id = await channel.start_mixmonitor(self._files.asterisk_path(recording.relative_path),
                                                           options)
        except ChannelCommandFailed as exc:
            await self._failed(recording, f"MixMonitor refused: {exc}")
            return
        # CallerHungUp goes up: the caller's session ends; nothing was started
        self.problem = None
        recording = replace(recording, mixmonitor_id=mixmonitor_id)
        live = _Live(recording, for_queue)
        self._live[caller.call_id] = live
        if policy is not None and policy.mode == "on_demand":
            await self._pause(live, "on_demand")
        await self._registry.save(live.recording)
        log.info("recording.started", recording=recording.id, call=caller.call_id, queue=queue_id,
                 agent=agent_id, mixmonitor_id=mixmonitor_id, on_demand=bool(policy and policy.mode == "on_demand"))

    async def _failed(self, recording: Recording, problem: str) -> None:
        self.problem = problem
        recording = failed(recording, problem, self._clock.now())
        log.error("recording.failed", recording=recording.id, call=recording.call_id, problem=problem)
        await self._registry.save(recording)

    # ------------------------------------------------------------------ the bus: conversation, the stint's end

    def conversation_started(self, event: ConversationStarted) -> None:
        """Inline subscriber: an agent answered; a live recording of this call must now hold something."""
        live = self._live.get(event.call_id)
        if live is not None:
            live.conversation = True
            live.recording = replace(live.recording, agent=event.agent_id)

    async def stint_ended(self, event: QueueStintEnded) -> None:
        """The caller's wait in a queue is over (the conversation too): finish the queue's recording, unless the
        caller was transferred on (the recording follows it: one file for the whole call)."""
        live = self._live.get(event.call_id)
        transferred = event.stint is not None and event.stint.outcome == STINT_TRANSFERRED
        if live is not None and live.for_queue and not transferred:
            await self.finish(event.call_id)

    def caller_transferred(self, call_id: str) -> None:
        """The caller's session ends with a blind transfer: the next session (the transfer leg) owns the
        recording from here, and finishes it (flow_ended) when it ends."""
        if call_id in self._live:
            self._transferring.add(call_id)

    async def flow_ended(self, call_id: str) -> None:
        """The caller's FastAGI session is over: nothing recorded for this call may stay live (but a transferred
        caller's, which its transfer leg takes on)."""
        if call_id in self._transferring:
            self._transferring.discard(call_id)
            return
        if call_id in self._live:
            await self.finish(call_id)

    # ------------------------------------------------------------------ controls (API, secure input)

    async def pause(self, recording_id: str, reason: str) -> Recording:
        if not SPAN_REASON.match(reason):
            raise ValueError("a pause reason is a lowercase identifier of at most 32 characters")
        live = self._live_by_id(recording_id)
        async with live.lock:
            await self._pause(live, reason)
            await self._registry.save(live.recording)
        return live.recording

    async def resume(self, recording_id: str) -> Recording:
        live = self._live_by_id(recording_id)
        async with live.lock:
            await self._resume(live)
            await self._registry.save(live.recording)
        return live.recording

    async def stop(self, recording_id: str) -> Recording:
        live = self._live_by_id(recording_id)
        return await self.finish(live.recording.call_id)

    async def set_hold(self, recording_id: str, hold: bool) -> Recording:
        """Legal hold on or off (a held recording is never purged); live or finished."""
        for live in self._live.values():
            if live.recording.id == recording_id:
                async with live.lock:
                    live.recording = replace(live.recording, legal_hold=hold)
                    await self._registry.save(live.recording)
                    return live.recording
        recording = await self._registry.get(recording_id)
        if recording is None:
            raise RecordingRefused("no recording with this id")
        recording = replace(recording, legal_hold=hold)
        await self._registry.save(recording)
        log.info("recording.legal_hold", recording=recording_id, legal_hold=hold)
        return recording

    @asynccontextmanager
    async def secure_span(self, call_id: str, reason: str = "secure_input") -> AsyncIterator[None]:
        """Mute the call's live recording while the body runs (a flow's secure input); nothing when none."""
        live = self._live.get(call_id)
        muted = False
        if live is not None and live.recording.state != PAUSED:
            try:
                async with live.lock:
                    await self._pause(live, reason)
                    await self._registry.save(live.recording)
                    muted = live.recording.state == PAUSED
            except RecordingControlFailed:  # fail closed: no secret digits into a file that could not be muted
                log.error("recording.stopped_for_secure_input", recording=live.recording.id)
                await self.finish(call_id)
        try:
            yield
        finally:
            if muted and live is not None and self._live.get(call_id) is live:
                async with live.lock:
                    await self._resume(live)
                    await self._registry.save(live.recording)

    def _live_by_id(self, recording_id: str) -> _Live:
        for live in self._live.values():
            if live.recording.id == recording_id:
                return live
        raise RecordingRefused("no live recording with this id")

    async def _mute(self, live: _Live, muted: bool) -> None:
        try:
            await self._controls.mute(live.recording.channel, live.recording.mixmonitor_id, muted)
        except Exception as exc:  # noqa: BLE001 - any AMI failure: the caller of the control is told
            log.error("recording.mute_failed", recording=live.recording.id, muted=muted, error=str(exc)[:200])
            raise RecordingControlFailed(f"MixMonitorMute failed: {str(exc)[:200]}") from exc

    async def _pause(self, live: _Live, reason: str) -> None:
        if live.recording.state == PAUSED:
            return
        await self._mute(live, True)
        live.recording = paused(live.recording, reason, self._clock.now())
        log.info("recording.paused", recording=live.recording.id, reason=reason)

    async def _resume(self, live: _Live) -> None:
        if live.recording.state != PAUSED:
            return
        await self._mute(live, False)
        live.recording = resumed(live.recording, self._clock.now())
        log.info("recording.resumed", recording=live.recording.id)

    # ------------------------------------------------------------------ the end

    async def finish(self, call_id: str) -> Recording:
        """Stop (if the channel is still up), wait for the file to settle, measure it, decide the final state."""
        live = self._live.pop(call_id)
        self._transferring.discard(call_id)
        async with live.lock:
            recording = live.recording
            now = self._clock.now()
            try:
                await self._controls.stop(recording.channel, recording.mixmonitor_id)
            except Exception as exc:  # noqa: BLE001 - the end is measured from the file whatever AMI says
                log.warning("recording.stop_failed", recording=recording.id, error=str(exc))
            facts = await self._settled(recording.relative_path)
            recording = finalized(recording, now, conversation=live.conversation or not live.for_queue,
                                  size_bytes=facts.size_bytes if facts else None,
                                  duration_s=facts.duration_s if facts else None,
                                  sha256=facts.sha256 if facts else None)
            if recording.state == DISCARDED:
                deleted = self._files.delete(recording.relative_path)
                log.info("recording.discarded", recording=recording.id, call=call_id, reason=recording.problem,
                         file_deleted=deleted)
            else:
                log.log(20 if recording.state == "complete" else 40, "recording.finalized",
                        recording=recording.id, call=call_id, state=recording.state,
                        duration_s=recording.duration_s, size=recording.size_bytes, problem=recording.problem)
            await self._registry.save(recording)
            return recording

    async def _settled(self, relative_path: str) -> FileFacts | None:
        """The file's facts once its size stops changing (Asterisk's recorder thread closes it after the stop or
        the hangup); None when no file appears. Only its size is polled; it is read and hashed once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FILE_SETTLE_MAX_S
        last = self._files.size_of(relative_path)
        while loop.time() < deadline:
            await asyncio.sleep(FILE_SETTLE_S)
            size = self._files.size_of(relative_path)
            if size == last and size is not None:
                break
            last = size
        return self._files.measure(relative_path)

    async def finish_all(self) -> None:
        """At shutdown: finalize what is still live (the calls go on in Asterisk; their files are closed)."""
        for call_id in list(self._live):
            try:
                await self.finish(call_id)
            except Exception:  # noqa: BLE001 - one bad recording must not keep the others open
                log.exception("recording.finish_failed", call=call_id)
