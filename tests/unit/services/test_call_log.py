"""The call log service (callcontrol.services.call_log): every call is recorded and closed exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcontrol.core.calls import CallRecord, CallStatus, EndObservedBy, EndReason
from callcontrol.core.events import ChannelAnswered, ChannelHungUp, ChannelsSnapshot
from callcontrol.core.interactions import STINT_IN_PROGRESS, AgentLeg, OfferAttempt, QueueStint
from callcontrol.services.call_log import CallLog
from tests.support.clock import SettableClock
from tests.support.stores import SubmittedRecords

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
PATH = [{"node": "goodbye", "result": "hangup", "at": T0.isoformat()}]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_record(uniqueid: str = "1767603600.1", started_at: datetime = T0) -> CallRecord:
    return CallRecord(
        call_id=uniqueid, uniqueid=uniqueid, channel=f"PJSIP/caller-{uniqueid}", caller_number="+15551230000",
        caller_name="Ada", dialed_number="5000", started_at=started_at, flow_id="main", flow_version="v1",
    )


def hangup(uniqueid: str, seconds: float, cause: int = 16) -> ChannelHungUp:
    return ChannelHungUp(uniqueid=uniqueid, linkedid=uniqueid, cause=cause, cause_text="Normal Clearing",
                         at=at(seconds))


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(T0)


@pytest.fixture
def writer() -> SubmittedRecords:
    return SubmittedRecords()


@pytest.fixture
def calls(writer: SubmittedRecords, clock: SettableClock) -> CallLog:
    return CallLog(writer, clock)  # type: ignore[arg-type]


def test_call_started_submits_an_active_row(calls: CallLog, writer: SubmittedRecords) -> None:
    """A new call is written at once as active and tracked by its call_id."""
    record = make_record()
    calls.call_started(record)
    assert writer.statuses(record.uniqueid) == [CallStatus.ACTIVE]
    assert calls.get(record.uniqueid) is record
    assert calls.active_count == 1


def test_hangup_then_ivr_end_closes_once(calls: CallLog, writer: SubmittedRecords, clock: SettableClock) -> None:
    """Channel gone first, IVR end second: one 'ended' row with the hangup time and cause."""
    calls.call_started(make_record())
    calls.apply(hangup("1767603600.1", 9))
    assert writer.statuses("1767603600.1") == [CallStatus.ACTIVE]
    clock.current = at(9.2)
    calls.ivr_ended("1767603600.1", EndReason.CALLER_HANGUP, PATH)
    assert writer.statuses("1767603600.1") == [CallStatus.ACTIVE, CallStatus.ENDED]
    ended = writer.submitted[-1]
    assert (ended.ended_at, ended.ivr_ended_at, ended.hangup_cause) == (at(9), at(9.2), 16)
    assert (ended.end_reason, ended.end_observed_by, ended.ivr_path) == (EndReason.CALLER_HANGUP,
                                                                         EndObservedBy.AMI, PATH)
    assert calls.active_count == 0 and calls.closed == 1


def test_ivr_end_then_hangup_closes_once(calls: CallLog, writer: SubmittedRecords, clock: SettableClock) -> None:
    """IVR end first, channel gone second: one 'ended' row at the hangup time."""
    calls.call_started(make_record())
    clock.current = at(10)
    calls.ivr_ended("1767603600.1", EndReason.FLOW_HANGUP, PATH)
    # the walk is written as soon as the IVR ends, while the channel is still up
    assert writer.statuses("1767603600.1") == [CallStatus.ACTIVE, CallStatus.ACTIVE]
    assert (writer.submitted[-1].end_reason, writer.submitted[-1].ivr_path) == (EndReason.FLOW_HANGUP, PATH)
    calls.apply(hangup("1767603600.1", 10.3))
    assert writer.statuses("1767603600.1") == [CallStatus.ACTIVE, CallStatus.ACTIVE, CallStatus.ENDED]
    assert writer.submitted[-1].ended_at == at(10.3)
    assert calls.closed == 1


def test_duplicated_hangup_events_do_not_double_close(calls: CallLog, writer: SubmittedRecords) -> None:
    """A Hangup replayed (or seen twice) after the close changes nothing."""
    calls.call_started(make_record())
    calls.ivr_ended("1767603600.1", EndReason.FLOW_HANGUP, PATH)
    calls.apply(hangup("1767603600.1", 10))
    calls.apply(hangup("1767603600.1", 10))
    calls.apply(hangup("1767603600.1", 12, cause=17))
    calls.ivr_ended("1767603600.1", EndReason.SERVICE_ERROR, [])
    assert writer.statuses("1767603600.1") == [CallStatus.ACTIVE, CallStatus.ACTIVE, CallStatus.ENDED]
    assert calls.closed == 1


def test_duplicated_hangup_before_ivr_end_keeps_the_first(calls: CallLog, writer: SubmittedRecords) -> None:
    """Two Hangup events while the IVR still runs: the first one's time and cause are kept, one close."""
    calls.call_started(make_record())
    calls.apply(hangup("1767603600.1", 5, cause=16))
    calls.apply(hangup("1767603600.1", 7, cause=17))
    calls.ivr_ended("1767603600.1", EndReason.CALLER_HANGUP, PATH)
    assert writer.statuses("1767603600.1") == [CallStatus.ACTIVE, CallStatus.ENDED]
    assert (writer.submitted[-1].ended_at, writer.submitted[-1].hangup_cause) == (at(5), 16)


