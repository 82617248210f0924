"""The call recorder (services/recordings.py) with fakes: start before the Dial, mute, stop, finalize, failures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from callcontrol.adapters.recording_files import RecordingDirectory
from callcontrol.core.domain_events import ConversationStarted, QueueStintEnded
from callcontrol.core.recording_policy import RecordingOverride, RecordingPolicy
from callcontrol.core.recordings import COMPLETE, DISCARDED, EMPTY, FAILED, MISSING, PAUSED, RECORDING
from callcontrol.services import recordings as recordings_module
from callcontrol.services.ports import CallerRef
from callcontrol.services.recording_ports import RecordingRefused
from callcontrol.services.recordings import CallRecorder
from tests.support.clock import T0, SettableClock
from tests.support.recording import LoggedControls, MemoryRecordingRegistry, MixMonitorChannel

CALLER = CallerRef("1764666000.7", "1764666000.7", "PJSIP/caller-00000007", "15550001")
POLICIES = {"support": RecordingPolicy("always", beep_every_s=15, retention_days=30),
            "sales": RecordingPolicy("never"), "ondemand": RecordingPolicy("on_demand")}


@pytest.fixture(autouse=True)
def quick_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recordings_module, "FILE_SETTLE_S", 0.01)
    monkeypatch.setattr(recordings_module, "FILE_SETTLE_MAX_S", 0.1)


class Fixture:
    def __init__(self, root: Path) -> None:
        self.clock = SettableClock(T0)
        self.registry = MemoryRecordingRegistry()
        self.controls = LoggedControls()
        self.files = RecordingDirectory(root, str(root))
        self.recorder = CallRecorder(self.registry, self.files, self.controls, self.clock, POLICIES.get,
                                     new_id=lambda: "rec_" + "a" * 32)

    def later(self, seconds: float) -> None:
        self.clock.current += timedelta(seconds=seconds)


@pytest.fixture
def f(tmp_path: Path) -> Fixture:
    return Fixture(tmp_path / "recordings")


async def test_a_recorded_queue_call_starts_before_the_dial_and_ends_complete(f: Fixture) -> None:
    channel = MixMonitorChannel(seconds=2.0)
    await f.recorder.before_dial(channel, CALLER, "support", None, "ada")
    ((file, options),) = channel.started
    assert file == f"{f.files.root}/2026/01/05/rec_{'a' * 32}.wav" and options == "bB(15)i(CC_RECORDING_ID)"
    await f.recorder.before_dial(channel, CALLER, "support", None, "bob")  # a re-offer keeps the recording
    assert len(channel.started) == 1 and f.recorder.live_recording(CALLER.call_id).agent == "bob"
    f.recorder.conversation_started(ConversationStarted(CALLER.call_id, "bob", T0))
    f.later(2)
    await f.recorder.stint_ended(QueueStintEnded(CALLER.call_id, None))  # type: ignore[arg-type]
    (row,) = f.registry.rows.values()
    assert row.state == COMPLETE and row.agent == "bob" and row.duration_s == 2.0 and row.size_bytes == 32044
    assert len(row.sha256 or "") == 64 and row.retention_days == 30 and row.mixmonitor_id == "0x55d0c4a1b2c0"
    assert f.controls.asked == [("stop", CALLER.channel, "0x55d0c4a1b2c0", None)]


async def test_never_and_overrides(f: Fixture) -> None:
    channel = MixMonitorChannel()
    await f.recorder.before_dial(channel, CALLER, "sales", None, "ada")
    assert channel.started == [] and f.registry.rows == {}
    await f.recorder.before_dial(channel, CALLER, "sales", RecordingOverride(mode="always"), "ada")
    assert len(channel.started) == 1 and channel.started[0][1] == "bi(CC_RECORDING_ID)"


async def test_a_call_that_never_reached_an_agent_is_discarded_and_its_file_deleted(f: Fixture) -> None:
    channel = MixMonitorChannel(seconds=0)  # `b`: the file exists from the start, header only
    await f.recorder.before_dial(channel, CALLER, "support", None, "ada")
    await f.recorder.stint_ended(QueueStintEnded(CALLER.call_id, None))  # type: ignore[arg-type]
    (row,) = f.registry.rows.values()
    assert row.state == DISCARDED and "never reached an agent" in (row.problem or "")
    assert not Path(channel.started[0][0]).exists()


@pytest.mark.parametrize(("seconds", "state"), [(None, MISSING), (0, EMPTY)])
async def test_a_conversation_without_audio_is_flagged_never_lost(f: Fixture, seconds, state) -> None:
    await f.recorder.before_dial(MixMonitorChannel(seconds=seconds), CALLER, "support", None, "ada")
    f.recorder.conversation_started(ConversationStarted(CALLER.call_id, "ada", T0))
    await f.recorder.stint_ended(QueueStintEnded(CALLER.call_id, None))  # type: ignore[arg-type]
    (row,) = f.registry.rows.values()
    assert row.state == state and row.problem


async def test_pause_resume_and_stop_on_demand_store_spans(f: Fixture) -> None:
    await f.recorder.before_dial(MixMonitorChannel(), CALLER, "support", None, "ada")
    f.recorder.conversation_started(ConversationStarted(CALLER.call_id, "ada", T0))
    rec_id = f.recorder.live_recording(CALLER.call_id).id
    f.later(1)
    assert (await f.recorder.pause(rec_id, "payment_capture")).state == PAUSED
    f.later(3)
    assert (await f.recorder.resume(rec_id)).state == RECORDING
    f.later(1)
    stopped = await f.recorder.stop(rec_id)
    assert stopped.state == COMPLETE
    assert [(s.reason, (s.ended_at - s.started_at).total_seconds()) for s in stopped.spans] == [
        ("payment_capture", 3.0)]
    assert [a[0:4:3] for a in f.controls.asked] == [("mute", True), ("mute", False), ("stop", None)]
    with pytest.raises(RecordingRefused):
        await f.recorder.pause(rec_id, "payment_capture")  # not live any more
    with pytest.raises(ValueError):
        await f.recorder.pause(rec_id, "../x")


async def test_a_secure_input_mutes_the_live_recording_and_the_span_is_stored(f: Fixture) -> None:
    channel = MixMonitorChannel()
    await f.recorder.start_ivr(channel, CALLER)
    assert channel.started[0][1] == "i(CC_RECORDING_ID)"  # the IVR part: no `b`
    async with f.recorder.secure_span(CALLER.call_id):
        assert f.recorder.live_recording(CALLER.call_id).state == PAUSED
        f.later(4)
    f.later(1)
    await f.recorder.flow_ended(CALLER.call_id)
    (row,) = f.registry.rows.values()
    assert row.state == COMPLETE and [(s.reason, s.started_at, s.ended_at) for s in row.spans] == [
        ("secure_input", T0, T0 + timedelta(seconds=4))]
    async with f.recorder.secure_span("no-such-call"):  # nothing recorded: nothing to mute
        pass


async def test_on_demand_starts_paused_and_is_discarded_if_never_resumed(f: Fixture) -> None:
    await f.recorder.before_dial(MixMonitorChannel(), CALLER, "ondemand", None, "ada")
    f.recorder.conversation_started(ConversationStarted(CALLER.call_id, "ada", T0))
    assert f.recorder.live_recording(CALLER.call_id).state == PAUSED
    f.later(5)
    await f.recorder.stint_ended(QueueStintEnded(CALLER.call_id, None))  # type: ignore[arg-type]
    (row,) = f.registry.rows.values()
    assert row.state == DISCARDED and row.problem == "on demand: never started"


async def test_an_unwritable_directory_fails_the_recording_not_the_call(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    f = Fixture(blocker / "recordings")
    channel = MixMonitorChannel()
    await f.recorder.before_dial(channel, CALLER, "support", None, "ada")  # does not raise: the call goes on
    assert channel.started == [] and f.recorder.problem is not None
    (row,) = f.registry.rows.values()
    assert row.state == FAILED and "recordings directory" in (row.problem or "")
    assert f.recorder.live_recording(CALLER.call_id) is None


async def test_a_full_directory_and_a_refused_mixmonitor_fail_the_recording(f: Fixture) -> None:
    f.files.min_free_bytes = 1 << 62
    await f.recorder.before_dial(MixMonitorChannel(), CALLER, "support", None, "ada")
    assert "is full" in (f.recorder.problem or "")
    f.files.min_free_bytes = 0
    other = CallerRef("1764666000.8", "1764666000.8", "PJSIP/caller-00000008", "15550002")
    f.recorder._new_id = lambda: "rec_" + "b" * 32
    await f.recorder.before_dial(MixMonitorChannel(refuse=True), other, "support", None, "ada")
    assert f.registry.rows["rec_" + "b" * 32].state == FAILED and "MixMonitor refused" in f.recorder.problem
    f.recorder._new_id = lambda: "rec_" + "c" * 32
    await f.recorder.before_dial(MixMonitorChannel(), other, "support", None, "ada")
    assert f.recorder.problem is None  # recording again: readiness recovers


async def test_a_mute_that_fails_stops_the_recording_before_secret_digits(f: Fixture) -> None:
    """Fail closed: when Asterisk cannot mute, the recording is stopped and finalized before the digits."""
    async def broken(channel, mixmonitor_id, muted):  # type: ignore[no-untyped-def]
        raise ConnectionError("AMI down")
    await f.recorder.start_ivr(MixMonitorChannel(), CALLER)
    f.controls.mute = broken  # type: ignore[method-assign]
    async with f.recorder.secure_span(CALLER.call_id):
        assert f.recorder.live_recording(CALLER.call_id) is None
        assert f.controls.asked[-1][0] == "stop"
    with pytest.raises(RecordingRefused):
        await f.recorder.pause("rec_" + "a" * 32, "api")


async def test_a_transferred_caller_s_recording_goes_on_into_its_transfer_leg_and_ends_with_it(f: Fixture) -> None:
    """The first session's stint ends 'transferred' and its flow ends: the recording stays live (one file for the
    call); the transfer leg's next agent is named; the leg's end finishes it, stopped once."""
    from callcontrol.core.interactions import STINT_TRANSFERRED, QueueStint
    channel = MixMonitorChannel(seconds=4.0)
    await f.recorder.before_dial(channel, CALLER, "support", None, "ada")
    f.recorder.conversation_started(ConversationStarted(CALLER.call_id, "ada", T0))
    f.recorder.caller_transferred(CALLER.call_id)
    await f.recorder.stint_ended(QueueStintEnded(CALLER.call_id, QueueStint("support", T0, STINT_TRANSFERRED)))
    await f.recorder.flow_ended(CALLER.call_id)  # the first session is over
    assert f.recorder.live_recording(CALLER.call_id) is not None and f.controls.asked == []
    await f.recorder.before_dial(channel, CALLER, "support", None, "bob")  # the leg rings bob: same recording
    assert len(channel.started) == 1 and f.recorder.live_recording(CALLER.call_id).agent == "bob"
    f.later(4)
    await f.recorder.flow_ended(CALLER.call_id)  # the transfer leg is over
    (row,) = f.registry.rows.values()
    assert row.state == COMPLETE and row.agent == "bob" and len(f.controls.asked) == 1
