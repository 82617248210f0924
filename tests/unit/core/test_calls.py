"""The call record (callcontrol.core.calls): closed once, when both the IVR and the channel are done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcontrol.core.calls import CallRecord, CallStatus, EndObservedBy, EndReason
from callcontrol.core.interactions import STINT_IN_PROGRESS, STINT_LOST, AgentLeg, OfferAttempt, QueueStint

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_record(**changes: object) -> CallRecord:
    values: dict[str, object] = dict(
        call_id="1767603600.10", uniqueid="1767603600.10", channel="PJSIP/caller-00000001",
        caller_number="+15551230000", caller_name="Ada", dialed_number="5000", started_at=T0,
        flow_id="main", flow_version="abc123def456",
    )
    values.update(changes)
    return CallRecord(**values)  # type: ignore[arg-type]


PATH = [
    {"node": "greeting", "result": "played", "at": at(2).isoformat()},
    {"node": "main_menu", "result": "digit", "at": at(5).isoformat(), "digit": "1"},
    {"node": "sales", "result": "played", "at": at(8).isoformat()},
    {"node": "goodbye", "result": "hangup", "at": at(10).isoformat()},
]


def test_new_record_is_active_and_not_ready_to_close() -> None:
    """A fresh record is active and cannot be closed."""
    record = make_record()
    assert record.status is CallStatus.ACTIVE
    assert not record.ready_to_close
    with pytest.raises(ValueError):
        record.close()


def test_ivr_end_alone_does_not_make_it_ready() -> None:
    """The IVR finishing is not enough while the channel is still up."""
    record = make_record()
    record.mark_ivr_ended(EndReason.FLOW_HANGUP, PATH, at(10))
    assert record.ivr_done and not record.ready_to_close


def test_channel_end_alone_does_not_make_it_ready() -> None:
    """The channel ending is not enough while the IVR has not reported its end."""
    record = make_record()
    record.mark_channel_gone(at(10), EndObservedBy.AMI, 16, "Normal Clearing")
    assert not record.ivr_done and not record.ready_to_close


def test_close_after_ivr_end_and_hangup_uses_the_hangup_time() -> None:
    """With both ends known from AMI, the call ends when the channel did."""
    record = make_record()
    record.mark_ivr_ended(EndReason.FLOW_HANGUP, PATH, at(10))
    record.mark_channel_gone(at(10.5), EndObservedBy.AMI, 16, "Normal Clearing")
    record.close()
    assert record.status is CallStatus.ENDED
    assert record.ended_at == at(10.5)
    assert (record.hangup_cause, record.hangup_cause_text) == (16, "Normal Clearing")
    assert not record.ready_to_close


def test_close_twice_is_refused() -> None:
    """A closed record cannot be closed again."""
    record = make_record()
    record.mark_ivr_ended(EndReason.FLOW_HANGUP, PATH, at(10))
    record.mark_channel_gone(at(11), EndObservedBy.AMI)
    record.close()
    with pytest.raises(ValueError):
        record.close()


def test_first_channel_end_observation_wins() -> None:
    """A later observation (a resync after the Hangup event) does not overwrite the first."""
    record = make_record()
    record.mark_channel_gone(at(10), EndObservedBy.AMI, 16, "Normal Clearing")
    record.mark_channel_gone(at(60), EndObservedBy.RESYNC)
    record.mark_channel_gone(at(70), EndObservedBy.AMI, 17, "User busy")
    assert record.channel_gone_at == at(10)
    assert record.end_observed_by is EndObservedBy.AMI
    assert (record.hangup_cause, record.hangup_cause_text) == (16, "Normal Clearing")


def test_first_ivr_end_wins() -> None:
    """A second IVR end (e.g. a restart adoption) does not overwrite the reason, path or time."""
    record = make_record()
    record.mark_ivr_ended(EndReason.CALLER_HANGUP, PATH[:2], at(6))
    record.mark_ivr_ended(EndReason.SERVICE_RESTARTED, [], at(99))
    assert (record.end_reason, record.ivr_path, record.ivr_ended_at) == (EndReason.CALLER_HANGUP, PATH[:2], at(6))


def test_resync_observed_end_uses_the_ivr_end_when_earlier() -> None:
    """When only a resync saw the channel gone, the end is the earlier of the IVR end and the snapshot."""
    record = make_record()
    record.mark_ivr_ended(EndReason.CALLER_HANGUP, PATH[:2], at(6))
    record.mark_channel_gone(at(300), EndObservedBy.RESYNC)
    record.close()
    assert record.ended_at == at(6)
    assert record.end_observed_by is EndObservedBy.RESYNC


def test_resync_observed_end_uses_the_snapshot_when_earlier() -> None:
    """A resync snapshot taken before the recorded IVR end bounds the end time."""
    record = make_record()
    record.mark_ivr_ended(EndReason.SERVICE_RESTARTED, [], at(500))
    record.mark_channel_gone(at(300), EndObservedBy.RESYNC)
    record.close()
    assert record.ended_at == at(300)


def test_ami_observed_end_is_used_even_if_later_than_ivr_end() -> None:
    """A Hangup event gives the real end, even when it came after the IVR stopped."""
    record = make_record()
    record.mark_ivr_ended(EndReason.SERVICE_ERROR, [], at(6))
    record.mark_channel_gone(at(40), EndObservedBy.AMI, 16, "Normal Clearing")
    record.close()
    assert record.ended_at == at(40)


def test_mark_answered_keeps_the_first_time() -> None:
    """The answer time is set once."""
    record = make_record()
    record.mark_answered(at(1))
    record.mark_answered(at(5))
    assert record.answered_at == at(1)


def test_summary_formats_path_and_durations() -> None:
    """The canonical log line shows node[:digit] steps, reasons as text and durations in seconds."""
    record = make_record()
    record.mark_ivr_ended(EndReason.FLOW_HANGUP, PATH, at(10))
    record.mark_channel_gone(at(10.25), EndObservedBy.AMI, 16, "Normal Clearing")
    record.close()
    assert record.summary() == {
        "call_id": "1767603600.10",
        "caller_number": "+15551230000",
        "dialed_number": "5000",
        "flow": "main",
        "flow_version": "abc123def456",
        "path": ["greeting", "main_menu:1", "sales", "goodbye"],
        "queues": [],
        "end_reason": "flow_hangup",
        "hangup_cause": 16,
        "end_observed_by": "ami",
        "duration_s": 10.25,
        "ivr_s": 10.0,
    }


def test_summary_of_an_open_call_has_no_durations() -> None:
    """Before the ends are known the summary has None for reason and durations."""
    summary = make_record().summary()
    assert summary["path"] == []
    assert (summary["end_reason"], summary["end_observed_by"], summary["duration_s"], summary["ivr_s"]) == (
        None, None, None, None)


def test_snapshot_is_independent_of_later_changes() -> None:
    """Changing the record (including its path list) after a snapshot leaves the snapshot as it was."""
    record = make_record()
    record.mark_ivr_ended(EndReason.FLOW_HANGUP, [dict(step) for step in PATH], at(10))
    snap = record.snapshot()
    record.ivr_path[0]["node"] = "changed"
    record.ivr_path.append({"node": "extra", "result": "played", "at": at(11).isoformat()})
    record.mark_channel_gone(at(12), EndObservedBy.AMI)
    record.close()
    assert snap == make_record(ivr_path=PATH, end_reason=EndReason.FLOW_HANGUP, ivr_ended_at=at(10))
    assert snap.status is CallStatus.ACTIVE and snap.ended_at is None
    assert snap is not record


def test_resync_end_of_a_call_handed_back_to_the_dialplan_is_the_snapshot_time() -> None:
    """After a shutdown hand-off the caller lived on in the dialplan, so the IVR end is not the call's end."""
    record = make_record()
    record.mark_ivr_ended(EndReason.SERVICE_SHUTDOWN, PATH[:2], at(6))
    record.mark_channel_gone(at(300), EndObservedBy.RESYNC)
    record.close()
    assert record.ended_at == at(300)