def test_snapshot_closes_calls_missing_from_it_that_started_before_it(calls: CallLog, writer: SubmittedRecords,
                                                                       clock: SettableClock) -> None:
    """After an AMI reconnect, a finished call whose channel is not in the snapshot is closed by resync."""
    calls.call_started(make_record("a", started_at=at(0)))
    calls.call_started(make_record("b", started_at=at(1)))
    clock.current = at(20)
    calls.ivr_ended("a", EndReason.FLOW_HANGUP, PATH)
    calls.ivr_ended("b", EndReason.FLOW_HANGUP, PATH)
    calls.apply(ChannelsSnapshot(uniqueids=frozenset({"b", "other"}), at=at(60)))
    assert writer.statuses("a") == [CallStatus.ACTIVE, CallStatus.ACTIVE, CallStatus.ENDED]
    assert writer.statuses("b") == [CallStatus.ACTIVE, CallStatus.ACTIVE]
    closed = writer.submitted[-1]
    assert closed.end_observed_by is EndObservedBy.RESYNC
    assert closed.ended_at == at(20)  # the IVR end is earlier than the snapshot
    assert calls.get("a") is None and calls.get("b") is not None


def test_snapshot_ignores_calls_started_after_it(calls: CallLog, writer: SubmittedRecords) -> None:
    """A call that began after the snapshot was taken cannot be in it and is left alone."""
    calls.call_started(make_record("late", started_at=at(61)))
    calls.ivr_ended("late", EndReason.FLOW_HANGUP, PATH)
    calls.apply(ChannelsSnapshot(uniqueids=frozenset(), at=at(60)))
    assert writer.statuses("late") == [CallStatus.ACTIVE, CallStatus.ACTIVE]
    record = calls.get("late")
    assert record is not None and record.channel_gone_at is None


def test_snapshot_marks_gone_but_waits_for_the_ivr_end(calls: CallLog, writer: SubmittedRecords,
                                                        clock: SettableClock) -> None:
    """A channel gone from the snapshot while its IVR session still runs is closed when the IVR ends."""
    calls.call_started(make_record("a"))
    calls.apply(ChannelsSnapshot(uniqueids=frozenset(), at=at(30)))
    assert writer.statuses("a") == [CallStatus.ACTIVE]
    clock.current = at(31)
    calls.ivr_ended("a", EndReason.CALLER_HANGUP, PATH)
    assert writer.statuses("a") == [CallStatus.ACTIVE, CallStatus.ENDED]
    assert writer.submitted[-1].ended_at == at(30)


def test_events_of_unknown_channels_are_ignored(calls: CallLog, writer: SubmittedRecords) -> None:
    """Hangup, answer and IVR end for channels this service does not track change nothing."""
    calls.call_started(make_record("a"))
    calls.apply(hangup("stranger", 3))
    calls.apply(ChannelAnswered(uniqueid="stranger", linkedid="stranger", at=at(1)))
    calls.ivr_ended("stranger", EndReason.FLOW_HANGUP, PATH)
    calls.answered("stranger")
    assert [r.uniqueid for r in writer.submitted] == ["a"]
    assert calls.active_count == 1 and calls.closed == 0


