"""The Distributor's read side: definitions and statuses, why each agent would or would not get a call, EWT."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime

from callcontrol.core.acd import agent_states as st
from callcontrol.core.acd.agent_states import AgentState, AgentStatus
from callcontrol.core.acd.errors import UnknownCall
from callcontrol.core.acd.matching import rank, requirement_for
from callcontrol.core.acd.model import Agent, Call, Queue, Requirement, Strategy
from callcontrol.core.acd.outcomes import Offer
from callcontrol.core.acd.routing_state import AgentEntry, QueueState, RoutingState, WaitingCall

STAFFED = frozenset({AgentState.AVAILABLE, AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP})


@dataclass(frozen=True)
class Verdict:
    """One agent in an explanation: eligible with its rank, or not with every reason."""

    agent_id: str
    eligible: bool
    rank: int | None
    reason: str  # e.g. "eligible, rank 2: idle 42 s", "paused (lunch); skill spanish level 3 < required 5"


@dataclass(frozen=True)
class Explanation:
    """Why each agent would or would not get this call now: eligible agents by rank, then the others by id."""

    call_id: str
    queue_id: str
    waited_s: float  # in this queue (the escalation clock)
    requirement: Requirement  # after the escalation rules reached at this wait
    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True)
class Estimate:
    """Estimated wait for a position in a queue; `seconds` None when no eligible agent is staffed."""

    queue_id: str
    position: int
    seconds: float | None
    staffed: int
    free: int
    handle_s: float


class DistributorView:
    """Read-only questions about a Distributor's state: definitions, statuses, waiting calls, explain and EWT."""

    def __init__(self, state: RoutingState) -> None:
        self._state = state

    def agent(self, agent_id: str) -> Agent:
        """An agent's definition; raises UnknownAgent."""
        return self._state.entry(agent_id).agent

    def queue(self, queue_id: str) -> Queue:
        """A queue's definition; raises UnknownQueue."""
        return self._state.queue(queue_id).queue

    def logged_in(self, queue_id: str) -> int:
        """Agents who could serve this queue (at some escalation level) and are logged in, paused ones included:
        none means a caller entering now is blocked."""
        qs = self._state.queue(queue_id)
        agents = self._state.agents
        return sum(agents[agent_id].status.state is not AgentState.LOGGED_OUT for agent_id in qs.members)

    def queue_ids(self) -> list[str]:
        return sorted(self._state.queues)

    def agent_ids(self) -> list[str]:
        return sorted(self._state.agents)

    def agent_status(self, agent_id: str) -> AgentStatus:
        return self._state.entry(agent_id).status

    def agent_stats(self, agent_id: str) -> tuple[int, float]:
        """(answered calls today, talk seconds today), as used by fewest_calls and least_talk_time."""
        entry = self._state.entry(agent_id)
        return entry.calls_today, entry.talk_today_s

    def waiting(self, queue_id: str) -> list[str]:
        """The queue's waiting call ids in serving order (ringing calls excluded)."""
        return [key[3] for key in self._state.queue(queue_id).waiting]

    def waiting_calls(self, queue_id: str) -> list[tuple[Call, datetime, str | None]]:
        """The queue's calls, ringing ones first then waiting ones in serving order: (call, entered this queue,
        agent being offered the call or None)."""
        ringing = [w for w in self._state.calls.values() if w.queue_id == queue_id and w.offered_to is not None]
        waiting = [self._state.calls[key[3]] for key in self._state.queue(queue_id).waiting]
        return [(w.call, w.queued_at, w.offered_to) for w in (*ringing, *waiting)]

    def call_queue(self, call_id: str) -> str:
        """The queue a call is in now (it may have overflowed)."""
        return self._state.call(call_id).queue_id

    def offer_of(self, call_id: str) -> Offer | None:
        """The ringing offer of a call, or None while it waits."""
        w = self._state.call(call_id)
        return self._state.agents[w.offered_to].offer if w.offered_to is not None else None

    def explain(self, call: str | Call, now: datetime) -> Explanation:
        """Every agent, in order, with why it is or is not eligible for this call at its current wait.

        `call` is a call id in the Distributor, or a hypothetical Call (its wait counts from its arrived_at).
        Eligible agents come first in the queue strategy's order ("eligible, rank N: ..."); the rest follow by
        agent id with every reason (state, team, skills). For the random strategy the rank is by agent id.
        """
        if isinstance(call, str):
            w = self._state.call(call)
            qs = self._state.queues[w.queue_id]
        else:
            qs = self._state.queue(call.queue_id)
            priority = call.priority if call.priority is not None else qs.queue.priority
            key = (-priority, call.arrived_at.timestamp(), 0, call.id)
            w = WaitingCall(call, qs.queue.id, key, call.arrived_at)
        req = requirement_for(w, qs, now)
        eligible: list[AgentEntry] = []
        others: list[Verdict] = []
        for agent_id in sorted(self._state.agents):
            entry = self._state.agents[agent_id]
            reasons = []
            state_reason = _state_reason(entry, w.call.id)
            if state_reason:
                reasons.append(state_reason)
            reasons.extend(req.shortfalls(entry.skills, entry.agent.teams))
            if reasons:
                others.append(Verdict(agent_id, False, None, "; ".join(reasons)))
            else:
                eligible.append(entry)
        ranked = rank(qs, req, eligible)
        verdicts = [
            Verdict(e.agent.id, True, n, f"eligible, rank {n}: {_rank_detail(qs, req, e, now, len(ranked))}")
            for n, e in enumerate(ranked, 1)]
        return Explanation(w.call.id, qs.queue.id, (now - w.queued_at).total_seconds(), req,
                           tuple(verdicts + others))

    def estimated_wait(self, queue_id: str, now: datetime, call_id: str | None = None) -> Estimate:
        """Estimated wait of a waiting call (its position), or of a new caller (position = waiting + 1).

        EWT(k) = 0 when k <= F, else (k - F) x AHT / N, where
          k   = position: 1 + calls ahead in the queue's serving order (ringing calls are being served);
          N   = staffed eligible agents: logged in, not paused, not unavailable (free, ringing, on call or in
                wrap-up), who meet the requirement (the call's at its current wait; the queue's base one for a
                new caller);
          F   = of those, the agents free now (available, device not busy);
          AHT = mean handle time (talk + wrap-up) of the queue's last 20 handled calls, or the queue's
                expected_handle_s before any.
        N busy agents free up at about one every AHT / N seconds, so the k-th caller is served after about
        k of them have. seconds is None when N = 0 (nobody can take the call). Calls of other queues competing
        for the same agents are not counted.
        """
        qs = self._state.queue(queue_id)
        if call_id is not None:
            w = self._state.call(call_id)
            if w.queue_id != queue_id:
                raise UnknownCall(f"call {call_id} is in queue {w.queue_id}, not {queue_id}")
            req = requirement_for(w, qs, now)
            position = 1 if w.offered_to is not None else bisect.bisect_left(qs.waiting, w.key) + 1
        else:
            req = qs.levels[0]
            position = len(qs.waiting) + 1
        staffed = free = 0
        for agent_id in qs.members:
            entry = self._state.agents[agent_id]
            if entry.status.state in STAFFED and req.admits(entry.skills, entry.agent.teams):
                staffed += 1
                free += entry.routable
        handle_s = sum(qs.handled) / len(qs.handled) if qs.handled else qs.queue.expected_handle_s
        if staffed == 0:
            seconds = None
        else:
            seconds = 0.0 if position <= free else (position - free) * handle_s / staffed
        return Estimate(queue_id, position, seconds, staffed, free, handle_s)