def test_requested_cause_replaces_an_unknown_hangup_cause() -> None:
    """When the Hangup event says cause 0 the cause of the caller's hangup request is recorded instead."""
    record = make_record()
    record.mark_hangup_requested(16)
    record.mark_channel_gone(at(9), EndObservedBy.AMI, 0, "Unknown")
    assert (record.hangup_cause, record.hangup_cause_text) == (16, None)
    other = make_record()
    other.mark_hangup_requested(16)
    other.mark_channel_gone(at(9), EndObservedBy.AMI, 17, "User busy")
    assert other.hangup_cause == 17


def test_summary_path_says_why_a_menu_repeated() -> None:
    """Retries and early ends are labelled in the summary path; chosen options show their digit."""
    record = make_record()
    record.ivr_path = [
        {"node": "greeting", "result": "played", "at": "x"},
        {"node": "main_menu", "result": "invalid", "digit": "9", "at": "x"},
        {"node": "main_menu", "result": "no_input", "at": "x"},
        {"node": "main_menu", "result": "digit", "digit": "1", "at": "x"},
        {"node": "sales", "result": "caller_hangup", "at": "x"},
    ]
    assert record.summary()["path"] == ["greeting", "main_menu:9[invalid]", "main_menu[no_input]", "main_menu:1",
                                        "sales[caller_hangup]"]