def test_adopted_unfinished_calls_close_on_the_next_snapshot(calls: CallLog, writer: SubmittedRecords) -> None:
    """Records left active by a previous run end as service_restarted once a snapshot shows them gone."""
    old = make_record("old", started_at=at(-600))
    still_up = make_record("up", started_at=at(-300))
    calls.adopt_unfinished([old, still_up])
    assert calls.active_count == 2
    calls.apply(ChannelsSnapshot(uniqueids=frozenset({"up"}), at=at(5)))
    assert writer.statuses("old") == [CallStatus.ENDED]
    closed = writer.submitted[-1]
    assert closed.end_reason is EndReason.SERVICE_RESTARTED
    assert closed.end_observed_by is EndObservedBy.RESYNC
    # The caller was back in the dialplan, unseen: the snapshot time is the known upper bound of the end.
    assert closed.ended_at == at(5)
    assert calls.get("up") is not None and calls.get("up").end_reason is EndReason.SERVICE_RESTARTED


def test_adopted_call_keeps_its_known_ivr_end(calls: CallLog, writer: SubmittedRecords) -> None:
    """A record whose IVR had already ended keeps that reason and time when adopted."""
    record = make_record("done-ivr", started_at=at(-100))
    record.mark_ivr_ended(EndReason.FLOW_HANGUP, PATH, at(-90))
    calls.adopt_unfinished([record])
    calls.apply(ChannelsSnapshot(uniqueids=frozenset(), at=at(1)))
    closed = writer.submitted[-1]
    assert (closed.end_reason, closed.ended_at) == (EndReason.FLOW_HANGUP, at(-90))


def test_adopt_does_not_replace_a_call_already_tracked(calls: CallLog) -> None:
    """Adopting a record for a channel already in progress keeps the live record."""
    live = make_record("a")
    calls.call_started(live)
    calls.adopt_unfinished([make_record("a", started_at=at(-50))])
    assert calls.get("a") is live and live.end_reason is None


def test_channel_answered_sets_answered_at_once(calls: CallLog, writer: SubmittedRecords, clock: SettableClock) -> None:
    """The first answer (event or AGI) is kept; later ones do not move it."""
    calls.call_started(make_record("a"))
    calls.apply(ChannelAnswered(uniqueid="a", linkedid="a", at=at(1)))
    calls.apply(ChannelAnswered(uniqueid="a", linkedid="a", at=at(4)))
    clock.current = at(5)
    calls.answered("a")
    calls.ivr_ended("a", EndReason.FLOW_HANGUP, PATH)
    calls.apply(hangup("a", 9))
    assert writer.submitted[-1].answered_at == at(1)


def test_answered_through_agi_uses_the_clock(calls: CallLog, clock: SettableClock) -> None:
    """answered() stamps the clock's time when no answer was seen before."""
    calls.call_started(make_record("a"))
    clock.current = at(2)
    calls.answered("a")
    assert calls.get("a").answered_at == at(2)


# ---------------------------------------------------------------- written as it goes, recovered after a crash

def _state(*nodes: str):
    from callcontrol.core.ivr import IvrState, PathStep

    return IvrState(node_id="next", path=tuple(PathStep(node, "played", T0) for node in nodes))


def test_steps_only_mark_the_record_dirty_and_one_flush_writes_the_newest_walk(calls: CallLog,
                                                                             writer: SubmittedRecords) -> None:
    """Ten steps between two flushes: nothing is written per step, one snapshot with the tenth walk per flush."""
    calls.call_started(make_record())
    for count in range(1, 11):
        calls.walked("1767603600.1", _state(*(f"n{index}" for index in range(count))))
    assert len(writer.submitted) == 1  # the call's start only
    assert calls.flush() == 1
    assert [step["node"] for step in writer.submitted[-1].ivr_path] == [f"n{index}" for index in range(10)]
    assert calls.flush() == 0 and len(writer.submitted) == 2  # nothing changed: nothing written


