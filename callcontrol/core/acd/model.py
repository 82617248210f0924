"""ACD model: agents, queues, calls, skill requirements and escalation rules, as validated immutable values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Union

from callcontrol.core.recording_policy import RecordingPolicy
from callcontrol.core.wrapup import WrapupPolicy
from callcontrol.core.acd.field_rules import (
    AGENT_WRAP_UP,
    ESCALATION_AFTER,
    MAX_LEVEL,
    QUEUE_FLAGS,
    QUEUE_NUMBERS,
    flag_problem,
    level_problem,
    moh_class_problem,
    recording_problem,
    wrapup_problem,
    sound_name_problem,
    text_problem,
)
from callcontrol.core.identifiers import endpoint_problem


class InvalidConfig(ValueError):
    """An agent, queue or call definition that cannot be used (the message names the field)."""


class Strategy(StrEnum):
    """How a queue picks among several free agents eligible for one call (see docs/acd.md)."""

    LONGEST_IDLE = "longest_idle"  # earliest available-since first
    BEST_SKILL = "best_skill"  # highest sum of levels on the call's required skills, ties by idle time
    FEWEST_CALLS = "fewest_calls"  # fewest answered calls today, ties by idle time
    LEAST_TALK_TIME = "least_talk_time"  # least talk time today, ties by idle time
    ROUND_ROBIN = "round_robin"  # next agent id after the one last offered a call from this queue
    RANDOM = "random"  # a draw from the Distributor's own random.Random (seeded: deterministic)


@dataclass(frozen=True)
class Agent:
    """A person who takes queue calls: skills with levels 1-10, teams, and an optional wrap-up override."""

    id: str
    name: str
    endpoint: str  # what to dial, e.g. PJSIP/agent1001 (identifiers.ENDPOINT: the only grammar the ACD dials)
    skills: Mapping[str, int] = field(default_factory=dict)
    teams: frozenset[str] = frozenset()
    wrap_up_s: float | None = None  # None: the wrap-up time of the queue the call came from

    def __post_init__(self) -> None:
        _require_text(self.id, "agent id")
        where = f"agent {self.id}"
        problem = endpoint_problem(self.endpoint)
        if problem is not None:
            raise InvalidConfig(f"{where}: {problem}")
        object.__setattr__(self, "skills", _levels(self.skills, f"{where}: skills"))
        object.__setattr__(self, "teams", frozenset(self.teams))
        _raise_if(AGENT_WRAP_UP.problem(self.wrap_up_s), f"{where}: wrap_up_s")


# ---------------------------------------------------------------- escalation


@dataclass(frozen=True)
class RelaxSkill:
    """Lower the minimum level of a skill (queue's or call's); 0 means the skill is no longer required."""

    skill: str
    min_level: int


@dataclass(frozen=True)
class DropPreferred:
    """Stop requiring one of the queue's preferred skills."""

    skill: str


@dataclass(frozen=True)
class AddTeam:
    """Also accept agents of this team (no effect on a queue that already accepts any team)."""

    team: str


@dataclass(frozen=True)
class Overflow:
    """Move the call to another queue: it keeps its original arrival time and starts a new stint there."""

    queue_id: str


EscalationAction = Union[RelaxSkill, DropPreferred, AddTeam, Overflow]


@dataclass(frozen=True)
class EscalationRule:
    """After the call has waited `after_s` seconds in this queue, apply `action` (rules accumulate)."""

    after_s: float
    action: EscalationAction


# ---------------------------------------------------------------- queue


