"""The ACD router (callcontrol.core.acd.router.Distributor): ordering, strategies, offers, escalation, explain, EWT."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from callcontrol.core.recording_policy import RecordingPolicy

from callcontrol.core.acd import errors
from callcontrol.core.acd.agent_states import AgentState, Cause
from callcontrol.core.acd.model import (
    AddTeam,
    Agent,
    Call,
    DropPreferred,
    EscalationRule,
    InvalidConfig,
    Overflow,
    Queue,
    RelaxSkill,
    Strategy,
)
from callcontrol.core.acd.outcomes import Offer, Outcome
from callcontrol.core.acd.router import Distributor

T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def agent(agent_id: str, skills: dict[str, int] | None = None, teams: tuple[str, ...] = (), **kw: object) -> Agent:
    return Agent(agent_id, f"Agent {agent_id}", f"PJSIP/{agent_id}", skills or {"en": 5}, frozenset(teams),
                 **kw)  # type: ignore[arg-type]


def queue(queue_id: str = "q", **kw: object) -> Queue:
    kw.setdefault("required_skills", {"en": 1})
    return Queue(queue_id, queue_id.title(), **kw)  # type: ignore[arg-type]


def call(call_id: str, arrived: float, queue_id: str = "q", **kw: object) -> Call:
    return Call(call_id, queue_id, at(arrived), **kw)  # type: ignore[arg-type]


def only_offer(outcome: Outcome) -> Offer:
    assert len(outcome.offers) == 1, outcome.offers
    return outcome.offers[0]


def logged_in(d: Distributor, *agent_ids: str, start: float = 0.0) -> None:
    for n, agent_id in enumerate(agent_ids):
        d.login(agent_id, at(start + n))


# ---------------------------------------------------------------- basics and ordering


def test_call_goes_to_the_longest_idle_agent_with_a_complete_offer() -> None:
    """With longest_idle, the agent available the longest is offered the call; the offer says what to dial."""
    d = Distributor([queue(ring_timeout_s=20)], [agent("a1"), agent("a2")], offer_grace_s=5)
    logged_in(d, "a2", "a1")
    out = d.call_arrived(call("c1", 10), at(10))
    assert only_offer(out) == Offer("c1", "a2", "q", "PJSIP/a2", 20, at(10), at(35))
    assert [t.to_state for t in out.transitions] == [AgentState.RESERVED]
    assert d.agent_status("a2").state is AgentState.RESERVED and d.waiting("q") == []


def test_no_free_agent_keeps_the_call_waiting_until_one_logs_in() -> None:
    """A call with nobody free waits; the agent who logs in is offered it at once."""
    d = Distributor([queue()], [agent("a1")])
    assert d.call_arrived(call("c1", 0), at(0)).offers == ()
    assert d.waiting("q") == ["c1"]
    assert only_offer(d.login("a1", at(5))).call_id == "c1"


def test_callers_are_served_by_priority_then_original_arrival() -> None:
    """Higher priority first; equal priorities by original arrival, whatever the order they were queued in."""
    d = Distributor([queue(priority=1)], [agent("a1")])
    d.call_arrived(call("late", 20), at(30))
    d.call_arrived(call("early", 10), at(31))  # came back (callback) with its original arrival
    d.call_arrived(call("vip", 25, priority=5), at(32))
    d.call_arrived(call("low", 0, priority=0), at(33))
    assert d.waiting("q") == ["vip", "early", "late", "low"]
    assert only_offer(d.login("a1", at(40))).call_id == "vip"


def test_agent_in_several_queues_takes_the_longest_waiting_caller_across_them() -> None:
    """A free agent serving two queues gets the caller who waited longest, whichever queue it is in."""
    d = Distributor([queue("a"), queue("b")], [agent("x")])
    d.call_arrived(call("b1", 5, "b"), at(5))
    d.call_arrived(call("a1", 8, "a"), at(8))
    assert only_offer(d.login("x", at(10))).call_id == "b1"


def test_queue_priority_beats_wait_and_weight_scales_wait() -> None:
    """Across queues, a higher-priority caller wins over a longer wait; at equal priority wait x weight decides."""
    d = Distributor([queue("a", priority=1), queue("b")], [agent("x")])
    d.call_arrived(call("b1", 0, "b"), at(0))
    d.call_arrived(call("a1", 50, "a"), at(50))
    assert only_offer(d.login("x", at(60))).call_id == "a1"

    d = Distributor([queue("a", weight=3.0), queue("b")], [agent("x")])
    d.call_arrived(call("b1", 0, "b"), at(0))  # waited 60 s at login, weight 1 -> 60
    d.call_arrived(call("a1", 30, "a"), at(30))  # waited 30 s, weight 3 -> 90
    assert only_offer(d.login("x", at(60))).call_id == "a1"


def test_call_skills_are_required_on_top_of_the_queue() -> None:
    """A call needing spanish 5 skips an agent with spanish 3 and waits for one who has it."""
    d = Distributor([queue()], [agent("weak", {"en": 5, "es": 3}), agent("strong", {"en": 2, "es": 7})])
    d.login("weak", at(0))
    assert d.call_arrived(call("c1", 1, skills={"es": 5}), at(1)).offers == ()
    assert only_offer(d.login("strong", at(2))).agent_id == "strong"


def test_team_restriction() -> None:
    """A queue drawing from team billing offers nothing to an agent of another team."""
    d = Distributor([queue(teams=frozenset({"billing"}))],
                    [agent("s", teams=("sales",)), agent("b", teams=("billing",))])
    logged_in(d, "s", "b")
    assert only_offer(d.call_arrived(call("c1", 5), at(5))).agent_id == "b"


# ---------------------------------------------------------------- strategies


def test_best_skill_prefers_the_highest_level_then_idle_time() -> None:
    """best_skill offers to the highest summed level on the required skills; equal levels by idle time."""
    q = queue(required_skills={"en": 1, "es": 1}, strategy=Strategy.BEST_SKILL)
    d = Distributor([q], [agent("low", {"en": 9, "es": 1}), agent("hi1", {"en": 6, "es": 6}),
                          agent("hi2", {"en": 6, "es": 6})])
    logged_in(d, "low", "hi2", "hi1")
    assert only_offer(d.call_arrived(call("c1", 10), at(10))).agent_id == "hi2"
    assert only_offer(d.call_arrived(call("c2", 11), at(11))).agent_id == "hi1"


def _handle(d: Distributor, call_id: str, start: float, talk: float) -> str:
    offer = only_offer(d.call_arrived(call(call_id, start), at(start)))
    d.offer_answered(call_id, offer.agent_id, at(start + 1))
    d.call_ended(offer.agent_id, at(start + 1 + talk))
    return offer.agent_id


def test_fewest_calls_counts_answered_calls_today() -> None:
    """fewest_calls offers to the agent with fewer answered calls today, whatever the idle times."""
    d = Distributor([queue(strategy=Strategy.FEWEST_CALLS)], [agent("a"), agent("b")])
    logged_in(d, "a", "b")
    assert _handle(d, "c1", 10, 5) == "a"  # both 0 calls, a idle longer
    assert _handle(d, "c2", 20, 5) == "b"
    assert _handle(d, "c3", 30, 5) == "a"  # 1 each, a idle since 16, b since 26
    assert d.agent_stats("a") == (2, 10.0)
    d.reset_daily_stats()
    assert d.agent_stats("a") == (0, 0.0)


def test_least_talk_time_counts_talk_seconds_today() -> None:
    """least_talk_time offers to the agent who talked least today."""
    d = Distributor([queue(strategy=Strategy.LEAST_TALK_TIME)], [agent("a"), agent("b")])
    logged_in(d, "a", "b")
    assert _handle(d, "c1", 10, 100) == "a"
    assert _handle(d, "c2", 200, 10) == "b"
    assert _handle(d, "c3", 300, 10) == "b"  # a talked 100 s, b 10 s, though a is idle longer


def test_round_robin_rotates_through_agent_ids() -> None:
    """round_robin offers to the next agent id after the one offered last, wrapping around."""
    d = Distributor([queue(strategy=Strategy.ROUND_ROBIN)], [agent("a"), agent("b"), agent("c")])
    logged_in(d, "c", "b", "a")
    got = [_handle(d, f"c{n}", 10 + 10 * n, 1) for n in range(5)]
    assert got == ["a", "b", "c", "a", "b"]


def test_random_is_deterministic_for_a_seed_and_uses_it() -> None:
    """The random strategy draws from the Random passed in: same seed, same picks; other seeds differ."""
    def picks(seed: int) -> list[str]:
        d = Distributor([queue(strategy=Strategy.RANDOM)], [agent(f"a{n}") for n in range(8)],
                        rng=random.Random(seed))
        logged_in(d, *[f"a{n}" for n in range(8)])
        return [_handle(d, f"c{n}", 100 + 10 * n, 1) for n in range(12)]
    assert picks(1) == picks(1)
    assert len({tuple(picks(seed)) for seed in range(5)}) > 1


# ---------------------------------------------------------------- offers: answer, miss, leave, expiry


def test_answer_call_end_and_wrap_up_timer() -> None:
    """Answer -> on call; end -> wrap-up (queue's time) with a timer; at its end the agent takes the next caller."""
    d = Distributor([queue(wrap_up_s=15)], [agent("a")])
    d.login("a", at(0))
    d.call_arrived(call("c1", 1), at(1))
    assert d.offer_answered("c1", "a", at(3)).transitions[0].to_state is AgentState.ON_CALL
    d.call_arrived(call("c2", 5), at(5))
    ended = d.call_ended("a", at(63))
    assert ended.transitions[0].to_state is AgentState.WRAP_UP and ended.offers == ()
    assert d.next_due_at() == at(78)
    assert d.advance(at(77)).offers == ()
    out = d.advance(at(78))
    assert [t.cause for t in out.transitions] == [Cause.WRAP_UP_ENDED, Cause.OFFERED]
    assert only_offer(out).call_id == "c2"


def test_agent_wrap_up_override() -> None:
    """An agent's own wrap-up time replaces the queue's."""
    d = Distributor([queue(wrap_up_s=15)], [agent("a", wrap_up_s=0)])
    d.login("a", at(0))
    d.call_arrived(call("c1", 1), at(1))
    d.offer_answered("c1", "a", at(2))
    assert d.call_ended("a", at(10)).transitions[0].to_state is AgentState.AVAILABLE


def test_missed_call_goes_to_another_free_agent_before_the_one_who_missed() -> None:
    """After a miss the call is offered to another free agent, not rung again on the agent who missed."""
    d = Distributor([queue()], [agent("a"), agent("b")])
    d.login("a", at(0))
    d.call_arrived(call("c1", 1), at(1))
    d.login("b", at(2))
    out = d.offer_missed("c1", "a", at(16))
    assert only_offer(out).agent_id == "b"
    assert d.agent_status("a").state is AgentState.AVAILABLE and d.agent_status("a").misses == 1


def test_missed_call_keeps_its_place_ahead_of_later_callers() -> None:
    """A call whose offer was missed is back at the head, ahead of callers who arrived after it."""
    d = Distributor([queue()], [agent("a")], max_misses=1)
    d.login("a", at(0))
    d.call_arrived(call("c1", 1), at(1))
    d.call_arrived(call("c2", 2), at(2))
    out = d.offer_missed("c1", "a", at(16))
    assert out.offers == () and d.agent_status("a").state is AgentState.PAUSED
    assert d.agent_status("a").pause_reason == "missed"
    assert d.waiting("q") == ["c1", "c2"]
    assert only_offer(d.resume("a", at(20))).call_id == "c1"


def test_consecutive_misses_pause_the_agent() -> None:
    """After max_misses unanswered offers in a row the agent is paused 'missed' and offered nothing more."""
    d = Distributor([queue()], [agent("a")], max_misses=2)
    d.login("a", at(0))
    d.call_arrived(call("c1", 1), at(1))
    assert only_offer(d.offer_missed("c1", "a", at(16))).agent_id == "a"
    out = d.offer_missed("c1", "a", at(31))
    assert out.offers == () and out.transitions[-1].reason == "missed"
    assert d.waiting("q") == ["c1"]


def test_caller_leaving_while_ringing_withdraws_the_offer_and_frees_the_agent() -> None:
    """Caller hangs up during ringing: the offer is withdrawn, the agent takes the next caller."""
    d = Distributor([queue()], [agent("a")])
    d.login("a", at(0))
    first = only_offer(d.call_arrived(call("c1", 1), at(1)))
    d.call_arrived(call("c2", 2), at(2))
    out = d.call_left("c1", at(4))
    assert out.withdrawn == (first,)
    assert [t.cause for t in out.transitions] == [Cause.WITHDRAWN, Cause.OFFERED]
    assert only_offer(out).call_id == "c2"
    with pytest.raises(errors.UnknownCall):
        d.call_left("c1", at(5))


def test_caller_leaving_while_waiting() -> None:
    """A waiting caller who leaves is removed; nothing else happens."""
    d = Distributor([queue()], [agent("a")])
    d.call_arrived(call("c1", 1), at(1))
    assert d.call_left("c1", at(2)) == Outcome()
    assert d.waiting("q") == []


def test_callback_keeps_the_callers_place() -> None:
    """A caller who left for a callback and comes back with its original arrival goes ahead of later callers."""
    d = Distributor([queue()], [agent("a")])
    d.call_arrived(call("c1", 1), at(1))
    d.call_arrived(call("c2", 2), at(2))
    d.call_left("c1", at(3))
    d.call_arrived(call("c1", 1), at(300))
    assert d.waiting("q") == ["c1", "c2"]


def test_unreported_offer_expires_as_a_miss() -> None:
    """An offer with neither answer nor miss reported by its expiry is withdrawn and counted as a miss."""
    d = Distributor([queue(ring_timeout_s=10)], [agent("a"), agent("b")], offer_grace_s=5)
    d.login("a", at(0))
    offer = only_offer(d.call_arrived(call("c1", 1), at(1)))
    d.login("b", at(2))
    assert d.next_due_at() == at(16)
    out = d.advance(at(16))
    assert out.withdrawn == (offer,)
    assert out.transitions[0].cause is Cause.OFFER_EXPIRED
    assert only_offer(out).agent_id == "b"
    with pytest.raises(errors.AgentNotReserved):
        d.offer_answered("c1", "a", at(17))


def test_answer_by_the_wrong_agent_is_refused() -> None:
    """An answer for a call from an agent who is not ringing for it raises AgentNotReserved."""
    d = Distributor([queue()], [agent("a"), agent("b")])
    logged_in(d, "a", "b")
    d.call_arrived(call("c1", 5), at(5))
    with pytest.raises(errors.AgentNotReserved):
        d.offer_answered("c1", "b", at(6))


def test_logout_while_ringing_is_refused() -> None:
    """An agent cannot log out while ringing (the reservation must end first)."""
    d = Distributor([queue()], [agent("a")])
    d.login("a", at(0))
    d.call_arrived(call("c1", 1), at(1))
    with pytest.raises(errors.AgentRinging):
        d.logout("a", at(2))


def test_device_busy_agent_is_skipped_until_free() -> None:
    """An agent on a personal call is not offered queue calls; when the device frees up it takes the caller."""
    d = Distributor([queue()], [agent("a")])
    d.login("a", at(0))
    d.device_busy("a", True, at(1))
    assert d.call_arrived(call("c1", 2), at(2)).offers == ()
    assert only_offer(d.device_busy("a", False, at(3))).call_id == "c1"


def test_unreachable_device_makes_the_agent_unavailable() -> None:
    """An unregistered device: unavailable, offered nothing; registered again: available and offered."""
    d = Distributor([queue()], [agent("a")])
    d.login("a", at(0))
    assert d.device_reachable("a", False, at(1)).transitions[0].to_state is AgentState.UNAVAILABLE
    assert d.call_arrived(call("c1", 2), at(2)).offers == ()
    assert only_offer(d.device_reachable("a", True, at(3))).call_id == "c1"


def test_pause_keeps_calls_away() -> None:
    """A paused agent is offered nothing; on resume it takes the waiting caller."""
    d = Distributor([queue()], [agent("a")])
    d.login("a", at(0))
    d.pause("a", "lunch", at(1))
    assert d.call_arrived(call("c1", 2), at(2)).offers == ()
    assert only_offer(d.resume("a", at(3))).call_id == "c1"


def test_queue_full_and_duplicates_are_refused() -> None:
    """max_length counts waiting and ringing calls; a call id cannot be queued twice; unknown names raise."""
    d = Distributor([queue(max_length=2)], [agent("a")])
    d.login("a", at(0))
    d.call_arrived(call("c1", 1), at(1))  # ringing
    d.call_arrived(call("c2", 2), at(2))  # waiting
    with pytest.raises(errors.QueueFull):
        d.call_arrived(call("c3", 3), at(3))
    with pytest.raises(errors.CallAlreadyQueued):
        d.call_arrived(call("c2", 2), at(3))
    with pytest.raises(errors.UnknownQueue):
        d.call_arrived(call("c4", 3, "nope"), at(3))
    with pytest.raises(errors.UnknownAgent):
        d.login("zz", at(3))


def test_profile_change_makes_an_agent_eligible() -> None:
    """Raising an agent's skill re-indexes it and offers it the caller it now qualifies for."""
    d = Distributor([queue(required_skills={"es": 5})], [agent("a", {"es": 2})])
    d.login("a", at(0))
    d.call_arrived(call("c1", 1), at(1))
    assert only_offer(d.set_agent(agent("a", {"es": 6}), at(2))).call_id == "c1"


def test_remove_agent_needs_logout() -> None:
    """Only a logged-out agent can be removed."""
    d = Distributor([queue()], [agent("a")])
    d.login("a", at(0))
    with pytest.raises(errors.AgentStillLoggedIn):
        d.remove_agent("a")
    d.logout("a", at(1))
    d.remove_agent("a")
    with pytest.raises(errors.UnknownAgent):
        d.agent_status("a")


# ---------------------------------------------------------------- escalation


def test_relax_skill_after_wait_lets_a_lower_level_agent_take_the_call() -> None:
    """After 30 s, a skill's minimum drops from 7 to 4: the timer's advance offers the call to a level-5 agent."""
    q = queue(required_skills={"es": 7}, escalations=(EscalationRule(30, RelaxSkill("es", 4)),))
    d = Distributor([q], [agent("a", {"es": 5})])
    d.login("a", at(0))
    assert d.call_arrived(call("c1", 10), at(10)).offers == ()
    assert d.next_due_at() == at(40)
    assert d.advance(at(39)).offers == ()
    assert only_offer(d.advance(at(40))).agent_id == "a"


def test_relaxation_applies_at_the_current_wait_even_before_the_timer() -> None:
    """An agent freed after the relaxation time qualifies at once, without waiting for advance()."""
    q = queue(required_skills={"es": 7}, escalations=(EscalationRule(30, RelaxSkill("es", 4)),))
    d = Distributor([q], [agent("a", {"es": 5})])
    d.call_arrived(call("c1", 0), at(0))
    assert d.login("a", at(20)).offers == ()
    d.logout("a", at(21))
    assert only_offer(d.login("a", at(31))).call_id == "c1"


def test_relaxing_applies_to_the_calls_own_skills_too() -> None:
    """RelaxSkill caps a skill required by the call itself (from the IVR), 0 removing it."""
    q = queue(escalations=(EscalationRule(20, RelaxSkill("vip", 0)),))
    d = Distributor([q], [agent("a", {"en": 3})])
    d.login("a", at(0))
    assert d.call_arrived(call("c1", 0, skills={"vip": 3}), at(0)).offers == ()
    assert only_offer(d.advance(at(20))).call_id == "c1"


def test_drop_preferred_skill_and_add_team() -> None:
    """Preferred skills are required until dropped; a team is added later: each widens who may answer."""
    q = queue(required_skills={"en": 1}, preferred_skills={"billing": 5}, teams=frozenset({"t1"}),
              escalations=(EscalationRule(10, DropPreferred("billing")), EscalationRule(20, AddTeam("t2"))))
    d = Distributor([q], [agent("no_pref", {"en": 5}, teams=("t1",)), agent("other_team", {"en": 5, "billing": 9},
                                                                           teams=("t2",))])
    d.login("other_team", at(0))
    d.call_arrived(call("c1", 0), at(0))
    assert d.advance(at(10)).offers == ()  # preferred dropped, but other_team is not in t1
    assert only_offer(d.advance(at(20))).agent_id == "other_team"
    d2 = Distributor([q], [agent("no_pref", {"en": 5}, teams=("t1",))])
    d2.login("no_pref", at(0))
    assert d2.call_arrived(call("c1", 0), at(0)).offers == ()
    assert only_offer(d2.advance(at(10))).agent_id == "no_pref"


def test_overflow_moves_the_call_keeping_its_arrival_order() -> None:
    """After 60 s the call overflows to queue b (Overflowed event), ahead of b's callers who arrived later."""
    qa = queue("a", escalations=(EscalationRule(60, Overflow("b")),))
    qb = queue("b", required_skills={"fr": 1})
    d = Distributor([qa, qb], [agent("fr", {"fr": 5})])
    d.call_arrived(call("c1", 0, "a"), at(0))
    d.call_arrived(call("b1", 30, "b"), at(30))
    assert d.next_due_at() == at(60)
    out = d.advance(at(60))
    assert [(o.call_id, o.from_queue, o.to_queue) for o in out.overflowed] == [("c1", "a", "b")]
    assert d.waiting("b") == ["c1", "b1"] and d.call_queue("c1") == "b"
    assert only_offer(d.login("fr", at(61))).call_id == "c1"


def test_overflow_to_a_full_queue_keeps_the_call() -> None:
    """When the overflow target is full the call stays where it is."""
    qa = queue("a", escalations=(EscalationRule(10, Overflow("b")),))
    d = Distributor([qa, queue("b", max_length=1)], [])
    d.call_arrived(call("b1", 0, "b"), at(0))
    d.call_arrived(call("c1", 0, "a"), at(0))
    assert d.advance(at(10)).overflowed == ()
    assert d.waiting("a") == ["c1"] and d.next_due_at() is None


def test_max_wait_times_the_call_out() -> None:
    """A call waiting max_wait_s leaves the queue with a TimedOut event."""
    d = Distributor([queue(max_wait_s=90)], [])
    d.call_arrived(call("c1", 0), at(0))
    out = d.advance(at(90))
    assert [(t.call_id, t.queue_id) for t in out.timed_out] == [("c1", "q")]
    assert d.waiting("q") == []


def test_set_queue_rules_apply_to_waiting_calls() -> None:
    """Lowering a queue's requirement re-routes its waiting calls."""
    d = Distributor([queue(required_skills={"es": 8})], [agent("a", {"es": 4})])
    d.login("a", at(0))
    d.call_arrived(call("c1", 1), at(1))
    assert only_offer(d.set_queue(queue(required_skills={"es": 3}), at(2))).call_id == "c1"


def test_config_errors() -> None:
    """Bad definitions are refused with InvalidConfig or UnknownQueue."""
    with pytest.raises(InvalidConfig):
        Agent("a", "A", "PJSIP/a", {"es": 11})
    with pytest.raises(InvalidConfig):
        queue(escalations=(EscalationRule(5, Overflow("q")),))
    with pytest.raises(InvalidConfig):
        queue(escalations=(EscalationRule(5, Overflow("x")), EscalationRule(9, RelaxSkill("en", 1))))
    with pytest.raises(InvalidConfig):
        queue(escalations=(EscalationRule(5, DropPreferred("en")),))
    with pytest.raises(errors.UnknownQueue):
        Distributor([queue(escalations=(EscalationRule(5, Overflow("nowhere")),))])


@pytest.mark.parametrize(("changes", "message"), [
    ({"moh_class": "acme jazz"}, "moh_class 'acme jazz' must be a music-on-hold class: 1-64 letters, digits, _ or -"),
    ({"moh_class": "x" * 65}, "moh_class"),
    ({"moh_class": ""}, "moh_class"),
    ({"announce_position": "yes"}, "announce_position must be true or false"),
    ({"announce_estimated_wait": 1}, "announce_estimated_wait must be true or false"),
    ({"announce_every_s": 14.9}, "announce_every_s must be between 15 and 600, not 14.9"),
    ({"announce_every_s": 601}, "announce_every_s must be between 15 and 600, not 601"),
    ({"announce_every_s": float("nan")}, "announce_every_s must be a number, not nan"),
    ({"periodic_prompts": ("ok", "../etc/passwd")}, "periodic_prompts: '../etc/passwd' is not an Asterisk sound"),
    ({"periodic_prompts": "queue-periodic-announce"}, "periodic_prompts must be a list of sound names"),
    ({"recording": "gold-calls"}, "a recording policy is now a mapping"),
    ({"recording": {"mode": "sometimes"}}, "mode 'sometimes' is not one of always, never, percent, on_demand"),
])
def test_waiting_experience_config_errors(changes: dict[str, object], message: str) -> None:
    """Music class, announcement switches and frequency (15-600 s), periodic prompts (sound names) and the
    recording policy (a mapping; an old policy name is refused with a clear message) are validated."""
    with pytest.raises(InvalidConfig, match=re.escape(message)):
        queue(**changes)


def test_waiting_experience_defaults_and_prompts_as_a_tuple() -> None:
    """Defaults: class default, no announcements, every 60 s, no prompts, no recording policy; prompts given as a
    list are kept in order as a tuple (the queue stays hashable and immutable)."""
    q = queue()
    assert (q.moh_class, q.announce_position, q.announce_estimated_wait, q.announce_every_s, q.periodic_prompts,
            q.recording) == ("default", False, False, 60.0, (), None)
    q = queue(moh_class="acme-jazz", announce_every_s=15, periodic_prompts=["b-prompt", "custom/a"],
              recording=RecordingPolicy("always", beep_every_s=15))
    assert q.periodic_prompts == ("b-prompt", "custom/a") and q.recording == RecordingPolicy("always", 0, 15)
    assert queue(announce_every_s=600).announce_every_s == 600


# ---------------------------------------------------------------- explain


def test_explain_lists_every_agent_with_its_reason() -> None:
    """explain gives eligible agents by rank, then each other agent with every reason it cannot take the call."""
    q = queue("billing", required_skills={"es": 5}, teams=frozenset({"billing"}),
              escalations=(EscalationRule(60, RelaxSkill("es", 3)),))
    agents = [agent("free1", {"es": 6}, ("billing",)), agent("free2", {"es": 9}, ("billing",)),
              agent("lowskill", {"es": 3}, ("billing",)), agent("nolang", {"en": 3}, ("billing",)),
              agent("lunch", {"es": 8}, ("billing",)), agent("out", {"es": 8}, ("billing",)),
              agent("wrap", {"es": 8}, ("billing",)), agent("sales", {"es": 8}, ("sales",)),
              agent("busy", {"es": 8}, ("billing",))]
    d = Distributor([q], agents)
    d.login("wrap", at(-100))
    d.call_arrived(call("w0", -100, "billing"), at(-100))
    d.offer_answered("w0", "wrap", at(-99))
    d.set_queue(replace(q, wrap_up_s=30.0), at(-98))
    d.call_ended("wrap", at(-25))
    for a in ("lunch", "sales", "busy", "lowskill", "nolang"):
        d.login(a, at(-50))
    d.pause("lunch", "lunch", at(-40))
    d.device_busy("busy", True, at(-30))
    d.login("free2", at(-42))
    d.login("free1", at(-10))
    hypothetical = call("h", 0, "billing")
    # a hypothetical call would go to free2 first (idle 42 s), then free1 -- nobody free is left out
    text = {v.agent_id: (v.eligible, v.rank, v.reason) for v in d.explain(hypothetical, at(0)).verdicts}
    assert text["free2"] == (True, 1, "eligible, rank 1: idle 42 s")
    assert text["free1"] == (True, 2, "eligible, rank 2: idle 10 s")
    assert text["lowskill"] == (False, None, "skill es level 3 < required 5")
    assert text["nolang"] == (False, None, "skill es missing (required 5)")
    assert text["lunch"] == (False, None, "paused (lunch)")
    assert text["out"] == (False, None, "not logged in")
    assert text["wrap"] == (False, None, "in wrap-up until 12:00:05")
    assert text["sales"] == (False, None, "not in team billing")
    assert text["busy"] == (False, None, "device busy (personal call)")
    explanation = d.explain(hypothetical, at(0))
    assert [v.agent_id for v in explanation.verdicts][:2] == ["free2", "free1"]
    assert len(explanation.verdicts) == len(agents)
    # at 60 s of wait the skill is relaxed: level 3 qualifies
    later = d.explain(hypothetical, at(60))
    assert str(later.requirement) == "es>=3; team billing"
    assert {v.agent_id: v.eligible for v in later.verdicts}["lowskill"]


def test_explain_a_waiting_call_shows_who_rings_and_who_talks() -> None:
    """For a call in the queue, explain names the agent ringing for it and agents busy on other calls."""
    d = Distributor([queue()], [agent("a"), agent("b")])
    logged_in(d, "a", "b")
    d.call_arrived(call("c1", 5), at(5))
    d.offer_answered("c1", "a", at(6))
    d.call_arrived(call("c2", 7), at(7))
    explanation = d.explain("c2", at(8))
    reasons = {v.agent_id: v.reason for v in explanation.verdicts}
    assert reasons == {"a": "on call c1", "b": "ringing for this call since 12:00:07"}
    assert explanation.waited_s == 1.0


# ---------------------------------------------------------------- estimated wait


def test_estimated_wait_formula() -> None:
    """EWT(k) = (k - free) x AHT / staffed, AHT from handled calls (talk + wrap-up), None with nobody staffed."""
    d = Distributor([queue(expected_handle_s=120, wrap_up_s=10)], [agent("a"), agent("b"), agent("c")])
    assert d.estimated_wait("q", at(0)).seconds is None
    logged_in(d, "a", "b")
    est = d.estimated_wait("q", at(2))
    assert (est.position, est.staffed, est.free, est.seconds, est.handle_s) == (1, 2, 2, 0.0, 120)
    for n in range(2):  # two calls of 50 s talk + 10 s wrap-up handled
        d.call_arrived(call(f"h{n}", 10), at(10))
    for n, a in enumerate(("a", "b")):
        d.offer_answered(f"h{n}", a, at(10))
        d.call_ended(a, at(60))
    d.advance(at(70))
    for n in range(2):
        d.call_arrived(call(f"t{n}", 100), at(100))  # both agents busy on these
    for n in range(3):
        d.call_arrived(call(f"w{n}", 101 + n), at(101 + n))
    est = d.estimated_wait("q", at(110), "w2")
    assert (est.position, est.staffed, est.free, est.handle_s) == (3, 2, 0, 60.0)
    assert est.seconds == 3 * 60.0 / 2
    assert d.estimated_wait("q", at(110)).position == 4
    d.login("c", at(111))
    # c was offered w0 at once; w2 is now second: (2 - 0) x 60 / 3
    assert d.estimated_wait("q", at(112), "w2").seconds == pytest.approx(2 * 60.0 / 3)


def test_a_refused_offer_rests_the_agent_before_the_next_offer() -> None:
    """A busy device (refused at once) is a miss, and its agent is offered nothing for refused_rest_s, even the
    same call; after the rest the call comes back to it."""
    d = Distributor([queue(ring_timeout_s=20)], [agent("a1")], refused_rest_s=5, max_misses=3)
    logged_in(d, "a1")
    only_offer(d.call_arrived(call("c1", 1), at(1)))
    out = d.offer_missed("c1", "a1", at(1.01), refused=True)
    assert out.offers == () and d.waiting("q") == ["c1"]
    status = d.agent_status("a1")
    assert (status.state, status.misses, status.resting_until) == (AgentState.AVAILABLE, 1, at(6.01))
    assert "resting until" in d.explain("c1", at(2)).verdicts[0].reason
    assert d.next_due_at() == at(6.01)
    assert d.advance(at(6)).offers == ()
    assert only_offer(d.advance(at(6.01))).agent_id == "a1"
    assert d.agent_status("a1").resting_until is None


def test_a_ring_no_answer_is_not_a_refusal_and_the_agent_is_free_at_once() -> None:
    """An offer that rang out is a plain miss: the agent may take the next call straight away."""
    d = Distributor([queue(ring_timeout_s=20)], [agent("a1")], refused_rest_s=5)
    logged_in(d, "a1")
    only_offer(d.call_arrived(call("c1", 1), at(1)))
    assert only_offer(d.offer_missed("c1", "a1", at(21))).call_id == "c1"