def _rank_detail(qs: QueueState, req: Requirement, e: AgentEntry, now: datetime, count: int) -> str:
    idle = f"idle {(now - e.status.idle_since).total_seconds():.0f} s" if e.status.idle_since else "idle"
    strategy = qs.queue.strategy
    if strategy is Strategy.BEST_SKILL:
        return f"skill score {req.score(e.skills)}, {idle}"
    if strategy is Strategy.FEWEST_CALLS:
        return f"{e.calls_today} calls today, {idle}"
    if strategy is Strategy.LEAST_TALK_TIME:
        return f"talk {e.talk_today_s:.0f} s today, {idle}"
    if strategy is Strategy.ROUND_ROBIN:
        return f"rotation after {qs.rr_last}" if qs.rr_last else "rotation from the first agent id"
    if strategy is Strategy.RANDOM:
        return f"random pick among {count}"
    return idle


def _state_reason(entry: AgentEntry, call_id: str) -> str | None:
    status = entry.status
    state = status.state
    pending = f", pause ({status.pause_reason}) asked" if status.pause_reason and state in st.BUSY else ""
    if state is AgentState.LOGGED_OUT:
        return "not logged in"
    if state is AgentState.UNAVAILABLE:
        return "unavailable (device unreachable)"
    if state is AgentState.PAUSED:
        return f"paused ({status.pause_reason})"
    if state is AgentState.WRAP_UP:
        assert status.wrap_up_until is not None
        return f"in wrap-up until {status.wrap_up_until:%H:%M:%S}"
    if state is AgentState.RESERVED:
        if status.call_id == call_id:
            return f"ringing for this call since {status.since:%H:%M:%S}{pending}"
        return f"ringing for call {status.call_id}{pending}"
    if state is AgentState.ON_CALL:
        return f"on call {status.call_id}{pending}"
    if status.device_busy:
        return "device busy (personal call)"
    if status.resting_until is not None:
        return f"device refused an offer: resting until {status.resting_until:%H:%M:%S}"
    return None