def test_a_stints_progress_is_replaced_by_the_next_and_by_the_finished_stint() -> None:
    """The last stint is the one going on (outcome in_progress) until the finished stint takes its place."""
    record = make_record()
    record.add_queue_stint(QueueStint("support", at(1), "overflowed", left_at=at(3), waited_s=2.0))
    record.note_stint_progress(QueueStint("sales", at(3), "answered"))  # progress is in_progress, whatever it says
    record.note_stint_progress(QueueStint("sales", at(3), STINT_IN_PROGRESS,
                                          offers=(OfferAttempt("ada", at(4), "ringing"),)))
    assert record.open_stint == QueueStint("sales", at(3), STINT_IN_PROGRESS,
                                           offers=(OfferAttempt("ada", at(4), "ringing"),))
    finished = QueueStint("sales", at(3), "abandoned", left_at=at(9), waited_s=6.0)
    record.add_queue_stint(finished)
    assert [s.queue for s in record.queue_stints] == ["support", "sales"] and record.queue_stints[-1] == finished
    assert record.open_stint is None and record.summary()["queues"] == ["support:overflowed", "sales:abandoned"]


def test_closing_finishes_the_open_stint_answered_with_its_talk_or_lost_to_the_fallback() -> None:
    """A stint left open when the record closes: the conversation ends with the call, or the wait was lost."""
    talking = make_record()
    talking.note_stint_progress(QueueStint("sales", at(1), STINT_IN_PROGRESS, waited_s=2.0,
                                           agent_leg=AgentLeg("ada", "PJSIP/agent1001", at(3))))
    talking.mark_ivr_ended(EndReason.SERVICE_RESTARTED, [], at(1))
    talking.mark_channel_gone(at(13), EndObservedBy.AMI)
    talking.close()
    (stint,) = talking.queue_stints
    assert (stint.outcome, stint.left_at, stint.talk_s, stint.agent_leg.ended_at, stint.recovered) == (
        "answered", at(13), 10.0, at(13), True)
    waiting = make_record()
    waiting.note_stint_progress(QueueStint("sales", at(1), STINT_IN_PROGRESS))
    waiting.end_open_stint(at(7))
    assert waiting.queue_stints == [QueueStint("sales", at(1), STINT_LOST, left_at=at(7), waited_s=6.0,
                                               recovered=True)]


def test_a_stint_is_shown_as_the_json_it_was_kept_as() -> None:
    """as_json: ISO times, the offers' agent/at/result, answered_at and endpoint once answered, recovered if so."""
    stint = QueueStint("sales", at(1), "answered", left_at=at(9), waited_s=2.0, estimated_wait_s=4.0,
                       offers=(OfferAttempt("ada", at(2), "answered"),), recovered=True,
                       agent_leg=AgentLeg("ada", "PJSIP/agent1001", at(3), at(9)))
    assert stint.as_json() == {
        "queue": "sales", "entered_at": at(1).isoformat(), "left_at": at(9).isoformat(), "outcome": "answered",
        "waited_s": 2.0, "agent": "ada", "talk_s": 6.0, "estimated_wait_s": 4.0,
        "offers": [{"agent": "ada", "at": at(2).isoformat(), "result": "answered"}],
        "answered_at": at(3).isoformat(), "endpoint": "PJSIP/agent1001", "recovered": True}
    assert "answered_at" not in QueueStint("sales", at(1), "abandoned").as_json()
