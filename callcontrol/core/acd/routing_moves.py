"""The moves that change the routing state once a choice is made: reserve, take back, overflow, time out.

Settle a call's max wait and overflow, reserve an agent for it, take an unanswered offer back, store an agent's
state step; each move records what it decided in an OutcomeBuilder.
"""

from __future__ import annotations

import bisect
import random
from datetime import datetime, timedelta

from callcontrol.core.acd import agent_states as st
from callcontrol.core.acd.agent_states import AgentState
from callcontrol.core.acd.matching import best_free_agent, best_waiting_call
from callcontrol.core.acd.model import Queue, Strategy
from callcontrol.core.acd.outcomes import Offer, Outcome, OutcomeBuilder, Overflowed, TimedOut
from callcontrol.core.acd.routing_state import EXPIRE, REST, WRAP, AgentEntry, QueueState, RoutingState, WaitingCall


class RoutingMoves:
    """The Distributor's state changes that follow a routing decision (see the router module's fairness rules)."""

    def __init__(self, state: RoutingState, rng: random.Random, offer_grace_s: float) -> None:
        self._state = state
        self._rng = rng
        self.offer_grace_s = offer_grace_s

    def set_queue(self, queue: Queue, now: datetime) -> Outcome:
        """Add or replace a queue keeping its calls and counters; its waiting calls are routed under the new rules."""
        old = self._state.queues.get(queue.id)
        qs = QueueState(queue)
        if old is not None:
            qs.waiting, qs.ringing, qs.rr_last, qs.handled = old.waiting, old.ringing, old.rr_last, old.handled
        self._state.queues[queue.id] = qs
        for entry in self._state.agents.values():
            self._state.index_agent(entry)
        acc = OutcomeBuilder()
        for key in list(qs.waiting):
            w = self._state.calls[key[3]]
            w.reqs.clear()
            if w.offered_to is None and w.call.id in self._state.calls:
                self.route_call(w, now, acc)
        return acc.outcome()

    def route_call(self, w: WaitingCall, now: datetime, acc: OutcomeBuilder) -> None:
        """A waiting call became routable: apply its due max wait / overflow, then offer it to a free agent."""
        if self.settle_call(w, now, acc):
            self.match_call(w, self._state.queues[w.queue_id], now, acc)

    def settle_call(self, w: WaitingCall, now: datetime, acc: OutcomeBuilder) -> bool:
        """Apply a waiting call's due max wait and overflow, and set its next timer; False when it timed out."""
        while True:
            qs = self._state.queues[w.queue_id]
            waited = (now - w.queued_at).total_seconds()
            if qs.queue.max_wait_s is not None and waited >= qs.queue.max_wait_s:
                self._state.unqueue(qs, w)
                del self._state.calls[w.call.id]
                acc.timed_out.append(TimedOut(w.call.id, qs.queue.id, now))
                return False
            if qs.overflow_after is None or w.overflow_done or waited < qs.overflow_after:
                break
            w.overflow_done = True
            target = self._state.queues[qs.queue.escalations[-1].action.queue_id]  # type: ignore[union-attr]
            tq = target.queue
            if tq.max_length is not None and len(target.waiting) + target.ringing >= tq.max_length:
                continue  # target full: the call stays here
            self._state.unqueue(qs, w)
            acc.overflowed.append(Overflowed(w.call.id, qs.queue.id, tq.id, now))
            w.queue_id, w.queued_at, w.stint, w.overflow_done = tq.id, now, w.stint + 1, False
            w.key = self._state.key(w.call, tq)
            w.reqs.clear()
            bisect.insort(target.waiting, w.key)
        self._state.schedule_call(w, qs, now)
        return True

    def match_call(self, w: WaitingCall, qs: QueueState, now: datetime, acc: OutcomeBuilder) -> None:
        """Offer a waiting call to the best free eligible agent by the queue's strategy, if any."""
        chosen = best_free_agent(self._state, w, qs, now, self._rng)
        if chosen is not None:
            self.reserve(chosen, w, qs, now, acc)

    def match_agent(self, entry: AgentEntry, now: datetime, acc: OutcomeBuilder) -> None:
        """Offer a free agent its best eligible waiting call across its queues, if any."""
        best = best_waiting_call(self._state, entry, now)
        if best is not None:
            self.reserve(entry, best, self._state.queues[best.queue_id], now, acc)

    def reserve(self, entry: AgentEntry, w: WaitingCall, qs: QueueState, now: datetime, acc: OutcomeBuilder) -> None:
        step = st.reserve(entry.status, w.call.id, now)
        self._state.unqueue(qs, w)
        qs.ringing += 1
        w.offered_to, w.next_due = entry.agent.id, None  # its timer resumes when the offer ends unanswered
        timeout = qs.queue.ring_timeout_s
        offer = Offer(w.call.id, entry.agent.id, qs.queue.id, entry.agent.endpoint, timeout, now,
                      now + timedelta(seconds=timeout + self.offer_grace_s))
        entry.offer = offer
        if qs.queue.strategy is Strategy.ROUND_ROBIN:
            qs.rr_last = entry.agent.id
        self.apply(entry, step, acc)
        acc.offers.append(offer)
        self._state.push(offer.expires_at, EXPIRE, entry.agent.id, offer)

    def end_offer_missed(self, entry: AgentEntry, step: st.Step, now: datetime, acc: OutcomeBuilder) -> None:
        """Put the missed call back in its place and route it first, then let the agent take its best caller."""
        w = self.take_back(entry, step, acc)
        self.route_call(w, now, acc)
        self._state.index_free(entry)
        if entry.routable:
            self.match_agent(entry, now, acc)

    def take_back(self, entry: AgentEntry, step: st.Step, acc: OutcomeBuilder) -> WaitingCall:
        """End an unanswered offer: the call back in its place, the agent's new status stored but not yet free
        in the index (so other agents get the call first)."""
        offer = entry.offer
        assert offer is not None
        entry.offer = None
        w = self._state.calls[offer.call_id]
        qs = self._state.queues[w.queue_id]
        qs.ringing -= 1
        w.offered_to = None
        bisect.insort(qs.waiting, w.key)
        self.apply(entry, step, acc, index=False)
        return w

    def agent_step(self, entry: AgentEntry, step: st.Step, now: datetime, acc: OutcomeBuilder | None = None) -> Outcome:
        acc = acc if acc is not None else OutcomeBuilder()
        self.apply(entry, step, acc)
        if entry.routable:
            self.match_agent(entry, now, acc)
        return acc.outcome()

    def apply(self, entry: AgentEntry, step: st.Step, acc: OutcomeBuilder, index: bool = True) -> None:
        """Store an agent's new status, record its transition, keep the wrap-up timer and (unless told not to
        yet) the free-agent index."""
        previous_rest = entry.status.resting_until
        entry.status = step.status
        if step.transition is not None:
            acc.transitions.append(step.transition)
        if step.status.state is AgentState.WRAP_UP and step.transition is not None:
            assert step.status.wrap_up_until is not None
            self._state.push(step.status.wrap_up_until, WRAP, entry.agent.id, step.status.wrap_up_until)
        if step.status.resting_until is not None and step.status.resting_until != previous_rest:
            self._state.push(step.status.resting_until, REST, entry.agent.id, step.status.resting_until)
        if index:
            self._state.index_free(entry)
