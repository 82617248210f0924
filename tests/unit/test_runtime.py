"""The composition root: how it wires the services (the call log hears the desk's stints in order)."""

from __future__ import annotations

from datetime import UTC, datetime

from callcontrol.core.calls import CallRecord, CallStatus, EndReason
from callcontrol.core.domain_events import QueueStintEnded
from callcontrol.core.events import ChannelHungUp
from callcontrol.core.interactions import QueueStint
from callcontrol.runtime import Service
from callcontrol.settings import Settings


async def test_a_stint_ended_just_before_the_ivr_ends_is_in_the_record_that_end_closes(tmp_path):
    """The call log hears the desk's stints in order with the call path's own calls: the caller's channel is
    gone, the stint ends, the IVR ends at once after (no await between) and closes the record with the stint."""
    service = Service(Settings(ami_secret="s3cret-s3cret", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    written: list[CallRecord] = []
    service.writer.submit = lambda record: written.append(record.snapshot())  # type: ignore[method-assign]
    now = datetime(2026, 12, 2, 9, tzinfo=UTC)
    service.calls.call_started(CallRecord(call_id="1.1", uniqueid="1.1", channel="PJSIP/trunk-1", caller_number="1",
                                          caller_name="", dialed_number="5000", started_at=now))
    service.calls.apply(ChannelHungUp(uniqueid="1.1", linkedid="1.1", cause=16, cause_text="", at=now))
    service.events.publish(QueueStintEnded("1.1", QueueStint("sales", now, "abandoned", left_at=now)))
    service.calls.ivr_ended("1.1", EndReason.CALLER_HANGUP, [])
    closed = written[-1]
    assert closed.status is not CallStatus.ACTIVE
    assert [stint.outcome for stint in closed.queue_stints] == ["abandoned"]
