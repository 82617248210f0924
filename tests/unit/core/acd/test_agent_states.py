"""The agent state machine (callcontrol.core.acd.agent_states): legal transitions, their records, rule errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcontrol.core.acd import agent_states as st
from callcontrol.core.acd import errors
from callcontrol.core.acd.agent_states import AgentState, AgentStatus, Cause

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def logged_in(**changes: object) -> AgentStatus:
    status = st.login(AgentStatus("a1"), T0).status
    return AgentStatus(**{**status.__dict__, **changes})  # type: ignore[arg-type]


def on_call(call_id: str = "c1") -> AgentStatus:
    status = st.reserve(logged_in(), call_id, at(1)).status
    return st.answered(status, call_id, at(2)).status


def test_login_makes_agent_available_and_records_the_transition() -> None:
    """Logging in moves logged_out -> available, idle from now, with a 'login' transition record."""
    step = st.login(AgentStatus("a1"), T0)
    assert step.status.state is AgentState.AVAILABLE
    assert step.status.idle_since == T0 and step.status.routable
    assert step.transition == st.Transition("a1", AgentState.LOGGED_OUT, AgentState.AVAILABLE, T0, Cause.LOGIN)


def test_login_with_unreachable_device_is_unavailable() -> None:
    """An agent whose device is unregistered logs in as unavailable."""
    step = st.login(AgentStatus("a1", reachable=False), T0)
    assert step.status.state is AgentState.UNAVAILABLE and not step.status.routable


def test_login_twice_is_refused() -> None:
    """A second login raises AgentAlreadyLoggedIn."""
    with pytest.raises(errors.AgentAlreadyLoggedIn):
        st.login(logged_in(), at(1))


@pytest.mark.parametrize("action", [
    lambda s: st.logout(s, T0), lambda s: st.pause(s, "lunch", T0), lambda s: st.resume(s, T0),
    lambda s: st.reserve(s, "c1", T0),
])
def test_requests_on_a_logged_out_agent_raise_agent_not_logged_in(action) -> None:
    """Logout, pause, resume and offers to a logged-out agent raise AgentNotLoggedIn."""
    with pytest.raises(errors.AgentNotLoggedIn):
        action(AgentStatus("a1"))


def test_pause_and_resume_round_trip() -> None:
    """Pause shows the reason; resume returns to available with a fresh idle time and misses forgotten."""
    paused = st.pause(logged_in(misses=2), "lunch", at(5))
    assert paused.status.state is AgentState.PAUSED
    assert paused.transition is not None and paused.transition.reason == "lunch"
    resumed = st.resume(paused.status, at(60))
    assert resumed.status.state is AgentState.AVAILABLE
    assert resumed.status.idle_since == at(60) and resumed.status.misses == 0
    assert resumed.transition is not None and resumed.transition.cause is Cause.RESUME


def test_resume_when_not_paused_raises() -> None:
    """Resuming an available agent raises AgentNotPaused."""
    with pytest.raises(errors.AgentNotPaused):
        st.resume(logged_in(), at(1))


def test_pause_needs_a_reason() -> None:
    """An empty pause reason is refused."""
    with pytest.raises(ValueError):
        st.pause(logged_in(), " ", at(1))


def test_reserve_twice_raises_already_reserved() -> None:
    """An agent ringing for one call cannot be reserved for another."""
    ringing = st.reserve(logged_in(), "c1", at(1)).status
    with pytest.raises(errors.AgentAlreadyReserved):
        st.reserve(ringing, "c2", at(2))


@pytest.mark.parametrize("status, error", [
    (lambda: st.pause(logged_in(), "lunch", T0).status, errors.AgentNotAvailable),
    (lambda: on_call(), errors.AgentNotAvailable),
    (lambda: logged_in(device_busy=True), errors.AgentDeviceBusy),
])
def test_reserve_needs_an_available_agent_with_a_free_device(status, error) -> None:
    """Paused or talking agents, and agents on a personal call, are not offered calls."""
    with pytest.raises(error):
        st.reserve(status(), "c9", at(5))


def test_answer_reset_misses_and_call_end_starts_wrap_up() -> None:
    """Answer -> on_call (misses reset); call end -> wrap_up until end + wrap time; timer -> available."""
    ringing = st.reserve(logged_in(misses=1), "c1", at(1)).status
    talking = st.answered(ringing, "c1", at(3)).status
    assert talking.state is AgentState.ON_CALL and talking.misses == 0 and talking.call_id == "c1"
    wrap = st.call_ended(talking, "c1", at(100), wrap_up_s=10)
    assert wrap.status.state is AgentState.WRAP_UP and wrap.status.wrap_up_until == at(110)
    back = st.wrap_up_ended(wrap.status, at(110))
    assert back.status.state is AgentState.AVAILABLE and back.status.idle_since == at(110)
    assert back.transition is not None and back.transition.cause is Cause.WRAP_UP_ENDED


def test_call_end_without_wrap_up_goes_straight_to_available() -> None:
    """Zero wrap-up: on_call -> available."""
    step = st.call_ended(on_call(), "c1", at(50), wrap_up_s=0)
    assert step.status.state is AgentState.AVAILABLE and step.status.call_id is None


def test_answer_for_another_call_raises_not_reserved() -> None:
    """An answer reported for a call the agent is not ringing for raises AgentNotReserved."""
    ringing = st.reserve(logged_in(), "c1", at(1)).status
    with pytest.raises(errors.AgentNotReserved):
        st.answered(ringing, "c2", at(2))
    with pytest.raises(errors.AgentNotOnCall):
        st.call_ended(ringing, "c1", at(2), 0)


def test_misses_pause_the_agent_after_the_configured_count() -> None:
    """Each miss returns the agent to available with a fresh idle time, until max_misses pauses it 'missed'."""
    status = logged_in()
    for n in range(1, 3):
        status = st.reserve(status, f"c{n}", at(n)).status
        step = st.missed(status, f"c{n}", at(n + 0.5), max_misses=3)
        status = step.status
        assert status.state is AgentState.AVAILABLE and status.misses == n and status.idle_since == at(n + 0.5)
    status = st.reserve(status, "c3", at(4)).status
    step = st.missed(status, "c3", at(5), max_misses=3)
    assert step.status.state is AgentState.PAUSED and step.status.pause_reason == st.MISSED
    assert step.transition == st.Transition("a1", AgentState.RESERVED, AgentState.PAUSED, at(5), Cause.MISSED,
                                            reason=st.MISSED, call_id="c3")


def test_max_misses_none_never_pauses() -> None:
    """With max_misses None the agent is never auto-paused."""
    status = logged_in()
    for n in range(10):
        status = st.missed(st.reserve(status, "c", at(n)).status, "c", at(n), max_misses=None).status
    assert status.state is AgentState.AVAILABLE


def test_withdrawn_offer_keeps_idle_time_and_misses() -> None:
    """A caller hanging up while the agent rings returns the agent to available, idle time unchanged."""
    status = logged_in(misses=1)
    ringing = st.reserve(status, "c1", at(30)).status
    step = st.withdrawn(ringing, "c1", at(31))
    assert step.status.state is AgentState.AVAILABLE
    assert step.status.idle_since == T0 and step.status.misses == 1
    assert step.transition is not None and step.transition.cause is Cause.WITHDRAWN


def test_pause_during_a_call_applies_after_wrap_up() -> None:
    """A pause asked on a call records no transition now; the agent is paused when the wrap-up ends."""
    step = st.pause(on_call(), "training", at(10))
    assert step.transition is None and step.status.state is AgentState.ON_CALL
    wrap = st.call_ended(step.status, "c1", at(20), wrap_up_s=5).status
    assert wrap.state is AgentState.WRAP_UP
    end = st.wrap_up_ended(wrap, at(25))
    assert end.status.state is AgentState.PAUSED and end.status.pause_reason == "training"


def test_resume_cancels_a_pending_pause() -> None:
    """Resume on a call cancels the pause asked earlier, with no transition."""
    pending = st.pause(on_call(), "training", at(10)).status
    step = st.resume(pending, at(11))
    assert step.transition is None and step.status.pause_reason is None
    assert st.call_ended(step.status, "c1", at(20), 0).status.state is AgentState.AVAILABLE


def test_resume_in_wrap_up_ends_it_early() -> None:
    """Resume ('ready') during wrap-up makes the agent available at once."""
    wrap = st.call_ended(on_call(), "c1", at(20), wrap_up_s=30).status
    step = st.resume(wrap, at(22))
    assert step.status.state is AgentState.AVAILABLE and step.status.wrap_up_until is None


def test_pause_in_wrap_up_is_immediate() -> None:
    """Pause during wrap-up ends the wrap-up and pauses at once."""
    wrap = st.call_ended(on_call(), "c1", at(20), wrap_up_s=30).status
    step = st.pause(wrap, "break", at(21))
    assert step.status.state is AgentState.PAUSED and step.status.wrap_up_until is None


def test_logout_refused_while_ringing_or_talking() -> None:
    """Logout raises AgentRinging while reserved and AgentOnCall while on a call."""
    with pytest.raises(errors.AgentRinging):
        st.logout(st.reserve(logged_in(), "c1", at(1)).status, at(2))
    with pytest.raises(errors.AgentOnCall):
        st.logout(on_call(), at(5))


def test_logout_from_pause_clears_the_reason() -> None:
    """Logout from paused -> logged_out; the next login is available, not paused."""
    paused = st.pause(logged_in(), "lunch", at(1)).status
    out = st.logout(paused, at(2)).status
    assert out.state is AgentState.LOGGED_OUT and out.pause_reason is None
    assert st.login(out, at(3)).status.state is AgentState.AVAILABLE


def test_device_unreachable_and_back_restores_the_pause() -> None:
    """A paused agent whose device unregisters is unavailable, and paused again (same reason) when it returns."""
    paused = st.pause(logged_in(), "lunch", at(1)).status
    gone = st.device_reachable(paused, False, at(2))
    assert gone.status.state is AgentState.UNAVAILABLE
    assert gone.transition is not None and gone.transition.cause is Cause.DEVICE_UNREACHABLE
    back = st.device_reachable(gone.status, True, at(3))
    assert back.status.state is AgentState.PAUSED and back.status.pause_reason == "lunch"


def test_device_lost_during_a_call_settles_unavailable_at_call_end() -> None:
    """On a call the device flag changes without a transition; at call end the agent becomes unavailable."""
    step = st.device_reachable(on_call(), False, at(5))
    assert step.transition is None and step.status.state is AgentState.ON_CALL
    end = st.call_ended(step.status, "c1", at(9), wrap_up_s=10)
    assert end.status.state is AgentState.UNAVAILABLE


def test_device_busy_is_a_flag_that_blocks_routing() -> None:
    """A personal call sets a flag (no transition) that makes the agent not routable."""
    step = st.device_busy(logged_in(), True, at(1))
    assert step.transition is None and step.status.state is AgentState.AVAILABLE and not step.status.routable
    assert st.device_busy(step.status, False, at(2)).status.routable


def test_wrap_up_end_when_not_in_wrap_up_raises() -> None:
    """The wrap-up timer for an agent no longer in wrap-up raises AgentNotInWrapUp."""
    with pytest.raises(errors.AgentNotInWrapUp):
        st.wrap_up_ended(logged_in(), at(1))


def test_errors_carry_their_rule_name() -> None:
    """An error's rule is its class name, for the API to map."""
    with pytest.raises(errors.AcdError) as caught:
        st.resume(logged_in(), at(1))
    assert caught.value.rule == "AgentNotPaused" and isinstance(caught.value, errors.Conflict)
