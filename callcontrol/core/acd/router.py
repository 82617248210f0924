"""The router: a deterministic, I/O-free Distributor owning agents' routing state and the waiting calls.

Every method takes `now`, changes the Distributor's state and returns an Outcome: the agent transitions to
log, the offers to dial, offers to stop ringing, calls that overflowed or timed out. Nothing is awaited,
logged or read from a clock; a `random.Random` is passed in for the random strategy.

Fairness rules kept by every method:
- callers are served by priority (higher first), then original arrival (earlier first); an agent serving
  several queues takes its best eligible caller across them: priority first, then wait x queue weight;
- a free agent is never eligible for a waiting call for long: whenever an agent becomes free it takes its
  best eligible caller, and whenever a call becomes routable (arrival, unanswered offer, escalation,
  overflow) it goes to the best free eligible agent by the queue's strategy;
- an agent is reserved for at most one call, and every reservation ends by answer, miss (reported or
  expired), or the caller leaving.

A call's skill and team relaxations are computed from its wait at `now`; overflows, max-wait timeouts, wrap-up
ends and expired offers happen in `advance(now)`, which the service calls at `next_due_at()`. The state and its
index live in routing_state, the choices in matching, the state changes in routing_moves, the read side
(explain, estimated wait) in distributor_view.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from callcontrol.core.acd import agent_states as st
from callcontrol.core.acd.agent_states import AgentState, Cause
from callcontrol.core.acd.distributor_view import DistributorView
from callcontrol.core.acd.errors import AgentNotOnCall, AgentStillLoggedIn, CallAlreadyQueued, Conflict, QueueFull
from callcontrol.core.acd.history import HandledCall
from callcontrol.core.acd.matching import caller_rank
from callcontrol.core.acd.model import Agent, Call, InvalidConfig, Queue
from callcontrol.core.acd.outcomes import Outcome, OutcomeBuilder
from callcontrol.core.acd.routing_moves import RoutingMoves
from callcontrol.core.acd.routing_state import (
    CALL,
    EXPIRE,
    REST,
    WRAP,
    AgentEntry,
    QueueState,
    RoutingState,
    WaitingCall,
)


class Distributor(DistributorView):
    """Agents, queues and waiting calls, and every routing decision about them (see the module docstring)."""

    def __init__(self, queues: Iterable[Queue] = (), agents: Iterable[Agent] = (), *,
                 max_misses: int | None = 3, offer_grace_s: float = 5.0, refused_rest_s: float = 5.0,
                 rng: random.Random | None = None) -> None:
        """`max_misses`: consecutive unanswered offers before the agent is paused 'missed' (None: never).

        `refused_rest_s`: after the device refused an offer at once (busy), the agent is offered nothing for this
        long (app_queue's `retry`), so a busy phone is not rung again in a tight loop.

        `offer_grace_s`: added to the ring timeout before an offer nobody reported on expires as a miss.
        `rng`: the random strategy's source (default random.Random(0): deterministic).
        """
        if max_misses is not None and max_misses < 1:
            raise InvalidConfig("max_misses must be >= 1 or None")
        self.max_misses = max_misses
        self.refused_rest_s = refused_rest_s
        super().__init__(RoutingState())
        self._moves = RoutingMoves(self._state, rng if rng is not None else random.Random(0), offer_grace_s)
        queues = list(queues)
        for queue in queues:
            self._state.queues[queue.id] = QueueState(queue)
        for queue in queues:
            self._state.check_overflow_target(queue)
        for agent in agents:
            self._state.add_agent(agent)

    # ------------------------------------------------------------ configuration

    def set_queue(self, queue: Queue, now: datetime) -> Outcome:
        """Add or replace a queue; its waiting calls are re-escalated and re-routed under the new rules."""
        return self.set_queues([queue], now)

    def set_queues(self, queues: Iterable[Queue], now: datetime) -> Outcome:
        """Add or replace several queues at once: an overflow may name any of them, whatever their order."""
        queues = list(queues)
        known = set(self._state.queues) | {queue.id for queue in queues}
        for queue in queues:
            self._state.check_overflow_target(queue, known)
        outcomes = [self._moves.set_queue(queue, now) for queue in queues]
        return Outcome(*(tuple(item for outcome in outcomes for item in getattr(outcome, name))
                         for name in ("transitions", "offers", "withdrawn", "overflowed", "timed_out")))

    def set_agent(self, agent: Agent, now: datetime) -> Outcome:
        """Add an agent (logged out) or replace its profile (skills, teams, endpoint...) keeping its state."""
        entry = self._state.agents.get(agent.id)
        if entry is None:
            self._state.add_agent(agent)
            return Outcome()
        entry.agent, entry.skills = agent, dict(agent.skills)
        self._state.index_agent(entry)
        acc = OutcomeBuilder()
        if entry.routable:
            self._moves.match_agent(entry, now, acc)
        return acc.outcome()

    def remove_agent(self, agent_id: str) -> None:
        """Forget a logged-out agent."""
        entry = self._state.entry(agent_id)
        if entry.status.state is not AgentState.LOGGED_OUT:
            raise AgentStillLoggedIn(f"agent {agent_id} must log out first ({entry.status.state})")
        self._state.index_agent(entry, forget=True)
        del self._state.agents[agent_id]

    def restore_history(self, handled: Iterable[HandledCall]) -> None:
        """After a restart: the conversations handled so far today (oldest first) count again, for agents'
        calls and talk today and each queue's recent handle times (talk + the wrap-up the agent would get)."""
        for call in handled:
            entry = self._state.agents.get(call.agent_id)
            if entry is not None:
                entry.calls_today += 1
                entry.talk_today_s += call.talk_s
            qs = self._state.queues.get(call.queue_id or "")
            if qs is not None:
                wrap_s = entry.agent.wrap_up_s if entry is not None and entry.agent.wrap_up_s is not None \
                    else qs.queue.wrap_up_s
                qs.handled.append(call.talk_s + wrap_s)

    def reset_daily_stats(self) -> None:
        """Start a new day for fewest_calls and least_talk_time (the service calls this at local midnight)."""
        for entry in self._state.agents.values():
            entry.calls_today, entry.talk_today_s = 0, 0.0

    # ------------------------------------------------------------ agent requests (API)

    def login(self, agent_id: str, now: datetime) -> Outcome:
        entry = self._state.entry(agent_id)
        return self._moves.agent_step(entry, st.login(entry.status, now), now)

    def logout(self, agent_id: str, now: datetime) -> Outcome:
        entry = self._state.entry(agent_id)
        return self._moves.agent_step(entry, st.logout(entry.status, now), now)

    def pause(self, agent_id: str, reason: str, now: datetime) -> Outcome:
        entry = self._state.entry(agent_id)
        return self._moves.agent_step(entry, st.pause(entry.status, reason, now), now)

    def resume(self, agent_id: str, now: datetime) -> Outcome:
        """Paused -> available, or end a wrap-up early ('ready'), or cancel a pause asked during a call."""
        entry = self._state.entry(agent_id)
        return self._moves.agent_step(entry, st.resume(entry.status, now), now)

    # ------------------------------------------------------------ device events (AMI)

    def device_reachable(self, agent_id: str, reachable: bool, now: datetime) -> Outcome:
        """The agent's device registered (True) or became unregistered/unreachable (False)."""
        entry = self._state.entry(agent_id)
        return self._moves.agent_step(entry, st.device_reachable(entry.status, reachable, now), now)

    def device_busy(self, agent_id: str, busy: bool, now: datetime) -> Outcome:
        """The agent's device is (not) on a call of its own; a busy agent is offered nothing."""
        entry = self._state.entry(agent_id)
        return self._moves.agent_step(entry, st.device_busy(entry.status, busy, now), now)

    # ------------------------------------------------------------ calls

    def call_arrived(self, call: Call, now: datetime) -> Outcome:
        """Queue a caller (or one coming back: pass its original arrived_at) and offer it if an agent is free.

        Raises UnknownQueue, CallAlreadyQueued, or QueueFull when the queue holds max_length calls.
        """
        qs = self._state.queue(call.queue_id)
        if call.id in self._state.calls:
            raise CallAlreadyQueued(f"call {call.id} is already in queue {self._state.calls[call.id].queue_id}")
        if qs.queue.max_length is not None and len(qs.waiting) + qs.ringing >= qs.queue.max_length:
            raise QueueFull(f"queue {qs.queue.id} is full ({qs.queue.max_length} calls)")
        w = WaitingCall(call, qs.queue.id, self._state.key(call, qs.queue), now)
        self._state.calls[call.id] = w
        bisect.insort(qs.waiting, w.key)
        acc = OutcomeBuilder()
        self._moves.route_call(w, now, acc)
        return acc.outcome()

    def call_left(self, call_id: str, now: datetime) -> Outcome:
        """The caller hung up or chose to leave (callback, voicemail) before being answered.

        A ringing offer is withdrawn (listed in Outcome.withdrawn) and the agent is free again.
        """
        w = self._state.call(call_id)
        acc = OutcomeBuilder()
        qs = self._state.queues[w.queue_id]
        del self._state.calls[call_id]
        if w.offered_to is None:
            self._state.unqueue(qs, w)
            return acc.outcome()
        entry = self._state.agents[w.offered_to]
        step = st.withdrawn(entry.status, call_id, now)
        qs.ringing -= 1
        assert entry.offer is not None
        acc.withdrawn.append(entry.offer)
        entry.offer = None
        self._moves.apply(entry, step, acc)
        if entry.routable:
            self._moves.match_agent(entry, now, acc)
        return acc.outcome()

    def offer_answered(self, call_id: str, agent_id: str, now: datetime) -> Outcome:
        """The agent answered: on call; the call leaves the Distributor (its stint ends 'answered')."""
        entry = self._state.entry(agent_id)
        step = st.answered(entry.status, call_id, now)
        w = self._state.calls.pop(call_id)
        self._state.queues[w.queue_id].ringing -= 1
        entry.offer, entry.answered_at, entry.call_queue = None, now, w.queue_id
        entry.calls_today += 1
        acc = OutcomeBuilder()
        self._moves.apply(entry, step, acc)
        return acc.outcome()

    def offer_missed(self, call_id: str, agent_id: str, now: datetime, refused: bool = False) -> Outcome:
        """Ring-no-answer: the call goes back to its place in the queue (offered to another free agent first),
        then the agent is available again, or paused 'missed' after max_misses in a row.

        `refused`: the device refused at once (busy, congestion): a miss too, and the agent rests refused_rest_s.
        """
        entry = self._state.entry(agent_id)
        rest_until = now + timedelta(seconds=self.refused_rest_s) if refused and self.refused_rest_s > 0 else None
        step = st.missed(entry.status, call_id, now, self.max_misses, rest_until=rest_until)
        acc = OutcomeBuilder()
        self._moves.end_offer_missed(entry, step, now, acc)
        return acc.outcome()

    def call_ended(self, agent_id: str, now: datetime) -> Outcome:
        """The agent's conversation ended: wrap-up (agent override, else the queue's), then free again."""
        entry = self._state.entry(agent_id)
        status = entry.status
        if status.state is not AgentState.ON_CALL or status.call_id is None:
            raise AgentNotOnCall(f"agent {agent_id} is not on a call ({status.state})")
        qs = self._state.queues.get(entry.call_queue or "")
        wrap_s = entry.agent.wrap_up_s if entry.agent.wrap_up_s is not None else (qs.queue.wrap_up_s if qs else 0.0)
        talk_s = (now - entry.answered_at).total_seconds() if entry.answered_at else 0.0
        step = st.call_ended(status, status.call_id, now, wrap_s)
        entry.talk_today_s += talk_s
        if qs is not None:
            qs.handled.append(talk_s + wrap_s)
        entry.answered_at, entry.call_queue = None, None
        return self._moves.agent_step(entry, step, now)

    # ------------------------------------------------------------ timers

    def next_due_at(self) -> datetime | None:
        """When advance() next has something to do (escalation, overflow, max wait, wrap-up end, expired offer)."""
        return self._state.next_due_at()

    def advance(self, now: datetime) -> Outcome:
        """Apply everything due by `now`, in an order that keeps callers' places when several things fall due:

        1. expired offers: each call goes back to its place, its agent rests but is not free yet;
        2. calls whose escalation, overflow or max wait came due, and the calls of step 1: time-outs and
           overflows are applied;
        3. wrap-ups ended: those agents take their best caller;
        4. the calls of step 2 still waiting, best caller first, go to the best free agent;
        5. the agents of step 1 take their best caller.
        """
        ts = now.timestamp()
        due = self._state.pop_due(ts)
        acc = OutcomeBuilder()
        calls: list[WaitingCall] = []
        missed: list[AgentEntry] = []
        for item in due:
            if item[2] == EXPIRE and self._state.live(item):
                entry = self._state.agents[item[4]]
                offer = entry.offer
                assert offer is not None
                step = st.missed(entry.status, offer.call_id, now, self.max_misses, Cause.OFFER_EXPIRED)
                acc.withdrawn.append(offer)
                calls.append(self._moves.take_back(entry, step, acc))
                missed.append(entry)
        for item in due:
            if item[2] == CALL and self._state.live(item):
                w = self._state.calls[item[4]]
                w.next_due = None
                calls.append(w)
        calls = [w for w in calls if self._moves.settle_call(w, now, acc)]
        for item in due:
            if item[2] == WRAP and self._state.live(item):
                entry = self._state.agents[item[4]]
                self._moves.agent_step(entry, st.wrap_up_ended(entry.status, now), now, acc)
            elif item[2] == REST and self._state.live(item):
                entry = self._state.agents[item[4]]
                self._moves.agent_step(entry, st.rest_ended(entry.status, now), now, acc)
        calls.sort(key=lambda w: caller_rank(self._state, w, ts))
        for w in calls:
            if w.offered_to is None:
                self._moves.match_call(w, self._state.queues[w.queue_id], now, acc)
        for entry in missed:
            self._state.index_free(entry)
            if entry.routable:
                self._moves.match_agent(entry, now, acc)
        return acc.outcome()

    def remove_queue(self, queue_id: str) -> None:
        """Forget a queue no call is in (waiting or ringing) and no other queue overflows to."""
        self._state.queue(queue_id)
        calls = sum(1 for w in self._state.calls.values() if w.queue_id == queue_id)
        if calls:
            raise QueueNotEmpty(f"queue {queue_id} has {calls} call(s) waiting or ringing")
        sources = sorted(qs.queue.id for qs in self._state.queues.values() if qs.queue.id != queue_id
                         and qs.queue.overflow is not None
                         and getattr(qs.queue.overflow.action, "queue_id", None) == queue_id)
        if sources:
            raise QueueIsOverflowTarget(f"queue(s) {', '.join(sources)} overflow to {queue_id}")
        del self._state.queues[queue_id]
        for entry in self._state.agents.values():
            entry.queues.pop(queue_id, None)


class QueueNotEmpty(Conflict):
    """A queue is removed only when no call waits or rings in it."""


class QueueIsOverflowTarget(Conflict):
    """A queue another queue overflows to cannot be removed before that rule is."""
