"""Randomized runs of the ACD Distributor: one call per agent, escalated skills kept, work conserved, fair order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from callcontrol.core.acd.agent_states import AgentState
from callcontrol.core.acd.errors import AcdError
from callcontrol.core.acd.model import (
    AddTeam,
    Agent,
    Call,
    DropPreferred,
    EscalationRule,
    Overflow,
    Queue,
    RelaxSkill,
    Strategy,
    requirement,
)
from callcontrol.core.acd.outcomes import Outcome
from callcontrol.core.acd.router import Distributor

T0 = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
SKILLS = ("en", "es", "fr", "billing", "tech")
TEAMS = ("t1", "t2", "t3")


def make_queues(rng: random.Random) -> list[Queue]:
    queues = []
    for n in range(4):
        required = dict(rng.sample([(s, rng.randint(1, 8)) for s in SKILLS], rng.randint(1, 2)))
        free_skills = [s for s in SKILLS if s not in required]
        preferred = {rng.choice(free_skills): rng.randint(3, 9)} if rng.random() < 0.5 else {}
        rules = [EscalationRule(rng.choice((5, 10, 20)), RelaxSkill(skill, rng.randint(0, 3))) for skill in required]
        if preferred:
            rules.append(EscalationRule(rng.choice((8, 15)), DropPreferred(next(iter(preferred)))))
        teams = frozenset(rng.sample(TEAMS, 1)) if rng.random() < 0.5 else frozenset()
        if teams:
            rules.append(EscalationRule(12, AddTeam(rng.choice(TEAMS))))
        if n < 3 and rng.random() < 0.6:
            rules.append(EscalationRule(40, Overflow(f"q{n + 1}")))
        queues.append(Queue(
            f"q{n}", f"Queue {n}", required, preferred, strategy=rng.choice(list(Strategy)),
            priority=rng.randint(0, 2), weight=rng.choice((1.0, 1.0, 2.0)), ring_timeout_s=rng.choice((5, 10)),
            wrap_up_s=rng.choice((0, 3, 8)), max_wait_s=rng.choice((None, 90)),
            max_length=rng.choice((None, 6)), teams=teams, escalations=tuple(rules)))
    return queues


def make_agent(rng: random.Random, agent_id: str) -> Agent:
    skills = {s: rng.randint(1, 10) for s in rng.sample(SKILLS, rng.randint(1, 4))}
    return Agent(agent_id, agent_id, f"PJSIP/{agent_id}", skills, frozenset(rng.sample(TEAMS, rng.randint(1, 2))),
                 wrap_up_s=rng.choice((None, None, 2)))


class Checker:
    """Follows the Distributor from outside (only its Outcomes and public reads) and checks its promises."""

    def __init__(self, d: Distributor, queues: list[Queue], agents: dict[str, Agent]) -> None:
        self.d, self.agents = d, agents
        self.queues = {q.id: q for q in queues}
        self.calls: dict[str, Call] = {}
        self.stint_start: dict[str, datetime] = {}
        self.ringing: dict[str, str] = {}  # call -> agent
        self.talking: dict[str, str] = {}  # agent -> call
        self.state = {agent_id: AgentState.LOGGED_OUT for agent_id in agents}
        self.offers = 0

    def requirement(self, call_id: str, queue_id: str, now: datetime):
        q = self.queues[queue_id]
        waited = (now - self.stint_start[call_id]).total_seconds()
        level = sum(1 for r in q.escalations if not isinstance(r.action, Overflow) and r.after_s <= waited)
        return requirement(q, level, self.calls[call_id].skills)

    def admits(self, agent_id: str, call_id: str, queue_id: str, now: datetime) -> bool:
        a = self.agents[agent_id]
        return self.requirement(call_id, queue_id, now).admits(a.skills, a.teams)

    def rank(self, call_id: str, now: datetime) -> tuple[float, float]:
        c, q = self.calls[call_id], self.queues[self.d.call_queue(call_id)]
        priority = c.priority if c.priority is not None else q.priority
        return (-priority, -(now - c.arrived_at).total_seconds() * q.weight)

    def see(self, out: Outcome, now: datetime) -> None:
        for t in out.transitions:
            assert self.state[t.agent_id] is t.from_state, t
            self.state[t.agent_id] = t.to_state
        for moved in out.overflowed:
            self.stint_start[moved.call_id] = moved.at
        for gone in out.timed_out:
            self.forget(gone.call_id)
        for offer in out.withdrawn:
            assert self.ringing.pop(offer.call_id) == offer.agent_id
        for offer in out.offers:
            self.offers += 1
            assert offer.call_id not in self.ringing, "a call offered twice at once"
            assert offer.agent_id not in self.ringing.values(), "an agent offered two calls at once"
            assert offer.agent_id not in self.talking
            assert self.admits(offer.agent_id, offer.call_id, offer.queue_id, now), "offer breaks the skills"
            self.ringing[offer.call_id] = offer.agent_id
        waiting = [c for q in self.queues for c in self.d.waiting(q)]
        for offer in out.offers:
            mine = self.rank(offer.call_id, now)
            for other in waiting:
                if self.admits(offer.agent_id, other, self.d.call_queue(other), now):
                    assert self.rank(other, now) >= mine, f"{offer.agent_id} got {offer.call_id} before {other}"
        self.check(now, waiting)

    def forget(self, call_id: str) -> None:
        self.calls.pop(call_id, None)
        self.stint_start.pop(call_id, None)

    def check(self, now: datetime, waiting: list[str]) -> None:
        for agent_id in self.agents:
            status = self.d.agent_status(agent_id)
            assert status.state is self.state[agent_id]
            if status.state is AgentState.RESERVED:
                assert self.ringing.get(status.call_id) == agent_id  # type: ignore[arg-type]
        assert sorted(self.ringing) == sorted(c for c in self.calls if self.d.offer_of(c) is not None)
        free = [a for a in self.agents if self.d.agent_status(a).routable]
        for call_id in waiting:
            queue_id = self.d.call_queue(call_id)
            for agent_id in free:
                assert not self.admits(agent_id, call_id, queue_id, now), f"{agent_id} free while {call_id} waits"


def run(seed: int, steps: int = 600) -> Checker:
    rng = random.Random(seed)
    queues = make_queues(rng)
    agents = {f"a{n:02}": make_agent(rng, f"a{n:02}") for n in range(14)}
    d = Distributor(queues, agents.values(), max_misses=rng.choice((1, 3, None)), offer_grace_s=2,
                    rng=random.Random(seed))
    ch = Checker(d, queues, agents)
    now = T0
    calls = 0
    for _ in range(steps):
        now += timedelta(seconds=rng.choice((0, 0.5, 1, 2, 5)))
        ch.see(d.advance(now), now)
        op = rng.random()
        try:
            if op < 0.25:
                calls += 1
                call_id = f"c{calls}"
                queue_id = rng.choice(list(ch.queues))
                skills = {rng.choice(SKILLS): rng.randint(1, 6)} if rng.random() < 0.3 else {}
                c = Call(call_id, queue_id, now - timedelta(seconds=rng.choice((0, 0, 30))),
                         rng.choice((None, None, 0, 3)), skills)
                ch.calls[call_id], ch.stint_start[call_id] = c, now
                try:
                    out = d.call_arrived(c, now)
                except AcdError:
                    ch.forget(call_id)
                    raise
            elif op < 0.35 and ch.calls:
                call_id = rng.choice(sorted(ch.calls))
                out = d.call_left(call_id, now)
                ch.forget(call_id)
            elif op < 0.50 and ch.ringing:
                call_id = rng.choice(sorted(ch.ringing))
                agent_id = ch.ringing[call_id]
                if rng.random() < 0.6:
                    out = d.offer_answered(call_id, agent_id, now)
                    del ch.ringing[call_id]
                    ch.forget(call_id)
                    ch.talking[agent_id] = call_id
                else:
                    out = d.offer_missed(call_id, agent_id, now)
                    del ch.ringing[call_id]
            elif op < 0.62 and ch.talking:
                agent_id = rng.choice(sorted(ch.talking))
                out = d.call_ended(agent_id, now)
                del ch.talking[agent_id]
            else:
                agent_id = rng.choice(sorted(agents))
                kind = rng.choice(("login", "login", "logout", "pause", "resume", "busy", "reach", "skills"))
                if kind == "login":
                    out = d.login(agent_id, now)
                elif kind == "logout":
                    out = d.logout(agent_id, now)
                elif kind == "pause":
                    out = d.pause(agent_id, rng.choice(("lunch", "break")), now)
                elif kind == "resume":
                    out = d.resume(agent_id, now)
                elif kind == "busy":
                    out = d.device_busy(agent_id, rng.random() < 0.3, now)
                elif kind == "reach":
                    out = d.device_reachable(agent_id, rng.random() < 0.8, now)
                else:
                    agents[agent_id] = make_agent(rng, agent_id)
                    out = d.set_agent(agents[agent_id], now)
        except AcdError:
            ch.check(now, [c for q in ch.queues for c in d.waiting(q)])
            continue
        ch.see(out, now)
    for call_id in sorted(ch.calls):  # every caller leaves: no reservation may outlive its call
        out = d.call_left(call_id, now)
        ch.forget(call_id)
        ch.see(out, now)
    assert not ch.ringing
    assert all(d.agent_status(a).state is not AgentState.RESERVED for a in agents)
    return ch


@pytest.mark.parametrize("seed", range(30))
def test_random_runs_keep_every_promise(seed: int) -> None:
    """Random traffic: never two offers to one agent, every offer meets the escalated skills, no free agent
    left eligible for a waiting caller, best caller first, transitions chain, no reservation outlives its call."""
    checker = run(seed)
    assert checker.offers > 10  # the run routed something, so the checks above were exercised


def test_runs_are_deterministic() -> None:
    """Two runs from the same seed make the same decisions."""
    assert run(7, 300).offers == run(7, 300).offers