@dataclass(frozen=True)
class Queue:
    """A queue: who may serve it (skills, teams), how agents are picked, and its limits and thresholds.

    Preferred skills are required like the others until an escalation rule drops them; required skills can
    only be relaxed (RelaxSkill). `priority` is the default priority of its calls (higher first); `weight`
    scales wait time when an agent serving several queues chooses among their callers of equal priority.

    While callers wait they hear the music-on-hold class `moh_class`; every `announce_every_s` seconds the
    wait is interrupted by their position (`announce_position`), the estimated wait (`announce_estimated_wait`)
    and the next of the `periodic_prompts` (Asterisk sound names, played in turn). `recording` is the queue's
    call recording policy (core/recording_policy.py; None: not recorded); `wrapup` its wrap-up codes
    (core/wrapup.py; None: none).
    """

    id: str
    name: str
    required_skills: Mapping[str, int] = field(default_factory=dict)
    preferred_skills: Mapping[str, int] = field(default_factory=dict)
    strategy: Strategy = Strategy.LONGEST_IDLE
    priority: int = 0
    weight: float = 1.0
    ring_timeout_s: float = 15.0
    wrap_up_s: float = 0.0
    max_wait_s: float | None = None  # the call times out of the queue (Outcome.timed_out) after this wait
    max_length: int | None = None  # calls in the queue (waiting or ringing); more are refused (QueueFull)
    service_level_s: float = 20.0
    callback_allowed: bool = False
    short_abandon_s: float = 5.0
    teams: frozenset[str] = frozenset()  # empty: any team
    escalations: tuple[EscalationRule, ...] = ()
    expected_handle_s: float = 180.0  # handle time assumed by the wait estimate before any call was handled
    moh_class: str = "default"  # Asterisk music-on-hold class: letters, digits, _ and -; 1-64 characters
    announce_position: bool = False  # tell waiting callers their position in the queue
    announce_estimated_wait: bool = False  # tell waiting callers the estimated wait
    announce_every_s: float = 60.0  # how often announcements and periodic prompts interrupt the music (15-600)
    periodic_prompts: tuple[str, ...] = ()  # Asterisk sound names played in turn, one per announcement
    recording: RecordingPolicy | None = None  # the call recording policy; None: not recorded
    wrapup: WrapupPolicy | None = None  # the wrap-up codes its calls' agents choose from; None: no codes

    def __post_init__(self) -> None:
        _require_text(self.id, "queue id")
        where = f"queue {self.id}"
        for name in ("required_skills", "preferred_skills"):
            object.__setattr__(self, name, _levels(getattr(self, name), f"{where}: {name}"))
        _raise_if(strategy_problem(self.strategy), f"{where}:")
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        object.__setattr__(self, "teams", frozenset(self.teams))
        for name, rule in QUEUE_NUMBERS.items():
            _raise_if(rule.problem(getattr(self, name)), f"{where}: {name}")
        for name in QUEUE_FLAGS:
            _raise_if(flag_problem(getattr(self, name)), f"{where}: {name}")
        _raise_if(moh_class_problem(self.moh_class), f"{where}: moh_class")
        if isinstance(self.periodic_prompts, str):
            raise InvalidConfig(f"{where}: periodic_prompts must be a list of sound names, not one string")
        prompts = tuple(self.periodic_prompts)
        for prompt in prompts:
            _raise_if(sound_name_problem(prompt), f"{where}: periodic_prompts:")
        object.__setattr__(self, "periodic_prompts", prompts)
        _raise_if(recording_problem(self.recording), f"{where}: recording")
        _raise_if(wrapup_problem(self.wrapup), f"{where}: wrapup")
        rules = tuple(sorted(self.escalations, key=lambda rule: rule.after_s))  # stable: equal times keep order
        object.__setattr__(self, "escalations", rules)
        for _, _, problem in escalation_problems(self.id, self.preferred_skills, rules)[:1]:
            raise InvalidConfig(f"{where}: {problem}")

    @property
    def overflow(self) -> EscalationRule | None:
        """The overflow rule, if any (always the last rule)."""
        last = self.escalations[-1] if self.escalations else None
        return last if last is not None and isinstance(last.action, Overflow) else None


def strategy_problem(value: object) -> str | None:
    if value in {str(strategy) for strategy in Strategy}:
        return None
    return f"unknown strategy {value!r} (one of: {', '.join(str(strategy) for strategy in Strategy)})"


def escalation_problems(queue_id: str, preferred: Mapping[str, int],
                        rules: Sequence[EscalationRule]) -> list[tuple[int, tuple[str, ...], str]]:
    """What is wrong with a queue's escalation rules (in time order): (rule index, where in the rule, problem)."""
    problems: list[tuple[int, tuple[str, ...], str]] = []
    for index, rule in enumerate(rules):
        problem = ESCALATION_AFTER.problem(rule.after_s)
        if problem is not None:
            problems.append((index, ("after_s",), f"after_s {problem}"))
        action = rule.action
        if isinstance(action, RelaxSkill):
            if text_problem(action.skill) is not None:
                problems.append((index, ("relax",), "relax: skill names must be non-empty strings"))
            elif (problem := level_problem(action.min_level, 0)) is not None:
                problems.append((index, ("relax", action.skill), f"relax {action.skill}: {problem}"))
        elif isinstance(action, DropPreferred):
            if action.skill not in preferred:
                problems.append((index, ("drop_preferred",), f"cannot drop '{action.skill}': not a preferred skill"))
        elif isinstance(action, AddTeam):
            if text_problem(action.team) is not None:
                problems.append((index, ("add_team",), "add_team must be a name"))
        elif isinstance(action, Overflow):
            if text_problem(action.queue_id) is not None:
                problems.append((index, ("overflow",), "overflow must be a name"))
            elif action.queue_id == queue_id:
                problems.append((index, ("overflow",), "a queue cannot overflow to itself"))
            elif index != len(rules) - 1:
                problems.append((index, ("overflow",), "an overflow must be the last rule (the rules after it are "
                                                       "never reached)"))
        else:
            problems.append((index, (), f"unknown escalation action {action!r}"))
    return problems


