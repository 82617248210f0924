"""The Distributor's routing state: per-queue, per-agent and per-call holders, their index and the timer heap.

Index: per queue, the waiting calls sorted by (priority, arrival) and its free agents bucketed by the first
escalation level at which they qualify; per agent, the queues it can ever serve, each with that level, kept
when skills or queues change. Timers: one heap of (due timestamp, seq, kind, due, subject, token); an item is
live only while its subject still matches its token, so stale timers are skipped instead of removed.
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from datetime import datetime, timedelta

from callcontrol.core.acd.agent_states import AgentState, AgentStatus
from callcontrol.core.acd.errors import UnknownAgent, UnknownCall, UnknownQueue
from callcontrol.core.acd.model import Agent, Call, InvalidConfig, Overflow, Queue, Requirement, requirement
from callcontrol.core.acd.outcomes import Offer

HANDLE_TIME_WINDOW = 20  # handled calls per queue kept for the wait estimate

WaitKey = tuple[int, float, int, str]  # (-priority, arrival ts, seq, call id): a queue's serving order
TimerItem = tuple[float, int, str, datetime, str, object]  # (due timestamp, seq, kind, due, subject, token)
WRAP, EXPIRE, CALL, REST = "wrap", "expire", "call", "rest"  # timer kinds: wrap-up end, offer expiry, call, rest


class QueueState:
    """One queue's escalation levels, its waiting calls in serving order and its member and free agents."""

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
        self.waiting: list[WaitKey] = []  # sorted
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


class AgentEntry:
    """One agent's definition, status, daily counters, ringing offer and the queues it can ever serve."""

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


class WaitingCall:
    """A call in a queue (waiting or ringing): its place, its stint and its timer."""

    __slots__ = ("call", "queue_id", "key", "queued_at", "stint", "offered_to", "next_due", "overflow_done",
                 "reqs")

    def __init__(self, call: Call, queue_id: str, key: WaitKey, now: datetime) -> None:
        self.call = call
        self.queue_id = queue_id
        self.key = key
        self.queued_at = now
        self.stint = 0
        self.offered_to: str | None = None
        self.next_due: datetime | None = None
        self.overflow_done = False  # the overflow rule of this stint ran (target full: the call stayed)
        self.reqs: dict[int, Requirement] = {}  # per level, for calls with their own skills


class RoutingState:
    """The queues, agents and calls a Distributor routes, the index that joins them and the timer heap."""

    def __init__(self) -> None:
        self.queues: dict[str, QueueState] = {}
        self.agents: dict[str, AgentEntry] = {}
        self.calls: dict[str, WaitingCall] = {}
        self.heap: list[TimerItem] = []
        self.seq = 0

    # ------------------------------------------------------------ look-ups

    def entry(self, agent_id: str) -> AgentEntry:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise UnknownAgent(f"no agent {agent_id}") from None

    def queue(self, queue_id: str) -> QueueState:
        try:
            return self.queues[queue_id]
        except KeyError:
            raise UnknownQueue(f"no queue {queue_id}") from None

    def call(self, call_id: str) -> WaitingCall:
        try:
            return self.calls[call_id]
        except KeyError:
            raise UnknownCall(f"call {call_id} is not waiting nor ringing") from None

    # ------------------------------------------------------------ index

    def key(self, call: Call, queue: Queue) -> WaitKey:
        self.seq += 1
        priority = call.priority if call.priority is not None else queue.priority
        return (-priority, call.arrived_at.timestamp(), self.seq, call.id)

    @staticmethod
    def unqueue(qs: QueueState, w: WaitingCall) -> None:
        index = bisect.bisect_left(qs.waiting, w.key)
        if index < len(qs.waiting) and qs.waiting[index] == w.key:
            del qs.waiting[index]

    def add_agent(self, agent: Agent) -> None:
        if agent.id in self.agents:
            raise InvalidConfig(f"agent {agent.id} defined twice")
        entry = self.agents[agent.id] = AgentEntry(agent)
        self.index_agent(entry)

    def index_agent(self, entry: AgentEntry, forget: bool = False) -> None:
        """Recompute the queues an agent may ever serve, and its place in their member and free sets."""
        agent_id, skills, teams = entry.agent.id, entry.skills, entry.agent.teams
        queues: dict[str, int] = {}
        if not forget:
            for queue_id, qs in self.queues.items():
                if qs.widest.admits(skills, teams):
                    level = qs.first_level(skills, teams)
                    assert level is not None
                    queues[queue_id] = level
        for queue_id in entry.queues:
            qs = self.queues.get(queue_id)
            if qs is not None:
                qs.members.pop(agent_id, None)
                qs.remove_free(agent_id)
        for queue_id, level in queues.items():
            qs = self.queues[queue_id]
            qs.members[agent_id] = None
            if entry.routable:
                qs.add_free(agent_id, level)
        entry.queues = queues

    def index_free(self, entry: AgentEntry) -> None:
        """Put the agent in (or take it out of) its queues' free sets when its status became (un)routable."""
        routable = entry.status.routable
        if routable != entry.routable:
            entry.routable = routable
            agent_id = entry.agent.id
            for queue_id, level in entry.queues.items():
                if routable:
                    self.queues[queue_id].add_free(agent_id, level)
                else:
                    self.queues[queue_id].remove_free(agent_id)

    def check_overflow_target(self, queue: Queue, known: set[str] | None = None) -> None:
        overflow = queue.overflow
        if overflow is not None:
            target = overflow.action
            assert isinstance(target, Overflow)
            if target.queue_id not in (self.queues if known is None else known) and target.queue_id != queue.id:
                raise UnknownQueue(f"queue {queue.id} overflows to unknown queue {target.queue_id}")

    # ------------------------------------------------------------ timers

    def schedule_call(self, w: WaitingCall, qs: QueueState, now: datetime) -> None:
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
            self.push(due, CALL, w.call.id, (w.stint, due))

    def push(self, due: datetime, kind: str, subject: str, token: object) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (due.timestamp(), self.seq, kind, due, subject, token))

    def live(self, item: TimerItem) -> bool:
        _, _, kind, due, subject, token = item
        if kind == CALL:
            w = self.calls.get(subject)
            return w is not None and w.offered_to is None and (w.stint, w.next_due) == token
        entry = self.agents.get(subject)
        if entry is None:
            return False
        if kind == WRAP:
            return entry.status.state is AgentState.WRAP_UP and entry.status.wrap_up_until == token
        if kind == REST:
            return entry.status.resting_until == token
        return entry.offer is token

    def next_due_at(self) -> datetime | None:
        while self.heap and not self.live(self.heap[0]):
            heapq.heappop(self.heap)
        return self.heap[0][3] if self.heap else None

    def pop_due(self, ts: float) -> list[TimerItem]:
        """The live timers due by timestamp `ts`, in due order, taken off the heap."""
        due: list[TimerItem] = []
        while self.heap and self.heap[0][0] <= ts:
            item = heapq.heappop(self.heap)
            if self.live(item):
                due.append(item)
        return due
