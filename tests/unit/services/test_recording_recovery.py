"""Recordings a previous run left open (services/recording_recovery.py): finalized from their files when the caller's
channel is gone, adopted until its Hangup when it still exists, this run's own left alone."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from callcontrol.adapters.recording_files import RecordingDirectory
from callcontrol.core.events import ChannelHungUp, ChannelsSnapshot
from callcontrol.core.recordings import COMPLETE, EMPTY, MISSING, PAUSED, RECORDING, PausedSpan, Recording
from callcontrol.services import recordings as recordings_module
from callcontrol.services.ports import CallerRef
from callcontrol.services.recording_recovery import OpenRecordingRecovery
from callcontrol.services.recordings import CallRecorder
from tests.support.clock import T0, SettableClock
from tests.support.recording import LoggedControls, MemoryRecordingRegistry, MixMonitorChannel, write_wav

CHANNEL = "PJSIP/caller-0000000a"


@pytest.fixture(autouse=True)
def quick_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recordings_module, "FILE_SETTLE_S", 0.01)
    monkeypatch.setattr(recordings_module, "FILE_SETTLE_MAX_S", 0.1)


class Fixture:
    def __init__(self, root: Path) -> None:
        self.clock = SettableClock(T0 + timedelta(minutes=5))
        self.registry = MemoryRecordingRegistry()
        self.controls = LoggedControls()
        self.files = RecordingDirectory(root, str(root))
        self.recorder = CallRecorder(self.registry, self.files, self.controls, self.clock, lambda queue: None)
        self.recovery = OpenRecordingRecovery(self.recorder, self.registry)

    async def left_open(self, n: int, seconds: float | None, state: str = RECORDING,
                        channel: str = CHANNEL) -> Recording:
        """A live row the previous run wrote, and the file MixMonitor left (None: no file; 0: a header only)."""
        recording = Recording(f"rec_{n:032x}", f"1764666000.{n}", channel, "support", "ada", T0, 30,
                              state=state, mixmonitor_id="0x55d0c4a1b2c0",
                              spans=(PausedSpan(T0 + timedelta(seconds=1), "payment_capture"),)
                              if state == PAUSED else ())
        await self.registry.save(recording)
        if seconds is not None:
            write_wav(self.files.path_of(recording.relative_path), seconds)
        return recording

    def snapshot(self, *channels: str) -> ChannelsSnapshot:
        return ChannelsSnapshot(frozenset(), self.clock.now(), frozenset(channels))


@pytest.fixture
def f(tmp_path: Path) -> Fixture:
    return Fixture(tmp_path / "recordings")


async def test_open_recordings_whose_channel_is_gone_are_finalized_as_their_files_say(f: Fixture) -> None:
    talked = await f.left_open(1, 3.0)
    paused = await f.left_open(2, 1.5, state=PAUSED, channel="PJSIP/caller-0000000b")
    header_only = await f.left_open(3, 0, channel="PJSIP/caller-0000000c")
    no_file = await f.left_open(4, None, channel="PJSIP/caller-0000000d")
    await f.recovery.recover(f.snapshot("PJSIP/agent1001-00000001"))  # none of the callers is there any more
    rows = f.registry.rows
    assert rows[talked.id].state == COMPLETE and rows[talked.id].duration_s == pytest.approx(3.0)
    path = f.files.path_of(talked.relative_path)
    assert rows[talked.id].size_bytes == path.stat().st_size
    assert rows[talked.id].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rows[talked.id].ended_at == f.clock.now()
    assert rows[paused.id].state == COMPLETE and rows[paused.id].spans[0].ended_at == f.clock.now()
    assert rows[header_only.id].state == EMPTY and rows[no_file.id].state == MISSING
    assert f.files.path_of(header_only.relative_path).exists()  # flagged, never dropped
    assert not f.recorder.owns(talked.id) and await f.registry.live() == []


async def test_an_open_recording_whose_channel_still_exists_is_adopted_and_its_hangup_finalizes_it(
        f: Fixture) -> None:
    talking = await f.left_open(1, 2.0)
    await f.recovery.recover(f.snapshot(CHANNEL))
    assert f.registry.rows[talking.id].state == RECORDING and f.recorder.owns(talking.id)
    await f.recovery.recover(f.snapshot(CHANNEL))  # a later resync (AMI reconnected): still followed, once
    assert f.controls.asked == []
    f.clock.current += timedelta(seconds=4)
    write_wav(f.files.path_of(talking.relative_path), 6.0)  # the conversation went on, Asterisk closed the file
    await f.recovery.hung_up(ChannelHungUp("1764666000.1", "1764666000.1", 16, "Normal", f.clock.now(), CHANNEL))
    row = f.registry.rows[talking.id]
    assert row.state == COMPLETE and row.duration_s == pytest.approx(6.0) and row.ended_at == f.clock.now()
    assert f.controls.asked == [("stop", CHANNEL, "0x55d0c4a1b2c0", None)]
    assert not f.recorder.owns(talking.id)


async def test_an_adopted_recording_whose_hangup_was_missed_is_finalized_at_the_next_resync(f: Fixture) -> None:
    talking = await f.left_open(1, 2.0)
    await f.recovery.recover(f.snapshot(CHANNEL))
    await f.recovery.recover(f.snapshot())  # AMI was down while the caller hung up
    assert f.registry.rows[talking.id].state == COMPLETE and not f.recorder.owns(talking.id)


async def test_this_runs_own_recordings_are_left_to_their_session(f: Fixture) -> None:
    caller = CallerRef("1764666001.1", "1764666001.1", "PJSIP/caller-00000010", "15550001")
    await f.recorder.start_ivr(MixMonitorChannel(2.0), caller)
    (own,) = f.registry.rows.values()
    await f.recovery.recover(f.snapshot())  # its channel not in the snapshot yet: still this run's
    assert f.registry.rows[own.id].state == RECORDING and f.recorder.owns(own.id)


async def test_the_ami_routes_only_queue_and_run_handles_them_in_order(f: Fixture) -> None:
    talking = await f.left_open(1, 2.0)
    other = ChannelHungUp("1764666009.1", "1764666009.1", 16, "Normal", f.clock.now(), "PJSIP/other-00000001")
    f.recovery.channel_hung_up(other)  # nothing adopted, no snapshot pending: not even queued
    assert f.recovery._moments.empty()
    f.recovery.channels_resynced(f.snapshot(CHANNEL))
    f.recovery.channel_hung_up(replace(other, channel=CHANNEL))  # queued behind the snapshot that adopts it
    runner = asyncio.create_task(f.recovery.run())
    try:
        for _ in range(200):
            if f.registry.rows[talking.id].state == COMPLETE:
                break
            await asyncio.sleep(0.01)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert f.registry.rows[talking.id].state == COMPLETE
