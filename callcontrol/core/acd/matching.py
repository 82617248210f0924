"""Matching and ranking: a call's requirement at its wait, the queue strategies' order, the best agent or caller.

Choosing only: nothing here changes the routing state (the Distributor reserves what these functions pick).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from callcontrol.core.acd.model import Requirement, Strategy, requirement
from callcontrol.core.acd.routing_state import AgentEntry, QueueState, RoutingState, WaitingCall


def requirement_for(w: WaitingCall, qs: QueueState, now: datetime, level: int | None = None) -> Requirement:
    """The call's requirement at its escalation level (`level`, else its wait at `now`)."""
    if level is None:
        level = qs.level((now - w.queued_at).total_seconds())
    if not w.call.skills:
        return qs.levels[level]
    req = w.reqs.get(level)
    if req is None:
        req = w.reqs[level] = requirement(qs.queue, level, w.call.skills)
    return req


def strategy_key(qs: QueueState, req: Requirement) -> Callable[[AgentEntry], Any]:
    """The sort key of eligible agents by the queue's strategy (best first); not for the random strategy."""
    strategy = qs.queue.strategy
    if strategy is Strategy.BEST_SKILL:
        return lambda e: (-req.score(e.skills), e.status.idle_since, e.agent.id)
    if strategy is Strategy.FEWEST_CALLS:
        return lambda e: (e.calls_today, e.status.idle_since, e.agent.id)
    if strategy is Strategy.LEAST_TALK_TIME:
        return lambda e: (e.talk_today_s, e.status.idle_since, e.agent.id)
    if strategy is Strategy.ROUND_ROBIN:
        last = qs.rr_last
        return lambda e: (last is not None and e.agent.id <= last, e.agent.id)
    return lambda e: (e.status.idle_since, e.agent.id)


def rank(qs: QueueState, req: Requirement, entries: list[AgentEntry]) -> list[AgentEntry]:
    """Eligible agents in the queue strategy's order (by agent id for the random strategy)."""
    if qs.queue.strategy is Strategy.RANDOM:
        return sorted(entries, key=lambda e: e.agent.id)
    return sorted(entries, key=strategy_key(qs, req))


def caller_rank(state: RoutingState, w: WaitingCall, now_ts: float) -> tuple:
    """The order of callers across queues: priority, then wait x queue weight, then arrival."""
    key = w.key
    return (key[0], (key[1] - now_ts) * state.queues[w.queue_id].queue.weight, key[1], key[2])


def best_free_agent(state: RoutingState, w: WaitingCall, qs: QueueState, now: datetime,
                    rng: random.Random) -> AgentEntry | None:
    """The best free eligible agent for a waiting call by the queue's strategy, if any."""
    if not qs.free_count:
        return None
    level = qs.level((now - w.queued_at).total_seconds())
    req = requirement_for(w, qs, now, level)
    agents = state.agents
    if w.call.skills:
        candidates = [agents[a] for bucket in qs.free[:level + 1] for a in bucket
                      if req.admits(agents[a].skills, agents[a].agent.teams)]
    else:
        candidates = [agents[a] for bucket in qs.free[:level + 1] for a in bucket]
    if not candidates:
        return None
    if qs.queue.strategy is Strategy.RANDOM:
        candidates.sort(key=lambda e: e.agent.id)
        return rng.choice(candidates)
    return min(candidates, key=strategy_key(qs, req))


def best_waiting_call(state: RoutingState, entry: AgentEntry, now: datetime) -> WaitingCall | None:
    """A free agent's best eligible waiting call across its queues, if any."""
    best: WaitingCall | None = None
    best_key: tuple | None = None
    skills, teams = entry.skills, entry.agent.teams
    calls = state.calls
    now_ts = now.timestamp()
    for queue_id in entry.queues:
        qs = state.queues[queue_id]
        if not qs.waiting:
            continue
        weight = qs.queue.weight
        for key in qs.waiting:
            if best_key is not None and key[0] > best_key[0]:
                break  # lower priority than the best found: nothing further in this queue can win
            w = calls[key[3]]
            if requirement_for(w, qs, now).admits(skills, teams):
                rank_key = (key[0], (key[1] - now_ts) * weight, key[1], key[2])
                if best_key is None or rank_key < best_key:
                    best, best_key = w, rank_key
                break
    return best
