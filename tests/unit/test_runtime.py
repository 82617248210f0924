"""The composition root: the AMI event dispatcher keeps going past a failing event."""

from __future__ import annotations

import asyncio

from panoramisk.message import Message

from callcontrol.runtime import Service
from callcontrol.settings import Settings


async def test_dispatcher_survives_an_event_whose_handling_raises(tmp_path):
    """An exception while applying one AMI event is logged; the events after it are still applied, in order."""
    service = Service(Settings(ami_secret="s3cret-s3cret", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    applied: list[str] = []

    def apply(event) -> None:
        if event.uniqueid == "bad":
            raise RuntimeError("boom")
        applied.append(event.uniqueid)

    service.calls.apply = apply  # type: ignore[method-assign]
    for uniqueid in ("1.1", "bad", "1.2"):
        service.ami.events.put_nowait(Message({"Event": "Hangup", "Uniqueid": uniqueid, "Linkedid": uniqueid,
                                               "Cause": "16", "Timestamp": "1700000000.0"}))
    task = asyncio.create_task(service._dispatch_channel_events())
    try:
        for _ in range(100):
            if len(applied) == 2:
                break
            await asyncio.sleep(0.01)
        assert applied == ["1.1", "1.2"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)



async def test_a_stint_ended_just_before_the_ivr_ends_is_in_the_record_that_end_closes(tmp_path):
    """The call log hears the desk's stints in order with the call path's own calls: the caller's channel is
    gone, the stint ends, the IVR ends at once after (no await between) and closes the record with the stint."""
    from datetime import UTC, datetime

    from callcontrol.core.calls import CallRecord, CallStatus, EndReason
    from callcontrol.core.domain_events import QueueStintEnded
    from callcontrol.core.events import ChannelHungUp

    service = Service(Settings(ami_secret="s3cret-s3cret", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    written: list[CallRecord] = []
    service.writer.submit = lambda record: written.append(record.snapshot())  # type: ignore[method-assign]
    now = datetime(2026, 12, 2, 9, tzinfo=UTC)
    service.calls.call_started(CallRecord(call_id="1.1", uniqueid="1.1", channel="PJSIP/trunk-1", caller_number="1",
                                          caller_name="", dialed_number="5000", started_at=now))
    service.calls.apply(ChannelHungUp(uniqueid="1.1", linkedid="1.1", cause=16, cause_text="", at=now))
    service.events.publish(QueueStintEnded("1.1", {"queue": "sales", "outcome": "abandoned"}))
    service.calls.ivr_ended("1.1", EndReason.CALLER_HANGUP, [])
    closed = written[-1]
    assert closed.status is not CallStatus.ACTIVE
    assert [stint["outcome"] for stint in closed.queue_stints] == ["abandoned"]