def test_stint_progress_is_flushed_and_the_finished_stint_takes_its_place(calls: CallLog,
                                                                          writer: SubmittedRecords) -> None:
    calls.call_started(make_record())
    calls.stint_progress("1767603600.1", QueueStint("sales", T0, STINT_IN_PROGRESS))
    calls.flush()
    assert [s.outcome for s in writer.submitted[-1].queue_stints] == ["in_progress"]
    calls.queue_stint("1767603600.1", QueueStint("sales", T0, "timed_out", left_at=at(20), waited_s=20.0))
    calls.flush()
    assert writer.submitted[-1].queue_stints == [QueueStint("sales", T0, "timed_out", left_at=at(20), waited_s=20.0)]


def test_the_call_path_is_keyed_by_call_id_and_channel_events_by_the_channels_uniqueid(
        calls: CallLog, writer: SubmittedRecords) -> None:
    """The call key (linkedid) names the call for the IVR and the ACD; AMI's events name the caller's channel."""
    record = CallRecord(call_id="L.1", uniqueid="u.7", channel="PJSIP/trunk-7", caller_number="1", caller_name="x",
                        dialed_number="5000", started_at=T0)
    calls.call_started(record)
    calls.stint_progress("L.1", QueueStint("sales", T0, STINT_IN_PROGRESS))
    calls.stint_progress("u.7", QueueStint("other", T0, STINT_IN_PROGRESS))  # not a call key: nothing
    calls.apply(ChannelAnswered(uniqueid="u.7", linkedid="L.1", at=at(1)))
    calls.ivr_ended("L.1", EndReason.FLOW_HANGUP, PATH)
    calls.apply(ChannelHungUp("u.7", "L.1", 16, "Normal Clearing", at(9), "PJSIP/trunk-7"))
    closed = writer.submitted[-1]
    assert (closed.call_id, closed.status, closed.answered_at, closed.ended_at) == ("L.1", CallStatus.ENDED, at(1),
                                                                                    at(9))
    assert [s.queue for s in closed.queue_stints] == ["sales"] and calls.get("L.1") is None


def test_a_walk_flushed_after_the_ivr_ended_never_overwrites_the_final_path(calls: CallLog,
                                                                           writer: SubmittedRecords) -> None:
    calls.call_started(make_record())
    calls.walked("1767603600.1", _state("greeting"))
    calls.ivr_ended("1767603600.1", EndReason.FLOW_HANGUP, PATH)
    calls.walked("1767603600.1", _state("greeting"))  # a late step: ignored once the walk ended
    calls.flush()
    assert all(record.ivr_path == PATH for record in writer.submitted[1:])


def test_flusher_task_writes_dirty_records_every_interval() -> None:
    import asyncio

    async def scenario() -> list[CallRecord]:
        writer = SubmittedRecords()
        calls = CallLog(writer, SettableClock(T0))  # type: ignore[arg-type]
        calls.call_started(make_record())
        flusher = asyncio.create_task(calls.run_flusher(0.01))
        calls.walked("1767603600.1", _state("greeting"))
        await asyncio.sleep(0.05)
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
        return writer.submitted

    submitted = asyncio.run(scenario())
    assert [step["node"] for step in submitted[-1].ivr_path] == ["greeting"]


def _crashed_in_a_conversation() -> CallRecord:
    """As a killed service left it: the walk so far and a stint where ada answered at 3 s."""
    record = make_record("c.1")
    record.note_walk([{"node": "greeting", "result": "played", "at": at(1).isoformat()}], {})
    record.note_stint_progress(QueueStint("sales", at(2), STINT_IN_PROGRESS, waited_s=1.0,
                                          offers=(OfferAttempt("ada", at(2), "answered"),),
                                          agent_leg=AgentLeg("ada", "PJSIP/agent1001", at(3))))
    return record


