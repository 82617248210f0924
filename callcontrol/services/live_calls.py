"""The live calls view kept up to date from the bus, the recorder, supervision and hold; each change to watchers.

The watchers are the WebSocket feed (acd_feed.LiveFeed).

Everything arrives by subscription, nothing is polled:
- CallStarted / CallEnded (services/call_log.py): a call enters when its record opens (its FastAGI session began),
  leaves when its record closes (IVR over and channel gone), or after its agent's wrap-up if that comes later;
- QueueStintProgressed / QueueStintEnded, AgentOffered / AgentMissed / AgentAnswered, ConversationStarted /
  ConversationEnded (the desk): waiting, ringing, talking, back in the flow;
- AgentStateChanged: an agent entering wrap_up after a call, and leaving it;
- each save of a recording (RecordingStateTap, wrapped round the recorder's registry): recording, paused, none;
- `supervision_changed(call_id, supervisors)` and `hold_changed(call_id, on_hold, at)`: called by the supervision
  and in-call control services.
All handlers are inline bus subscribers (memory only, never await), so the view keeps the order the desk decided.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from callcontrol.core.acd.agent_states import AgentState
from callcontrol.core.domain_events import (
    AgentAnswered,
    AgentMissed,
    AgentOffered,
    AgentStateChanged,
    CallEnded,
    CallStarted,
    ConversationEnded,
    ConversationStarted,
    QueueStintEnded,
    QueueStintProgressed,
)
from callcontrol.core.live_calls import LiveCall, LiveCallBoard, RecordingState
from callcontrol.core.recordings import PAUSED, RECORDING, Recording
from callcontrol.services.event_bus import EventBus
from callcontrol.services.ports import Clock
from callcontrol.services.recording_ports import RecordingRegistry

EVENT_TYPES = (CallStarted, CallEnded, QueueStintProgressed, QueueStintEnded, AgentOffered, AgentMissed,
               AgentAnswered, ConversationStarted, ConversationEnded, AgentStateChanged)


class LiveCallWatcher(Protocol):
    """Told every change of the view (acd_feed.LiveFeed: the WebSocket feed)."""

    def call_changed(self, call: LiveCall) -> None: ...

    def call_ended(self, call_id: str) -> None: ...


class LiveCalls:
    """The calls in progress, as the service knows them now."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.board = LiveCallBoard()
        self._watchers: list[LiveCallWatcher] = []

    def subscribe(self, bus: EventBus) -> None:
        """Hear the call's moments on the bus (inline: in the order published)."""
        bus.subscribe("live-calls", self.on_event, *EVENT_TYPES, inline=True)

    def watch(self, watcher: LiveCallWatcher) -> None:
        """Tell `watcher` each change from now on (once, however often it is asked)."""
        if all(known is not watcher for known in self._watchers):
            self._watchers.append(watcher)

    # ---------------------------------------------------------------- reads

    def calls(self) -> list[LiveCall]:
        """Every call in progress, oldest first."""
        return sorted(self.board.calls.values(), key=lambda call: (call.started_at, call.call_id))

    def get(self, call_id: str) -> LiveCall | None:
        return self.board.get(call_id)

    # ---------------------------------------------------------------- what the supervision and hold code call

    def supervision_changed(self, call_id: str, supervisors: tuple[str, ...]) -> None:
        """The supervisors (user names) on the call now, all of them (an empty tuple: nobody any more)."""
        self._changed(self.board.supervision_changed(call_id, supervisors))

    def hold_changed(self, call_id: str, on_hold: bool, at: datetime) -> None:
        """The agent put the caller on hold (True) or took it back (False), at `at`."""
        self._changed(self.board.hold_changed(call_id, on_hold, at))

    def recording_saved(self, recording: Recording) -> None:
        """The recorder saved a recording: the call's recording state is what it says now."""
        state = {RECORDING: RecordingState.RECORDING, PAUSED: RecordingState.PAUSED}.get(recording.state,
                                                                                         RecordingState.NONE)
        self._changed(self.board.recording_changed(recording.call_id, state))

    # ---------------------------------------------------------------- the bus

    def on_event(self, event: object) -> None:
        board = self.board
        match event:
            case CallStarted():
                self._changed(board.started(LiveCall(event.call_id, event.caller_number, event.caller_name,
                                                     event.dialed_number, event.flow_id, event.at)))
            case CallEnded():
                call, gone = board.ended(event.call_id)
                self._changed(call)
                if gone:
                    self._ended(event.call_id)
            case QueueStintProgressed():
                self._changed(board.queued(event.call_id, event.stint.queue, event.stint.entered_at))
            case QueueStintEnded():
                self._changed(board.wait_ended(event.call_id, event.stint.left_at or self.clock.now()))
            case AgentOffered():
                self._changed(board.offered(event.call_id, event.agent_id, event.queue_id, event.at))
            case AgentMissed():
                self._changed(board.missed(event.call_id, event.agent_id, event.at))
            case AgentAnswered() | ConversationStarted():
                self._changed(board.answered(event.call_id, event.agent_id, event.at))
            case ConversationEnded():
                self._changed(board.conversation_ended(event.call_id, event.at))
            case AgentStateChanged():
                self._agent_changed(event)

    def _agent_changed(self, event: AgentStateChanged) -> None:
        transition = event.transition
        if transition.to_state is AgentState.WRAP_UP and transition.call_id is not None:
            self._changed(self.board.wrap_up_started(transition.agent_id, transition.call_id, transition.at))
        elif transition.from_state is AgentState.WRAP_UP:
            call, gone = self.board.wrap_up_ended(transition.agent_id, transition.at)
            self._changed(call)
            if gone is not None:
                self._ended(gone)

    def _changed(self, call: LiveCall | None) -> None:
        if call is not None:
            for watcher in self._watchers:
                watcher.call_changed(call)

    def _ended(self, call_id: str) -> None:
        for watcher in self._watchers:
            watcher.call_ended(call_id)


class RecordingStateTap:
    """The recorder's registry, unchanged, that also tells `saved` each recording it saves (the recorder saves at
    every start, pause, resume and end, so the live view follows the recording without touching the recorder)."""

    def __init__(self, registry: RecordingRegistry, saved: Callable[[Recording], None]) -> None:
        self._registry = registry
        self._saved = saved

    async def save(self, recording: Recording) -> None:
        await self._registry.save(recording)
        self._saved(recording)

    async def get(self, recording_id: str) -> Recording | None:
        return await self._registry.get(recording_id)

    async def live(self) -> list[Recording]:
        return await self._registry.live()

    async def purge_candidates(self, now: datetime, limit: int = 500) -> list[Recording]:
        return await self._registry.purge_candidates(now, limit)

    async def mark_purged(self, recording_ids: list[str], at: datetime) -> None:
        await self._registry.mark_purged(recording_ids, at)

    def __getattr__(self, name: str) -> Any:  # find, of_calls, ...: the wrapped registry's own
        return getattr(self._registry, name)

