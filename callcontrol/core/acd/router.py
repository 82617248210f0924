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

Index: per queue, the waiting calls sorted by (priority, arrival) and its free agents bucketed by the first
escalation level at which they qualify; per agent, the queues it can ever serve, each with that level, kept
when skills or queues change. A call's skill and team relaxations are computed from its wait at `now`;
overflows, max-wait timeouts, wrap-up ends and expired offers happen in `advance(now)`, which the service calls
at `next_due_at()`.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from callcontrol.core.acd import agent_states as st
from callcontrol.core.acd.agent_states import AgentState, AgentStatus, Cause, Transition
from callcontrol.core.acd.errors import (
    AgentNotOnCall,
    AgentStillLoggedIn,
    CallAlreadyQueued,
    Conflict,
    QueueFull,
    UnknownAgent,
    UnknownCall,
    UnknownQueue,
)
from callcontrol.core.acd.history import HandledCall
from callcontrol.core.acd.model import Agent, Call, InvalidConfig, Overflow, Queue, Requirement, Strategy, requirement

HANDLE_TIME_WINDOW = 20  # handled calls per queue kept for the wait estimate


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Offer:
    """Ring `endpoint` for `call_id` for ring_timeout_s; the agent stays reserved until answer, miss or leave.

    Should neither answer nor miss be reported by `expires_at` (ring timeout + grace), advance() counts a miss.
    """

    call_id: str
    agent_id: str
    queue_id: str
    endpoint: str
    ring_timeout_s: float
    offered_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Overflowed:
    """An escalation rule moved the call to another queue (the stint in `from_queue` ends 'overflowed')."""

    call_id: str
    from_queue: str
    to_queue: str
    at: datetime


@dataclass(frozen=True)
class TimedOut:
    """The call waited the queue's max_wait_s and left the queue; the flow sends it on."""

    call_id: str
    queue_id: str
    at: datetime


@dataclass(frozen=True)
class Outcome:
    """What a Distributor call decided: log the transitions, dial the offers, hang up the withdrawn offers."""

    transitions: tuple[Transition, ...] = ()
    offers: tuple[Offer, ...] = ()
    withdrawn: tuple[Offer, ...] = ()  # stop ringing: the caller left, or the offer expired
    overflowed: tuple[Overflowed, ...] = ()
    timed_out: tuple[TimedOut, ...] = ()


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


# ---------------------------------------------------------------- internal state


class _Acc:
    __slots__ = ("transitions", "offers", "withdrawn", "overflowed", "timed_out")

    def __init__(self) -> None:
        self.transitions: list[Transition] = []
        self.offers: list[Offer] = []
        self.withdrawn: list[Offer] = []
        self.overflowed: list[Overflowed] = []
        self.timed_out: list[TimedOut] = []

    def outcome(self) -> Outcome:
        return Outcome(tuple(self.transitions), tuple(self.offers), tuple(self.withdrawn),
                       tuple(self.overflowed), tuple(self.timed_out))


class _QueueState:
    __slots__ = ("queue", "levels", "thresholds", "overflow_after", "widest", "waiting", "members", "free",
                 "free_count", "ringing", "rr_last", "handled")

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        rules = queue.escalations
        overflow = queue.overflow
        relax_rules = rules[:-1] if overflow is not None else rules
        self.levels = [requirement(queue, n) for n in range(len(relax_rules) + 1)]
        self.thresholds = [rule.after_s for rule in relax_rules]
        self.overflow_after = overflow.after_s if overflow is not None else None
        self.widest = self.levels[-1]  # every agent who may ever serve this queue meets this
        self.waiting: list[tuple[int, float, int, str]] = []  # (-priority, arrival ts, seq, call id), sorted
        self.members: dict[str, None] = {}  # ordered sets of agent ids
        # free agents by the first escalation level at which they qualify (a call at level L may take any agent
        # of buckets 0..L, checking only its own extra skills)
        self.free: list[dict[str, None]] = [{} for _ in self.levels]
        self.free_count = 0
        self.ringing = 0
        self.rr_last: str | None = None
        self.handled: deque[float] = deque(maxlen=HANDLE_TIME_WINDOW)

    def level(self, waited_s: float) -> int:
        return bisect.bisect_right(self.thresholds, waited_s)

    def first_level(self, skills: dict[str, int], teams: frozenset[str]) -> int | None:
        """The first escalation level at which an agent qualifies (levels only widen), None if never."""
        for level, req in enumerate(self.levels):
            if req.admits(skills, teams):
                return level
        return None

    def add_free(self, agent_id: str, level: int) -> None:
        bucket = self.free[level]
        if agent_id not in bucket:
            bucket[agent_id] = None
            self.free_count += 1

    def remove_free(self, agent_id: str) -> None:
        for bucket in self.free:
            if bucket.pop(agent_id, 0) is None:
                self.free_count -= 1


