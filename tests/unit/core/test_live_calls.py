"""The live calls board: each call's states and their durations, a masked caller, who sees which call, the filter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcontrol.core.live_calls import (
    CallState,
    LiveCall,
    LiveCallBoard,
    LiveCallFilter,
    RecordingState,
    live_call_view,
    masked_number,
    masks_caller,
    sees_live_call,
)
from callcontrol.core.permissions import Permission, Principal, Role, allows
from tests.support.clock import T0

ADMIN = Principal("root", Role.ADMIN)
SALES_SUP = Principal("sue", Role.SUPERVISOR, teams={"sales"})
QUEUE_SUP = Principal("quinn", Role.SUPERVISOR, queues={"billing"})
SUPPORT_SUP = Principal("sam", Role.SUPERVISOR, teams={"support"})
ADA = Principal("ada", Role.AGENT, agent_id="ada")
BOB = Principal("bob", Role.AGENT, agent_id="bob")
RITA = Principal("rita", Role.REPORTING)
QUEUE_TEAMS = {"sales": {"sales"}, "billing": {"finance"}}
AGENT_TEAMS = {"ada": {"sales"}, "bob": {"support"}}


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


def board_with_call(call_id: str = "c1") -> LiveCallBoard:
    board = LiveCallBoard()
    board.started(LiveCall(call_id, "+15550100", "Carol", "5000", "main", T0))
    return board


def queue_teams(queue: str) -> set[str]:
    return QUEUE_TEAMS.get(queue, set())


def agent_teams(agent: str) -> set[str]:
    return AGENT_TEAMS.get(agent, set())


def test_a_call_goes_from_the_ivr_to_waiting_ringing_talking_on_hold_and_wrap_up_with_its_durations():
    """Each moment moves the call on; the time spent in each state is kept, the current one counted up to now."""
    board = board_with_call()
    assert board.get("c1").state is CallState.IVR and board.get("c1").state_since == T0
    assert board.queued("c1", "sales", at(5)).state is CallState.WAITING
    assert board.queued("c1", "sales", at(6)) is None  # the same wait moving on: nothing a viewer sees
    ringing = board.offered("c1", "ada", "sales", at(20))
    assert (ringing.state, ringing.agent, ringing.queue) == (CallState.RINGING, "ada", "sales")
    talking = board.answered("c1", "ada", at(23))
    assert talking.state is CallState.TALKING and talking.state_since == at(23)
    assert board.answered("c1", "ada", at(23)) is None  # AgentAnswered then ConversationStarted: once
    assert board.queued("c1", "sales", at(23)) is None  # the stint's progress after the answer keeps it talking
    assert board.hold_changed("c1", True, at(40)).state is CallState.ON_HOLD
    assert board.hold_changed("c1", True, at(41)) is None
    assert board.hold_changed("c1", False, at(50)).state is CallState.TALKING
    assert board.conversation_ended("c1", at(60)).state is CallState.IVR
    wrap = board.wrap_up_started("ada", "c1", at(60))
    assert wrap.state is CallState.WRAP_UP and wrap.agent == "ada"
    assert wrap.durations_s(at(62)) == {"ivr": 5.0, "waiting": 15.0, "ringing": 3.0, "talking": 27.0,
                                        "on_hold": 10.0, "wrap_up": 2.0}
    assert wrap.total_s(at(62)) == 62.0 and wrap.state_s(at(62)) == 2.0


def test_a_missed_offer_goes_back_to_waiting_and_a_wait_that_ends_unanswered_back_to_the_flow():
    board = board_with_call()
    board.queued("c1", "sales", at(1))
    board.offered("c1", "ada", "sales", at(2))
    assert board.missed("c1", "bob", at(3)) is None  # not the agent rung
    back = board.missed("c1", "ada", at(10))
    assert back.state is CallState.WAITING and back.agent is None and back.durations_s(at(10))["ringing"] == 8.0
    left = board.wait_ended("c1", at(30))
    assert left.state is CallState.IVR and left.queue == "sales"  # the queue it came from stays (scope)
    assert board.wait_ended("c1", at(31)) is None


def test_hold_only_during_a_conversation():
    board = board_with_call()
    assert board.hold_changed("c1", True, at(1)) is None
    assert board.hold_changed("c1", False, at(1)) is None
    assert board.hold_changed("nope", True, at(1)) is None


def test_a_call_whose_caller_is_gone_stays_for_its_agent_s_wrap_up_then_leaves():
    """ended() during the wrap-up keeps the call (caller_gone, recording none); the wrap-up's end removes it."""
    board = board_with_call()
    board.answered("c1", "ada", at(1))
    board.recording_changed("c1", RecordingState.RECORDING)
    board.wrap_up_started("ada", "c1", at(9))
    kept, gone = board.ended("c1")
    assert not gone and kept.caller_gone and kept.recording is RecordingState.NONE and kept.state is CallState.WRAP_UP
    assert board.wrap_up_ended("ada", at(12)) == (None, "c1")
    assert board.get("c1") is None
    assert board.wrap_up_ended("ada", at(13)) == (None, None)


def test_a_wrap_up_that_ends_while_the_caller_is_still_there_puts_it_back_in_the_flow():
    board = board_with_call()
    board.answered("c1", "ada", at(1))
    board.wrap_up_started("ada", "c1", at(5))
    call, gone = board.wrap_up_ended("ada", at(8))
    assert gone is None and call.state is CallState.IVR
    assert board.ended("c1") == (None, True) and board.get("c1") is None
    assert board.ended("c1") == (None, False)