def test_adopted_call_ended_while_down_takes_asterisks_end_and_the_agents_leg_ends_the_talk(
        calls: CallLog, writer: SubmittedRecords) -> None:
    record = _crashed_in_a_conversation()
    legs = [ChannelHungUp("c.2", "c.1", 16, "", at(5), "PJSIP/agent1002-00000002"),  # a missed offer's leg
            ChannelHungUp("c.3", "c.1", 16, "", at(12), "PJSIP/agent1001-00000003"),
            ChannelHungUp("c.1", "c.1", 16, "", at(15), "PJSIP/trunk-00000001"),
            ChannelHungUp("z.1", "z.1", 16, "", at(15), "PJSIP/trunk-00000009")]  # another call
    calls.adopt_unfinished([record], legs)
    closed = writer.submitted[-1]
    assert (closed.status, closed.ended_at, closed.end_observed_by, closed.hangup_cause) == (
        CallStatus.ENDED, at(15), EndObservedBy.HANGUP_LOG, 16)
    assert (closed.end_reason, closed.ivr_ended_at) == (EndReason.SERVICE_RESTARTED, at(1))
    assert [step["node"] for step in closed.ivr_path] == ["greeting"]
    (stint,) = closed.queue_stints
    assert (stint.outcome, stint.agent, stint.talk_s, stint.recovered) == ("answered", "ada", 9.0, True)
    assert calls.active_count == 0 and calls.closed == 1


def test_adopted_call_the_log_does_not_have_is_followed_until_the_snapshot(calls: CallLog,
                                                                          writer: SubmittedRecords) -> None:
    """No line: still up (followed live), or gone after the log was read: the snapshot's time, said so."""
    calls.adopt_unfinished([_crashed_in_a_conversation()], [])
    assert calls.active_count == 1 and writer.submitted == []
    calls.apply(ChannelsSnapshot(uniqueids=frozenset(), at=at(30)))
    closed = writer.submitted[-1]
    assert (closed.ended_at, closed.end_observed_by) == (at(30), EndObservedBy.RESYNC)
    assert closed.queue_stints[0].outcome == "answered" and closed.queue_stints[0].talk_s == 27.0


def test_snapshot_after_an_ami_outage_takes_the_end_from_the_hangup_log(calls: CallLog, writer: SubmittedRecords,
                                                                       clock: SettableClock) -> None:
    calls.call_started(make_record("a", started_at=at(0)))
    clock.current = at(20)
    calls.ivr_ended("a", EndReason.SERVICE_ERROR, PATH)  # handed to the dialplan: its end is Asterisk's
    snapshot = ChannelsSnapshot(uniqueids=frozenset(), at=at(60))
    assert [record.uniqueid for record in calls.gone_in(snapshot)] == ["a"]
    calls.apply(snapshot, [ChannelHungUp("a", "a", 17, "", at(24), "PJSIP/trunk-1")])
    closed = writer.submitted[-1]
    assert (closed.ended_at, closed.end_observed_by, closed.hangup_cause) == (at(24), EndObservedBy.HANGUP_LOG, 17)
    assert calls.closed == 1


def test_a_caller_lost_while_waiting_gets_a_failed_stint(calls: CallLog, writer: SubmittedRecords) -> None:
    record = make_record("w.1")
    record.note_stint_progress(QueueStint("sales", at(2), STINT_IN_PROGRESS,
                                          offers=(OfferAttempt("bob", at(3), "ringing"),)))
    calls.adopt_unfinished([record], [ChannelHungUp("w.1", "w.1", 16, "", at(10), "PJSIP/trunk-1")])
    (stint,) = writer.submitted[-1].queue_stints
    assert (stint.outcome, stint.waited_s, stint.left_at, stint.recovered) == ("failed", 8.0, at(10), True)


def test_adopted_conversation_still_up_ends_its_talk_at_the_agents_live_hangup(calls: CallLog,
                                                                              writer: SubmittedRecords) -> None:
    """Still talking after the restart: the agent's Hangup (AMI, same linkedid) ends the talk, the caller's
    own Hangup closes the record."""
    calls.adopt_unfinished([_crashed_in_a_conversation()], [])
    calls.apply(ChannelHungUp("c.2", "c.1", 16, "", at(6), "PJSIP/agent1002-00000002"))  # not ada's device
    calls.apply(ChannelHungUp("c.3", "c.1", 16, "Normal Clearing", at(20), "PJSIP/agent1001-00000003"))
    calls.apply(ChannelHungUp("c.1", "c.1", 16, "Normal Clearing", at(23), "PJSIP/trunk-00000001"))
    closed = writer.submitted[-1]
    assert (closed.status, closed.ended_at, closed.end_observed_by) == (CallStatus.ENDED, at(23), EndObservedBy.AMI)
    (stint,) = closed.queue_stints
    assert (stint.outcome, stint.talk_s, stint.left_at) == ("answered", 17.0, at(20))