class _AgentEntry:
    __slots__ = ("agent", "skills", "status", "queues", "calls_today", "talk_today_s", "offer", "answered_at",
                 "call_queue", "routable")

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.skills = dict(agent.skills)
        self.status = AgentStatus(agent.id)
        self.queues: dict[str, int] = {}  # queue id -> first escalation level at which the agent qualifies
        self.calls_today = 0
        self.talk_today_s = 0.0
        self.offer: Offer | None = None
        self.answered_at: datetime | None = None
        self.call_queue: str | None = None
        self.routable = False


class _Waiting:
    __slots__ = ("call", "queue_id", "key", "queued_at", "stint", "offered_to", "next_due", "overflow_done",
                 "reqs")

    def __init__(self, call: Call, queue_id: str, key: tuple[int, float, int, str], now: datetime) -> None:
        self.call = call
        self.queue_id = queue_id
        self.key = key
        self.queued_at = now
        self.stint = 0
        self.offered_to: str | None = None
        self.next_due: datetime | None = None
        self.overflow_done = False  # the overflow rule of this stint ran (target full: the call stayed)
        self.reqs: dict[int, Requirement] = {}  # per level, for calls with their own skills


# heap items: (due timestamp, seq, kind, due, subject, token)
_WRAP, _EXPIRE, _CALL, _REST = "wrap", "expire", "call", "rest"