def test_a_call_queued_again_is_waiting_whichever_comes_first_its_new_wait_or_its_last_agent_s_wrap_up():
    """A transfer to a queue: the caller waits again; the agent it left wraps up on its own, the call is not shown
    in wrap_up, and that wrap-up's end changes nothing."""
    for wrap_first in (True, False):
        board = board_with_call()
        board.answered("c1", "ada", at(1))
        board.conversation_ended("c1", at(5))
        if wrap_first:
            assert board.wrap_up_started("ada", "c1", at(5)).state is CallState.WRAP_UP
        assert board.queued("c1", "billing", at(5)).state is CallState.WAITING
        if not wrap_first:
            assert board.wrap_up_started("ada", "c1", at(5)) is None
        assert board.get("c1").queue == "billing"
        assert board.wrap_up_ended("ada", at(8)) == (None, None) and board.get("c1").state is CallState.WAITING
    talking_to_bob = board.answered("c1", "bob", at(9))
    assert board.wrap_up_started("ada", "c1", at(10)) is None and board.get("c1") == talking_to_bob


def test_recording_and_supervisors_change_only_when_they_differ():
    board = board_with_call()
    assert board.recording_changed("c1", RecordingState.NONE) is None
    assert board.recording_changed("c1", RecordingState.PAUSED).recording is RecordingState.PAUSED
    assert board.supervision_changed("c1", ("sue", "sue", "sam")).supervisors == ("sue", "sam")
    assert board.supervision_changed("c1", ["sue", "sam"]) is None
    assert board.supervision_changed("c1", ()).supervisors == ()
    assert board.supervision_changed("unknown", ("sue",)) is None


@pytest.mark.parametrize(("number", "masked"), [
    ("+15550100", "*****0100"), ("12345", "*2345"), ("1234", "****"), ("", ""), ("anonymous", "*****mous")])
def test_a_masked_number_keeps_its_last_four_characters_only(number: str, masked: str):
    assert masked_number(number) == masked


def test_callers_are_masked_for_the_configured_roles_never_for_the_admin():
    roles = frozenset({Role.AGENT, Role.ADMIN})
    assert masks_caller(ADA, roles) and not masks_caller(SALES_SUP, roles) and not masks_caller(ADMIN, roles)
    call = board_with_call().get("c1")
    shown = live_call_view(call, at(3), masked=True)
    assert shown["caller_number"] == "*****0100" and shown["caller_name"] is None and shown["caller_masked"]
    plain = live_call_view(call, at(3), masked=False)
    assert plain["caller_number"] == "+15550100" and plain["caller_name"] == "Carol" and plain["total_s"] == 3.0


def test_who_sees_a_live_call():
    """The admin all (the IVR part too); a supervisor through the call's queue or agent; an agent its own only;
    reporting none (and it lacks the permission)."""
    board = board_with_call()
    in_ivr = board.get("c1")
    assert sees_live_call(ADMIN, in_ivr, queue_teams, agent_teams)
    assert not any(sees_live_call(p, in_ivr, queue_teams, agent_teams) for p in (SALES_SUP, ADA, RITA))
    waiting = board.queued("c1", "sales", at(1))
    assert sees_live_call(SALES_SUP, waiting, queue_teams, agent_teams)
    assert not sees_live_call(SUPPORT_SUP, waiting, queue_teams, agent_teams)
    assert not sees_live_call(ADA, waiting, queue_teams, agent_teams)  # not on it yet
    with_bob = board.offered("c1", "bob", "sales", at(2))
    assert sees_live_call(SUPPORT_SUP, with_bob, queue_teams, agent_teams)  # through its agent's team
    assert sees_live_call(BOB, with_bob, queue_teams, agent_teams) and not sees_live_call(ADA, with_bob, queue_teams,
                                                                                           agent_teams)
    billing = LiveCall("c2", "1", "", "5000", None, T0, state=CallState.WAITING, queue="billing")
    assert sees_live_call(QUEUE_SUP, billing, queue_teams, agent_teams)
    assert not sees_live_call(SALES_SUP, billing, queue_teams, agent_teams)
    assert not sees_live_call(RITA, billing, queue_teams, agent_teams)
    assert not allows(RITA, Permission.CALLS_VIEW)
    assert all(allows(p, Permission.CALLS_VIEW) for p in (ADMIN, SALES_SUP, ADA))


def test_the_filter_by_state_queue_and_team():
    call = LiveCall("c1", "1", "", "5000", None, T0, state=CallState.TALKING, queue="billing", agent="ada")
    assert LiveCallFilter().matches(call, queue_teams, agent_teams)
    assert LiveCallFilter(state=CallState.TALKING, queue="billing").matches(call, queue_teams, agent_teams)
    assert not LiveCallFilter(state=CallState.WAITING).matches(call, queue_teams, agent_teams)
    assert not LiveCallFilter(queue="sales").matches(call, queue_teams, agent_teams)
    assert LiveCallFilter(team="finance").matches(call, queue_teams, agent_teams)  # its queue's
    assert LiveCallFilter(team="sales").matches(call, queue_teams, agent_teams)  # its agent's
    assert not LiveCallFilter(team="support").matches(call, queue_teams, agent_teams)
