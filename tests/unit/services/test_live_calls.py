"""The live calls service (services/live_calls.py): fed by the bus, the call log and the recorder; watchers told."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from callcontrol.adapters.recording_files import RecordingDirectory
from callcontrol.core.acd.agent_states import AgentState, Cause, Transition
from callcontrol.core.calls import CallRecord, EndReason
from callcontrol.core.domain_events import (
    AgentAnswered,
    AgentMissed,
    AgentOffered,
    AgentStateChanged,
    ConversationEnded,
    ConversationStarted,
    QueueStintEnded,
    QueueStintProgressed,
)
from callcontrol.core.events import ChannelHungUp
from callcontrol.core.interactions import QueueStint
from callcontrol.core.live_calls import CallState, LiveCall, RecordingState
from callcontrol.core.recording_policy import RecordingPolicy
from callcontrol.services import recordings as recordings_module
from callcontrol.services.call_log import CallLog
from callcontrol.services.event_bus import EventBus
from callcontrol.services.live_calls import LiveCalls, RecordingStateTap
from callcontrol.services.ports import CallerRef
from callcontrol.services.recordings import CallRecorder
from tests.support.clock import T0, SettableClock
from tests.support.recording import LoggedControls, MemoryRecordingRegistry, MixMonitorChannel
from tests.support.stores import SubmittedRecords

CALL = "1767603600.1"


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


class Watcher:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # ("call", state) or ("ended", call id)

    def call_changed(self, call: LiveCall) -> None:
        self.seen.append(("call", call.state.value))

    def call_ended(self, call_id: str) -> None:
        self.seen.append(("ended", call_id))


class World:
    def __init__(self) -> None:
        self.clock = SettableClock(T0)
        self.bus = EventBus()
        self.live = LiveCalls(self.clock)
        self.live.subscribe(self.bus)
        self.watcher = Watcher()
        self.live.watch(self.watcher)
        self.live.watch(self.watcher)  # once, however often
        self.calls = CallLog(SubmittedRecords(), self.clock)  # type: ignore[arg-type]
        self.calls.events = self.bus

    def start_call(self) -> None:
        self.calls.call_started(CallRecord(
            call_id=CALL, uniqueid=CALL, channel=f"PJSIP/caller-{CALL}", caller_number="+15551230000",
            caller_name="Ada", dialed_number="5000", started_at=T0, flow_id="main", flow_version="v1"))

    def end_call(self, seconds: float) -> None:
        self.clock.current = at(seconds)
        self.calls.ivr_ended(CALL, EndReason.CALLER_HANGUP, [])
        self.calls.apply(ChannelHungUp(uniqueid=CALL, linkedid=CALL, cause=16, cause_text="Normal", at=at(seconds)))


@pytest.fixture
def w() -> World:
    return World()


def stint(seconds: float = 1) -> QueueStint:
    return QueueStint("sales", at(seconds), "in_progress")


def transition(from_state: AgentState, to_state: AgentState, seconds: float, cause: Cause,
               call_id: str | None = None) -> AgentStateChanged:
    return AgentStateChanged(Transition("ada", from_state, to_state, at(seconds), cause, call_id=call_id))


def test_a_call_s_life_from_the_call_log_and_the_desk_s_events(w: World) -> None:
    """Its record opens: in the IVR with what the record knows; the desk's events move it; wrap-up keeps it after
    its record closed, the wrap-up's end removes it."""
    w.start_call()
    (call,) = w.live.calls()
    assert (call.caller_number, call.dialed_number, call.flow_id, call.state) == ("+15551230000", "5000", "main",
                                                                                  CallState.IVR)
    for event in (QueueStintProgressed(CALL, stint()), AgentOffered(CALL, "ada", "sales", at(4)),
                  AgentMissed(CALL, "ada", "noanswer", at(9)), AgentOffered(CALL, "ada", "sales", at(12)),
                  AgentAnswered(CALL, "ada", "sales", at(14)), ConversationStarted(CALL, "ada", at(14)),
                  QueueStintProgressed(CALL, stint()), ConversationEnded(CALL, "ada", at(30), 16.0),
                  transition(AgentState.ON_CALL, AgentState.WRAP_UP, 30, Cause.CALL_ENDED, CALL),
                  QueueStintEnded(CALL, stint())):
        w.bus.publish(event)
    w.live.hold_changed(CALL, True, at(20))  # ignored: the conversation is over
    w.end_call(31)
    assert w.live.get(CALL).caller_gone and w.live.get(CALL).state is CallState.WRAP_UP
    w.bus.publish(transition(AgentState.WRAP_UP, AgentState.AVAILABLE, 35, Cause.WRAP_UP_ENDED))
    assert w.live.get(CALL) is None and w.live.calls() == []
    assert w.watcher.seen == [("call", "ivr"), ("call", "waiting"), ("call", "ringing"), ("call", "waiting"),
                              ("call", "ringing"), ("call", "talking"), ("call", "ivr"), ("call", "wrap_up"),
                              ("call", "wrap_up"), ("ended", CALL)]


def test_hold_and_supervision_as_the_other_services_call_them(w: World) -> None:
    w.start_call()
    w.bus.publish(ConversationStarted(CALL, "ada", at(2)))
    w.live.hold_changed(CALL, True, at(5))
    w.live.supervision_changed(CALL, ("sue",))
    w.live.hold_changed(CALL, False, at(9))
    call = w.live.get(CALL)
    assert call.state is CallState.TALKING and call.supervisors == ("sue",)
    assert call.durations_s(at(10))["on_hold"] == 4.0
    w.end_call(12)  # no wrap-up: gone with its record
    assert w.live.get(CALL) is None and w.watcher.seen[-1] == ("ended", CALL)
    w.live.supervision_changed(CALL, ())  # a session ending after the call: nothing
    assert w.watcher.seen[-1] == ("ended", CALL)


async def test_the_recording_state_follows_the_recorder_through_its_registry(w: World, tmp_path: Path,
                                                                              monkeypatch) -> None:
    """The recorder, unchanged, saves through RecordingStateTap: start, pause, resume and end are seen."""
    monkeypatch.setattr(recordings_module, "FILE_SETTLE_S", 0.01)
    monkeypatch.setattr(recordings_module, "FILE_SETTLE_MAX_S", 0.05)
    registry = MemoryRecordingRegistry()
    recorder = CallRecorder(RecordingStateTap(registry, w.live.recording_saved), RecordingDirectory(tmp_path,
                            str(tmp_path)), LoggedControls(), w.clock,
                            {"sales": RecordingPolicy("always")}.get)  # type: ignore[arg-type]
    w.start_call()
    await recorder.before_dial(MixMonitorChannel(), CallerRef(CALL, CALL, f"PJSIP/caller-{CALL}", "1"), "sales",
                               None, "ada")
    assert w.live.get(CALL).recording is RecordingState.RECORDING
    rec_id = recorder.live_recording(CALL).id
    await recorder.pause(rec_id, "payment")
    assert w.live.get(CALL).recording is RecordingState.PAUSED
    await recorder.resume(rec_id)
    assert w.live.get(CALL).recording is RecordingState.RECORDING
    await recorder.stop(rec_id)
    assert w.live.get(CALL).recording is RecordingState.NONE
    assert list(registry.rows) == [rec_id]  # the tap saved into the registry it wraps
    assert await RecordingStateTap(registry, w.live.recording_saved).get(rec_id) == registry.rows[rec_id]