class Distributor:
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
        self.offer_grace_s = offer_grace_s
        self.refused_rest_s = refused_rest_s
        self._rng = rng if rng is not None else random.Random(0)
        self._queues: dict[str, _QueueState] = {}
        self._agents: dict[str, _AgentEntry] = {}
        self._calls: dict[str, _Waiting] = {}
        self._heap: list[tuple[float, int, str, datetime, str, object]] = []
        self._seq = 0
        queues = list(queues)
        for queue in queues:
            self._queues[queue.id] = _QueueState(queue)
        for queue in queues:
            self._check_overflow_target(queue)
        for agent in agents:
            self._add_agent(agent)

    # ------------------------------------------------------------ configuration

    def set_queue(self, queue: Queue, now: datetime) -> Outcome:
        """Add or replace a queue; its waiting calls are re-escalated and re-routed under the new rules."""
        return self.set_queues([queue], now)

    def set_queues(self, queues: Iterable[Queue], now: datetime) -> Outcome:
        """Add or replace several queues at once: an overflow may name any of them, whatever their order."""
        queues = list(queues)
        known = set(self._queues) | {queue.id for queue in queues}
        for queue in queues:
            self._check_overflow_target(queue, known)
        outcomes = [self._set_queue(queue, now) for queue in queues]
        return Outcome(*(tuple(item for outcome in outcomes for item in getattr(outcome, name))
                         for name in ("transitions", "offers", "withdrawn", "overflowed", "timed_out")))

    def _set_queue(self, queue: Queue, now: datetime) -> Outcome:
        old = self._queues.get(queue.id)
        qs = _QueueState(queue)
        if old is not None:
            qs.waiting, qs.ringing, qs.rr_last, qs.handled = old.waiting, old.ringing, old.rr_last, old.handled
        self._queues[queue.id] = qs
        for entry in self._agents.values():
            self._index_agent(entry)
        acc = _Acc()
        for key in list(qs.waiting):
            w = self._calls[key[3]]
            w.reqs.clear()
            if w.offered_to is None and w.call.id in self._calls:
                self._route_call(w, now, acc)
        return acc.outcome()

    def set_agent(self, agent: Agent, now: datetime) -> Outcome:
        """Add an agent (logged out) or replace its profile (skills, teams, endpoint...) keeping its state."""
        entry = self._agents.get(agent.id)
        if entry is None:
            self._add_agent(agent)
            return Outcome()
        entry.agent, entry.skills = agent, dict(agent.skills)
        self._index_agent(entry)
        acc = _Acc()
        if entry.routable:
            self._match_agent(entry, now, acc)
        return acc.outcome()

    def remove_agent(self, agent_id: str) -> None:
        """Forget a logged-out agent."""
        entry = self._entry(agent_id)
        if entry.status.state is not AgentState.LOGGED_OUT:
            raise AgentStillLoggedIn(f"agent {agent_id} must log out first ({entry.status.state})")
        self._index_agent(entry, forget=True)
        del self._agents[agent_id]

    def restore_history(self, handled: Iterable[HandledCall]) -> None:
        """After a restart: the conversations handled so far today (oldest first) count again, for agents'
        calls and talk today and each queue's recent handle times (talk + the wrap-up the agent would get)."""
        for call in handled:
            entry = self._agents.get(call.agent_id)
            if entry is not None:
                entry.calls_today += 1
                entry.talk_today_s += call.talk_s
            qs = self._queues.get(call.queue_id or "")
            if qs is not None:
                wrap_s = entry.agent.wrap_up_s if entry is not None and entry.agent.wrap_up_s is not None \
                    else qs.queue.wrap_up_s
                qs.handled.append(call.talk_s + wrap_s)

    def reset_daily_stats(self) -> None:
        """Start a new day for fewest_calls and least_talk_time (the service calls this at local midnight)."""
        for entry in self._agents.values():
            entry.calls_today, entry.talk_today_s = 0, 0.0

    # ------------------------------------------------------------ agent requests (API)

    def login(self, agent_id: str, now: datetime) -> Outcome:
        entry = self._entry(agent_id)
        return self._agent_step(entry, st.login(entry.status, now), now)

    def logout(self, agent_id: str, now: datetime) -> Outcome:
        entry = self._entry(agent_id)
        return self._agent_step(entry, st.logout(entry.status, now), now)

    def pause(self, agent_id: str, reason: str, now: datetime) -> Outcome:
        entry = self._entry(agent_id)
        return self._agent_step(entry, st.pause(entry.status, reason, now), now)

    def resume(self, agent_id: str, now: datetime) -> Outcome:
        """Paused -> available, or end a wrap-up early ('ready'), or cancel a pause asked during a call."""
        entry = self._entry(agent_id)
        return self._agent_step(entry, st.resume(entry.status, now), now)

    # ------------------------------------------------------------ device events (AMI)

    def device_reachable(self, agent_id: str, reachable: bool, now: datetime) -> Outcome:
        """The agent's device registered (True) or became unregistered/unreachable (False)."""
        entry = self._entry(agent_id)
        return self._agent_step(entry, st.device_reachable(entry.status, reachable, now), now)

    def device_busy(self, agent_id: str, busy: bool, now: datetime) -> Outcome:
        """The agent's device is (not) on a call of its own; a busy agent is offered nothing."""
        entry = self._entry(agent_id)
        return self._agent_step(entry, st.device_busy(entry.status, busy, now), now)

    # ------------------------------------------------------------ calls

    def call_arrived(self, call: Call, now: datetime) -> Outcome:
        """Queue a caller (or one coming back: pass its original arrived_at) and offer it if an agent is free.

        Raises UnknownQueue, CallAlreadyQueued, or QueueFull when the queue holds max_length calls.
        """
        qs = self._queue(call.queue_id)
        if call.id in self._calls:
            raise CallAlreadyQueued(f"call {call.id} is already in queue {self._calls[call.id].queue_id}")
        if qs.queue.max_length is not None and len(qs.waiting) + qs.ringing >= qs.queue.max_length:
            raise QueueFull(f"queue {qs.queue.id} is full ({qs.queue.max_length} calls)")
        w = _Waiting(call, qs.queue.id, self._key(call, qs.queue), now)
        self._calls[call.id] = w
        bisect.insort(qs.waiting, w.key)
        acc = _Acc()
        self._route_call(w, now, acc)
        return acc.outcome()

    def call_left(self, call_id: str, now: datetime) -> Outcome:
        """The caller hung up or chose to leave (callback, voicemail) before being answered.

        A ringing offer is withdrawn (listed in Outcome.withdrawn) and the agent is free again.
        """
        w = self._call(call_id)
        acc = _Acc()
        qs = self._queues[w.queue_id]
        del self._calls[call_id]
        if w.offered_to is None:
            self._unqueue(qs, w)
            return acc.outcome()
        entry = self._agents[w.offered_to]
        step = st.withdrawn(entry.status, call_id, now)
        qs.ringing -= 1
        assert entry.offer is not None
        acc.withdrawn.append(entry.offer)
        entry.offer = None
        self._apply(entry, step, acc)
        if entry.routable:
            self._match_agent(entry, now, acc)
        return acc.outcome()

    def offer_answered(self, call_id: str, agent_id: str, now: datetime) -> Outcome:
        """The agent answered: on call; the call leaves the Distributor (its stint ends 'answered')."""
        entry = self._entry(agent_id)
        step = st.answered(entry.status, call_id, now)
        w = self._calls.pop(call_id)
        self._queues[w.queue_id].ringing -= 1
        entry.offer, entry.answered_at, entry.call_queue = None, now, w.queue_id
        entry.calls_today += 1
        acc = _Acc()
        self._apply(entry, step, acc)
        return acc.outcome()

    def offer_missed(self, call_id: str, agent_id: str, now: datetime, refused: bool = False) -> Outcome:
        """Ring-no-answer: the call goes back to its place in the queue (offered to another free agent first),
        then the agent is available again, or paused 'missed' after max_misses in a row.

        `refused`: the device refused at once (busy, congestion): a miss too, and the agent rests refused_rest_s.
        """
        entry = self._entry(agent_id)
        rest_until = now + timedelta(seconds=self.refused_rest_s) if refused and self.refused_rest_s > 0 else None
        step = st.missed(entry.status, call_id, now, self.max_misses, rest_until=rest_until)
        acc = _Acc()
        self._end_offer_missed(entry, step, now, acc)
        return acc.outcome()

    def call_ended(self, agent_id: str, now: datetime) -> Outcome:
        """The agent's conversation ended: wrap-up (agent override, else the queue's), then free again."""
        entry = self._entry(agent_id)
        status = entry.status
        if status.state is not AgentState.ON_CALL or status.call_id is None:
            raise AgentNotOnCall(f"agent {agent_id} is not on a call ({status.state})")
        qs = self._queues.get(entry.call_queue or "")
        wrap_s = entry.agent.wrap_up_s if entry.agent.wrap_up_s is not None else (qs.queue.wrap_up_s if qs else 0.0)
        talk_s = (now - entry.answered_at).total_seconds() if entry.answered_at else 0.0
        step = st.call_ended(status, status.call_id, now, wrap_s)
        entry.talk_today_s += talk_s
        if qs is not None:
            qs.handled.append(talk_s + wrap_s)
        entry.answered_at, entry.call_queue = None, None
        return self._agent_step(entry, step, now)

    # ------------------------------------------------------------ timers

    def next_due_at(self) -> datetime | None:
        """When advance() next has something to do (escalation, overflow, max wait, wrap-up end, expired offer)."""
        while self._heap and not self._live(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][3] if self._heap else None

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
        due: list[tuple] = []
        while self._heap and self._heap[0][0] <= ts:
            item = heapq.heappop(self._heap)
            if self._live(item):
                due.append(item)
        acc = _Acc()
        calls: list[_Waiting] = []
        missed: list[_AgentEntry] = []
        for item in due:
            if item[2] == _EXPIRE and self._live(item):
                entry = self._agents[item[4]]
                offer = entry.offer
                assert offer is not None
                step = st.missed(entry.status, offer.call_id, now, self.max_misses, Cause.OFFER_EXPIRED)
                acc.withdrawn.append(offer)
                calls.append(self._take_back(entry, step, acc))
                missed.append(entry)
        for item in due:
            if item[2] == _CALL and self._live(item):
                w = self._calls[item[4]]
                w.next_due = None
                calls.append(w)
        calls = [w for w in calls if self._settle_call(w, now, acc)]
        for item in due:
            if item[2] == _WRAP and self._live(item):
                entry = self._agents[item[4]]
                self._agent_step(entry, st.wrap_up_ended(entry.status, now), now, acc)
            elif item[2] == _REST and self._live(item):
                entry = self._agents[item[4]]
                self._agent_step(entry, st.rest_ended(entry.status, now), now, acc)
        calls.sort(key=lambda w: self._rank_key(w, ts))
        for w in calls:
            if w.offered_to is None:
                self._match_call(w, self._queues[w.queue_id], now, acc)
        for entry in missed:
            self._index_free(entry)
            if entry.routable:
                self._match_agent(entry, now, acc)
        return acc.outcome()

    # ------------------------------------------------------------ reading

    def agent(self, agent_id: str) -> Agent:
        """An agent's definition; raises UnknownAgent."""
        return self._entry(agent_id).agent

    def queue(self, queue_id: str) -> Queue:
        """A queue's definition; raises UnknownQueue."""
        return self._queue(queue_id).queue

    def logged_in(self, queue_id: str) -> int:
        """Agents who could serve this queue (at some escalation level) and are logged in, paused ones included:
        none means a caller entering now is blocked."""
        qs = self._queue(queue_id)
        return sum(self._agents[agent_id].status.state is not AgentState.LOGGED_OUT for agent_id in qs.members)

    def queue_ids(self) -> list[str]:
        return sorted(self._queues)

    def agent_ids(self) -> list[str]:
        return sorted(self._agents)

    def agent_status(self, agent_id: str) -> AgentStatus:
        return self._entry(agent_id).status

    def agent_stats(self, agent_id: str) -> tuple[int, float]:
        """(answered calls today, talk seconds today), as used by fewest_calls and least_talk_time."""
        entry = self._entry(agent_id)
        return entry.calls_today, entry.talk_today_s

    def waiting(self, queue_id: str) -> list[str]:
        """The queue's waiting call ids in serving order (ringing calls excluded)."""
        return [key[3] for key in self._queue(queue_id).waiting]

    def waiting_calls(self, queue_id: str) -> list[tuple[Call, datetime, str | None]]:
        """The queue's calls, ringing ones first then waiting ones in serving order: (call, entered this queue,
        agent being offered the call or None)."""
        ringing = [w for w in self._calls.values() if w.queue_id == queue_id and w.offered_to is not None]
        waiting = [self._calls[key[3]] for key in self._queue(queue_id).waiting]
        return [(w.call, w.queued_at, w.offered_to) for w in (*ringing, *waiting)]

    def call_queue(self, call_id: str) -> str:
        """The queue a call is in now (it may have overflowed)."""
        return self._call(call_id).queue_id

    def offer_of(self, call_id: str) -> Offer | None:
        """The ringing offer of a call, or None while it waits."""
        w = self._call(call_id)
        return self._agents[w.offered_to].offer if w.offered_to is not None else None

    def explain(self, call: str | Call, now: datetime) -> Explanation:
        """Every agent, in order, with why it is or is not eligible for this call at its current wait.

        `call` is a call id in the Distributor, or a hypothetical Call (its wait counts from its arrived_at).
        Eligible agents come first in the queue strategy's order ("eligible, rank N: ..."); the rest follow by
        agent id with every reason (state, team, skills). For the random strategy the rank is by agent id.
        """
        if isinstance(call, str):
            w = self._call(call)
            qs = self._queues[w.queue_id]
        else:
            qs = self._queue(call.queue_id)
            priority = call.priority if call.priority is not None else qs.queue.priority
            w = _Waiting(call, qs.queue.id, (-priority, call.arrived_at.timestamp(), 0, call.id), call.arrived_at)
        req = self._requirement(w, qs, now)
        eligible: list[_AgentEntry] = []
        others: list[Verdict] = []
        for agent_id in sorted(self._agents):
            entry = self._agents[agent_id]
            reasons = []
            state = self._state_reason(entry, w.call.id)
            if state:
                reasons.append(state)
            reasons.extend(req.shortfalls(entry.skills, entry.agent.teams))
            if reasons:
                others.append(Verdict(agent_id, False, None, "; ".join(reasons)))
            else:
                eligible.append(entry)
        ranked = self._rank(qs, req, eligible)
        verdicts = [
            Verdict(e.agent.id, True, n, f"eligible, rank {n}: {self._rank_detail(qs, req, e, now, len(ranked))}")
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
        qs = self._queue(queue_id)
        if call_id is not None:
            w = self._call(call_id)
            if w.queue_id != queue_id:
                raise UnknownCall(f"call {call_id} is in queue {w.queue_id}, not {queue_id}")
            req = self._requirement(w, qs, now)
            position = 1 if w.offered_to is not None else bisect.bisect_left(qs.waiting, w.key) + 1
        else:
            req = qs.levels[0]
            position = len(qs.waiting) + 1
        staffed = free = 0
        for agent_id in qs.members:
            entry = self._agents[agent_id]
            if entry.status.state in _STAFFED and req.admits(entry.skills, entry.agent.teams):
                staffed += 1
                free += entry.routable
        handle_s = sum(qs.handled) / len(qs.handled) if qs.handled else qs.queue.expected_handle_s
        if staffed == 0:
            seconds = None
        else:
            seconds = 0.0 if position <= free else (position - free) * handle_s / staffed
        return Estimate(queue_id, position, seconds, staffed, free, handle_s)

    # ------------------------------------------------------------ routing internals

    def _route_call(self, w: _Waiting, now: datetime, acc: _Acc) -> None:
        """A waiting call became routable: apply its due max wait / overflow, then offer it to a free agent."""
        if self._settle_call(w, now, acc):
            self._match_call(w, self._queues[w.queue_id], now, acc)

    def _settle_call(self, w: _Waiting, now: datetime, acc: _Acc) -> bool:
        """Apply a waiting call's due max wait and overflow, and set its next timer; False when it timed out."""
        while True:
            qs = self._queues[w.queue_id]
            waited = (now - w.queued_at).total_seconds()
            if qs.queue.max_wait_s is not None and waited >= qs.queue.max_wait_s:
                self._unqueue(qs, w)
                del self._calls[w.call.id]
                acc.timed_out.append(TimedOut(w.call.id, qs.queue.id, now))
                return False
            if qs.overflow_after is None or w.overflow_done or waited < qs.overflow_after:
                break
            w.overflow_done = True
            target = self._queues[qs.queue.escalations[-1].action.queue_id]  # type: ignore[union-attr]
            tq = target.queue
            if tq.max_length is not None and len(target.waiting) + target.ringing >= tq.max_length:
                continue  # target full: the call stays here
            self._unqueue(qs, w)
            acc.overflowed.append(Overflowed(w.call.id, qs.queue.id, tq.id, now))
            w.queue_id, w.queued_at, w.stint, w.overflow_done = tq.id, now, w.stint + 1, False
            w.key = self._key(w.call, tq)
            w.reqs.clear()
            bisect.insort(target.waiting, w.key)
        self._schedule_call(w, qs, now)
        return True

    def _match_call(self, w: _Waiting, qs: _QueueState, now: datetime, acc: _Acc) -> None:
        """Offer a waiting call to the best free eligible agent by the queue's strategy, if any."""
        if not qs.free_count:
            return
        level = qs.level((now - w.queued_at).total_seconds())
        req = self._requirement(w, qs, now, level)
        agents = self._agents
        if w.call.skills:
            candidates = [agents[a] for bucket in qs.free[:level + 1] for a in bucket
                          if req.admits(agents[a].skills, agents[a].agent.teams)]
        else:
            candidates = [agents[a] for bucket in qs.free[:level + 1] for a in bucket]
        if not candidates:
            return
        strategy = qs.queue.strategy
        if strategy is Strategy.RANDOM:
            candidates.sort(key=lambda e: e.agent.id)
            chosen = self._rng.choice(candidates)
        else:
            chosen = min(candidates, key=self._strategy_key(qs, req))
        self._reserve(chosen, w, qs, now, acc)

    def _match_agent(self, entry: _AgentEntry, now: datetime, acc: _Acc) -> None:
        """Offer a free agent its best eligible waiting call across its queues, if any."""
        best: _Waiting | None = None
        best_key: tuple | None = None
        skills, teams = entry.skills, entry.agent.teams
        calls = self._calls
        now_ts = now.timestamp()
        for queue_id in entry.queues:
            qs = self._queues[queue_id]
            if not qs.waiting:
                continue
            weight = qs.queue.weight
            for key in qs.waiting:
                if best_key is not None and key[0] > best_key[0]:
                    break  # lower priority than the best found: nothing further in this queue can win
                w = calls[key[3]]
                if self._requirement(w, qs, now).admits(skills, teams):
                    rank = (key[0], (key[1] - now_ts) * weight, key[1], key[2])
                    if best_key is None or rank < best_key:
                        best, best_key = w, rank
                    break
        if best is not None:
            self._reserve(entry, best, self._queues[best.queue_id], now, acc)

    def _reserve(self, entry: _AgentEntry, w: _Waiting, qs: _QueueState, now: datetime, acc: _Acc) -> None:
        step = st.reserve(entry.status, w.call.id, now)
        self._unqueue(qs, w)
        qs.ringing += 1
        w.offered_to, w.next_due = entry.agent.id, None  # its timer resumes when the offer ends unanswered
        timeout = qs.queue.ring_timeout_s
        offer = Offer(w.call.id, entry.agent.id, qs.queue.id, entry.agent.endpoint, timeout, now,
                      now + timedelta(seconds=timeout + self.offer_grace_s))
        entry.offer = offer
        if qs.queue.strategy is Strategy.ROUND_ROBIN:
            qs.rr_last = entry.agent.id
        self._apply(entry, step, acc)
        acc.offers.append(offer)
        self._push(offer.expires_at, _EXPIRE, entry.agent.id, offer)

    def _end_offer_missed(self, entry: _AgentEntry, step: st.Step, now: datetime, acc: _Acc) -> None:
        """Put the missed call back in its place and route it first, then let the agent take its best caller."""
        w = self._take_back(entry, step, acc)
        self._route_call(w, now, acc)
        self._index_free(entry)
        if entry.routable:
            self._match_agent(entry, now, acc)

    def _take_back(self, entry: _AgentEntry, step: st.Step, acc: _Acc) -> _Waiting:
        """End an unanswered offer: the call back in its place, the agent's new status stored but not yet free
        in the index (so other agents get the call first)."""
        offer = entry.offer
        assert offer is not None
        entry.offer = None
        w = self._calls[offer.call_id]
        qs = self._queues[w.queue_id]
        qs.ringing -= 1
        w.offered_to = None
        bisect.insort(qs.waiting, w.key)
        self._apply(entry, step, acc, index=False)
        return w

    def _agent_step(self, entry: _AgentEntry, step: st.Step, now: datetime, acc: _Acc | None = None) -> Outcome:
        acc = acc if acc is not None else _Acc()
        self._apply(entry, step, acc)
        if entry.routable:
            self._match_agent(entry, now, acc)
        return acc.outcome()

    def _apply(self, entry: _AgentEntry, step: st.Step, acc: _Acc, index: bool = True) -> None:
        """Store an agent's new status, record its transition, keep the wrap-up timer and (unless told not to
        yet) the free-agent index."""
        previous_rest = entry.status.resting_until
        entry.status = step.status
        if step.transition is not None:
            acc.transitions.append(step.transition)
        if step.status.state is AgentState.WRAP_UP and step.transition is not None:
            assert step.status.wrap_up_until is not None
            self._push(step.status.wrap_up_until, _WRAP, entry.agent.id, step.status.wrap_up_until)
        if step.status.resting_until is not None and step.status.resting_until != previous_rest:
            self._push(step.status.resting_until, _REST, entry.agent.id, step.status.resting_until)
        if index:
            self._index_free(entry)

    def _index_free(self, entry: _AgentEntry) -> None:
        routable = entry.status.routable
        if routable != entry.routable:
            entry.routable = routable
            agent_id = entry.agent.id
            for queue_id, level in entry.queues.items():
                if routable:
                    self._queues[queue_id].add_free(agent_id, level)
                else:
                    self._queues[queue_id].remove_free(agent_id)

    def _rank_key(self, w: _Waiting, now_ts: float) -> tuple:
        """The order of callers across queues: priority, then wait x queue weight, then arrival."""
        key = w.key
        return (key[0], (key[1] - now_ts) * self._queues[w.queue_id].queue.weight, key[1], key[2])

    def _requirement(self, w: _Waiting, qs: _QueueState, now: datetime, level: int | None = None) -> Requirement:
        if level is None:
            level = qs.level((now - w.queued_at).total_seconds())
        if not w.call.skills:
            return qs.levels[level]
        req = w.reqs.get(level)
        if req is None:
            req = w.reqs[level] = requirement(qs.queue, level, w.call.skills)
        return req

    def _strategy_key(self, qs: _QueueState, req: Requirement):
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

    def _rank(self, qs: _QueueState, req: Requirement, entries: list[_AgentEntry]) -> list[_AgentEntry]:
        if qs.queue.strategy is Strategy.RANDOM:
            return sorted(entries, key=lambda e: e.agent.id)
        return sorted(entries, key=self._strategy_key(qs, req))

    def _rank_detail(self, qs: _QueueState, req: Requirement, e: _AgentEntry, now: datetime, count: int) -> str:
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

    @staticmethod
    def _state_reason(entry: _AgentEntry, call_id: str) -> str | None:
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

    # ------------------------------------------------------------ index and timers

    def _add_agent(self, agent: Agent) -> None:
        if agent.id in self._agents:
            raise InvalidConfig(f"agent {agent.id} defined twice")
        entry = self._agents[agent.id] = _AgentEntry(agent)
        self._index_agent(entry)

    def _index_agent(self, entry: _AgentEntry, forget: bool = False) -> None:
        """Recompute the queues an agent may ever serve, and its place in their member and free sets."""
        agent_id, skills, teams = entry.agent.id, entry.skills, entry.agent.teams
        queues: dict[str, int] = {}
        if not forget:
            for queue_id, qs in self._queues.items():
                if qs.widest.admits(skills, teams):
                    level = qs.first_level(skills, teams)
                    assert level is not None
                    queues[queue_id] = level
        for queue_id in entry.queues:
            qs = self._queues.get(queue_id)
            if qs is not None:
                qs.members.pop(agent_id, None)
                qs.remove_free(agent_id)
        for queue_id, level in queues.items():
            qs = self._queues[queue_id]
            qs.members[agent_id] = None
            if entry.routable:
                qs.add_free(agent_id, level)
        entry.queues = queues

    def _check_overflow_target(self, queue: Queue, known: set[str] | None = None) -> None:
        overflow = queue.overflow
        if overflow is not None:
            target = overflow.action
            assert isinstance(target, Overflow)
            if target.queue_id not in (self._queues if known is None else known) and target.queue_id != queue.id:
                raise UnknownQueue(f"queue {queue.id} overflows to unknown queue {target.queue_id}")

    def _schedule_call(self, w: _Waiting, qs: _QueueState, now: datetime) -> None:
        """Keep one timer per waiting call: its next relaxation, overflow or max wait."""
        waited = (now - w.queued_at).total_seconds()
        candidates = [t for t in qs.thresholds if t > waited][:1]
        if qs.overflow_after is not None and not w.overflow_done:
            candidates.append(qs.overflow_after)
        if qs.queue.max_wait_s is not None:
            candidates.append(qs.queue.max_wait_s)
        if not candidates:
            w.next_due = None
            return
        due = w.queued_at + timedelta(seconds=min(candidates))
        if due != w.next_due:
            w.next_due = due
            self._push(due, _CALL, w.call.id, (w.stint, due))

    def _push(self, due: datetime, kind: str, subject: str, token: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due.timestamp(), self._seq, kind, due, subject, token))

    def _live(self, item: tuple) -> bool:
        _, _, kind, due, subject, token = item
        if kind == _CALL:
            w = self._calls.get(subject)
            return w is not None and w.offered_to is None and (w.stint, w.next_due) == token
        entry = self._agents.get(subject)
        if entry is None:
            return False
        if kind == _WRAP:
            return entry.status.state is AgentState.WRAP_UP and entry.status.wrap_up_until == token
        if kind == _REST:
            return entry.status.resting_until == token
        return entry.offer is token

    def _unqueue(self, qs: _QueueState, w: _Waiting) -> None:
        index = bisect.bisect_left(qs.waiting, w.key)
        if index < len(qs.waiting) and qs.waiting[index] == w.key:
            del qs.waiting[index]

    def _key(self, call: Call, queue: Queue) -> tuple[int, float, int, str]:
        self._seq += 1
        priority = call.priority if call.priority is not None else queue.priority
        return (-priority, call.arrived_at.timestamp(), self._seq, call.id)

    def _entry(self, agent_id: str) -> _AgentEntry:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise UnknownAgent(f"no agent {agent_id}") from None

    def _queue(self, queue_id: str) -> _QueueState:
        try:
            return self._queues[queue_id]
        except KeyError:
            raise UnknownQueue(f"no queue {queue_id}") from None

    def _call(self, call_id: str) -> _Waiting:
        try:
            return self._calls[call_id]
        except KeyError:
            raise UnknownCall(f"call {call_id} is not waiting nor ringing") from None

    def remove_queue(self, queue_id: str) -> None:
        """Forget a queue no call is in (waiting or ringing) and no other queue overflows to."""
        self._queue(queue_id)
        calls = sum(1 for w in self._calls.values() if w.queue_id == queue_id)
        if calls:
            raise QueueNotEmpty(f"queue {queue_id} has {calls} call(s) waiting or ringing")
        sources = sorted(qs.queue.id for qs in self._queues.values() if qs.queue.id != queue_id
                         and qs.queue.overflow is not None
                         and getattr(qs.queue.overflow.action, "queue_id", None) == queue_id)
        if sources:
            raise QueueIsOverflowTarget(f"queue(s) {', '.join(sources)} overflow to {queue_id}")
        del self._queues[queue_id]
        for entry in self._agents.values():
            entry.queues.pop(queue_id, None)


_STAFFED = frozenset({AgentState.AVAILABLE, AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP})


class QueueNotEmpty(Conflict):
    """A queue is removed only when no call waits or rings in it."""


class QueueIsOverflowTarget(Conflict):
    """A queue another queue overflows to cannot be removed before that rule is."""
