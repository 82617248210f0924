"""ACD router speed: decisions per second and p50/p95/p99 per decision type, 2,000 agents / 200 queues / 500 calls.

A generated center (50 skills, 10 teams, 200 queues with escalation rules and mixed strategies, 2,000 agents
with 4-8 skills each) is filled until every agent who can work is busy and 500 callers wait. Then a seeded
simulation drives the Distributor as the service would: calls arrive and leave, offers are answered or missed,
conversations end, wrap-ups and escalations fire from next_due_at()/advance(). Each Distributor call is timed
on its own (perf_counter_ns). Prints the figures; asserts nothing. Deterministic for a seed.

    .venv/bin/python benchmarks/acd_router.py [--events 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcontrol.core.acd.agent_states import AgentState  # noqa: E402
from callcontrol.core.acd.model import (  # noqa: E402
    AddTeam,
    Agent,
    Call,
    DropPreferred,
    EscalationRule,
    Overflow,
    Queue,
    RelaxSkill,
    Strategy,
)
from callcontrol.core.acd.outcomes import Outcome  # noqa: E402
from callcontrol.core.acd.router import Distributor  # noqa: E402

AGENTS, QUEUES, SKILLS, TEAMS, WAITING = 2000, 200, 50, 10, 500
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STRATEGIES = [Strategy.LONGEST_IDLE] * 5 + [Strategy.BEST_SKILL, Strategy.FEWEST_CALLS, Strategy.LEAST_TALK_TIME,
                                             Strategy.ROUND_ROBIN, Strategy.RANDOM]


def build(rng: random.Random) -> tuple[list[Queue], list[Agent]]:
    """Agents first; each queue's requirement is drawn from one agent's profile, so every queue can be served."""
    skills = [f"s{n:02}" for n in range(SKILLS)]
    teams = [f"t{n}" for n in range(TEAMS)]
    agents = [Agent(f"a{n:04}", f"Agent {n}", f"PJSIP/a{n:04}",
                    {s: rng.randint(1, 10) for s in rng.sample(skills, rng.randint(4, 8))},
                    frozenset(rng.sample(teams, rng.randint(1, 2))))
              for n in range(AGENTS)]
    queues = []
    for n in range(QUEUES):
        model = rng.choice(agents)
        own = sorted(model.skills)
        required = {s: rng.randint(1, model.skills[s]) for s in rng.sample(own, rng.randint(1, 2))}
        rest = [s for s in own if s not in required]
        preferred = {rest[0]: rng.randint(1, model.skills[rest[0]])} if rest and rng.random() < 0.3 else {}
        rules = [EscalationRule(30, RelaxSkill(next(iter(required)), 1))]
        if preferred:
            rules.append(EscalationRule(45, DropPreferred(next(iter(preferred)))))
        own_teams = frozenset(model.teams) if rng.random() < 0.3 else frozenset()
        if own_teams:
            rules.append(EscalationRule(60, AddTeam(rng.choice(teams))))
        if rng.random() < 0.3:
            rules.append(EscalationRule(120, Overflow(f"q{(n + 1) % QUEUES:03}")))
        queues.append(Queue(
            f"q{n:03}", f"Queue {n}", required, preferred, strategy=rng.choice(STRATEGIES),
            priority=rng.choice((0, 0, 0, 1, 2)), weight=rng.choice((1.0, 1.0, 1.5, 2.0)), ring_timeout_s=15,
            wrap_up_s=rng.choice((0, 5, 10)), max_wait_s=rng.choice((None, 600)), teams=own_teams,
            escalations=tuple(rules)))
    return queues, agents


class Sim:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        queues, agents = build(self.rng)
        self.queue_ids = [q.id for q in queues]
        self.d = Distributor(queues, agents, max_misses=3, rng=random.Random(seed))
        self.agent_ids = [a.id for a in agents]
        self.now = T0
        self.calls = 0
        self.waiting: set[str] = set()
        self.ringing: dict[str, str] = {}  # call -> agent
        self.talking: list[str] = []  # agents on a call
        self.timings: dict[str, list[int]] = defaultdict(list)
        self.decisions = 0
        self.steps = 0

    def timed(self, kind: str, fn, *args) -> Outcome:  # noqa: ANN001
        started = time.perf_counter_ns()
        out = fn(*args)
        self.timings[kind].append(time.perf_counter_ns() - started)
        self.see(out)
        return out

    def see(self, out: Outcome) -> None:
        self.decisions += len(out.offers)
        for offer in out.withdrawn:
            self.ringing.pop(offer.call_id, None)
            self.waiting.add(offer.call_id)
        for gone in out.timed_out:
            self.waiting.discard(gone.call_id)
        for offer in out.offers:
            self.waiting.discard(offer.call_id)
            self.ringing[offer.call_id] = offer.agent_id

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        due = self.d.next_due_at()
        if due is not None and due <= self.now:
            self.timed("advance (timers)", self.d.advance, self.now)

    def arrive(self, kind: str = "call_arrived") -> None:
        self.calls += 1
        call_id = f"c{self.calls}"
        skills = {f"s{self.rng.randrange(SKILLS):02}": self.rng.randint(1, 3)} if self.rng.random() < 0.1 else {}
        call = Call(call_id, self.rng.choice(self.queue_ids), self.now, self.rng.choice((None,) * 9 + (3,)), skills)
        self.waiting.add(call_id)
        self.timed(kind, self.d.call_arrived, call, self.now)

    def answer_all(self) -> None:
        for call_id, agent_id in sorted(self.ringing.items()):
            self.timed("offer_answered", self.d.offer_answered, call_id, agent_id, self.now)
            self.talking.append(agent_id)
        self.ringing.clear()

    def fill(self) -> None:
        for agent_id in self.agent_ids:
            self.see(self.d.login(agent_id, self.now))
        self.answer_all()
        while len(self.waiting) < WAITING:
            self.arrive("fill")
            self.answer_all()
        self.timings.clear()
        self.decisions = 0

    def step(self) -> None:
        """One event, keeping the center loaded: ~500 callers waiting, agents busy, some misses and abandons."""
        rng = self.rng
        self.steps += 1
        self.tick(rng.choice((0.01, 0.02, 0.05)))
        roll = rng.random()
        if self.steps % 1000 == 0:
            for agent_id in self.agent_ids:  # the agents paused after missed offers come back
                if self.d.agent_status(agent_id).state is AgentState.PAUSED:
                    self.timed("resume", self.d.resume, agent_id, self.now)
        elif self.ringing and roll < 0.6:
            call_id = min(self.ringing)
            agent_id = self.ringing.pop(call_id)
            if roll < 0.06:
                self.waiting.add(call_id)
                self.timed("offer_missed", self.d.offer_missed, call_id, agent_id, self.now)
            else:
                self.timed("offer_answered", self.d.offer_answered, call_id, agent_id, self.now)
                self.talking.append(agent_id)
        elif len(self.waiting) < WAITING:
            self.arrive()
        elif self.talking and roll < 0.95:
            agent_id = self.talking.pop(rng.randrange(len(self.talking)))
            self.timed("call_ended (agent free)", self.d.call_ended, agent_id, self.now)
        elif self.waiting:
            call_id = rng.choice(sorted(self.waiting))
            self.waiting.discard(call_id)
            self.timed("call_left", self.d.call_left, call_id, self.now)


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    sim = Sim(args.seed)
    sim.fill()
    build_s = time.perf_counter() - started
    for _ in range(args.events):
        sim.step()
    qs = sim.d.estimated_wait
    explain_ns, ewt_ns = [], []
    for call_id in sorted(sim.waiting)[:200]:
        t = time.perf_counter_ns()
        sim.d.explain(call_id, sim.now)
        explain_ns.append(time.perf_counter_ns() - t)
        t = time.perf_counter_ns()
        qs(sim.d.call_queue(call_id), sim.now, call_id)
        ewt_ns.append(time.perf_counter_ns() - t)
    total_ns = sum(sum(v) for v in sim.timings.values())
    every = [ns for values in sim.timings.values() for ns in values]
    states = Counter(str(sim.d.agent_status(a).state) for a in sim.agent_ids)
    print(f"center: {AGENTS} agents, {QUEUES} queues, {SKILLS} skills, {len(sim.waiting)} waiting callers at the end "
          f"(built and filled in {build_s:.1f} s); {args.events} simulated events, seed {args.seed}")
    print("agents at the end: " + ", ".join(f"{state} {n}" for state, n in sorted(states.items())))
    print(f"{'decision type':26} {'count':>8} {'p50 us':>8} {'p95 us':>8} {'p99 us':>8} {'max us':>8}")
    for kind in sorted(sim.timings):
        values = sim.timings[kind]
        print(f"{kind:26} {len(values):8} {percentile(values, 0.50):8.1f} {percentile(values, 0.95):8.1f} "
              f"{percentile(values, 0.99):8.1f} {max(values) / 1000:8.1f}")
    print(f"{'all Distributor calls':26} {len(every):8} {percentile(every, 0.50):8.1f} {percentile(every, 0.95):8.1f} "
          f"{percentile(every, 0.99):8.1f} {max(every) / 1000:8.1f}")
    print(f"throughput: {len(every) / (total_ns / 1e9):,.0f} Distributor calls/s; {sim.decisions} offers made, "
          f"{sim.decisions / (total_ns / 1e9):,.0f} offers/s of Distributor time (one core)")
    print(f"explain (all {AGENTS} agents): median {statistics.median(explain_ns) / 1000:.0f} us; "
          f"estimated_wait: median {statistics.median(ewt_ns) / 1000:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