# ---------------------------------------------------------------- call


@dataclass(frozen=True)
class Call:
    """A caller asking for a queue: `arrived_at` is the original arrival, kept when the caller comes back.

    `skills` are the call's own requirements (from the IVR's queue node) on top of the queue's; `priority`
    None means the queue's default priority.
    """

    id: str
    queue_id: str
    arrived_at: datetime
    priority: int | None = None
    skills: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_text(self.id, "call id")
        if self.arrived_at.tzinfo is None:
            raise InvalidConfig(f"call {self.id}: arrived_at must be timezone-aware")
        object.__setattr__(self, "skills", _levels(self.skills, f"call {self.id}: skills"))


# ---------------------------------------------------------------- requirements


@dataclass(frozen=True)
class Requirement:
    """What an agent needs to take a call at a given escalation level: skills >= levels, and a team."""

    skills: tuple[tuple[str, int], ...]  # (skill, minimum level), sorted by skill
    teams: frozenset[str] | None  # None: any team

    def admits(self, skills: Mapping[str, int], teams: frozenset[str]) -> bool:
        """True when an agent with these skills and teams qualifies (the router's hot path)."""
        if self.teams is not None and self.teams.isdisjoint(teams):
            return False
        for skill, level in self.skills:
            if skills.get(skill, 0) < level:
                return False
        return True

    def shortfalls(self, skills: Mapping[str, int], teams: frozenset[str]) -> list[str]:
        """Why an agent does not qualify, one phrase per unmet condition (empty when it qualifies)."""
        reasons = []
        if self.teams is not None and self.teams.isdisjoint(teams):
            reasons.append(f"not in team {' or '.join(sorted(self.teams))}")
        for skill, level in self.skills:
            have = skills.get(skill, 0)
            if have == 0:
                reasons.append(f"skill {skill} missing (required {level})")
            elif have < level:
                reasons.append(f"skill {skill} level {have} < required {level}")
        return reasons

    def score(self, skills: Mapping[str, int]) -> int:
        """The agent's summed levels on the required skills (the best_skill strategy's measure)."""
        return sum(skills.get(skill, 0) for skill, _ in self.skills)

    def __str__(self) -> str:
        skills = ", ".join(f"{skill}>={level}" for skill, level in self.skills) or "no skills"
        teams = "any team" if self.teams is None else "team " + " or ".join(sorted(self.teams))
        return f"{skills}; {teams}"


def requirement(queue: Queue, level: int, call_skills: Mapping[str, int] | None = None) -> Requirement:
    """The requirement of a call in `queue` once its first `level` escalation rules have applied.

    Required, still-preferred and call skills merge (highest minimum wins); then every reached RelaxSkill caps
    its skill's minimum (0 removes it); every reached AddTeam widens the teams. Overflow rules do not change it.
    """
    preferred = dict(queue.preferred_skills)
    relaxed: dict[str, int] = {}
    teams = set(queue.teams) if queue.teams else None
    for rule in queue.escalations[:level]:
        action = rule.action
        if isinstance(action, RelaxSkill):
            relaxed[action.skill] = min(relaxed.get(action.skill, MAX_LEVEL), action.min_level)
        elif isinstance(action, DropPreferred):
            preferred.pop(action.skill, None)
        elif isinstance(action, AddTeam) and teams is not None:
            teams.add(action.team)
    merged = dict(queue.required_skills)
    for source in (preferred, call_skills or {}):
        for skill, minimum in source.items():
            merged[skill] = max(merged.get(skill, 0), minimum)
    for skill, cap in relaxed.items():
        if skill in merged:
            merged[skill] = min(merged[skill], cap)
    skills = tuple(sorted((skill, minimum) for skill, minimum in merged.items() if minimum > 0))
    return Requirement(skills, frozenset(teams) if teams is not None else None)


# ---------------------------------------------------------------- helpers


def _require_text(value: object, what: str) -> None:
    _raise_if(text_problem(value), what)


def _raise_if(problem: str | None, what: str) -> None:
    if problem is not None:
        raise InvalidConfig(f"{what} {problem}")


def _levels(levels: Mapping[str, int], what: str) -> Mapping[str, int]:
    checked = {}
    for skill, level in dict(levels).items():
        if text_problem(skill) is not None:
            raise InvalidConfig(f"{what}: skill names must be non-empty strings")
        _raise_if(level_problem(level), f"{what} {skill}:")
        checked[skill] = level
    return MappingProxyType(checked)


@dataclass(frozen=True)
class BookedCallback:
    """A caller who booked a call back and hung up: its place in the queue (original arrival, priority, own
    skills) and the number to call. Kept in the database, so a restart does not lose it."""

    call_id: str
    queue_id: str
    number: str
    arrived_at: datetime
    priority: int | None = None
    skills: Mapping[str, int] = field(default_factory=dict)
