"""The ACD schema: plain data to Agent and Queue with every problem at its path, and the codec back.

Plain data is what YAML, database rows and HTTP JSON give. The field rules themselves are field_rules' and the
model's, so a problem is worded the same whichever way an agent or queue is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from callcontrol.core.acd.field_rules import (
    AGENT_WRAP_UP,
    ESCALATION_AFTER,
    MAX_LEVEL,
    MIN_LEVEL,
    QUEUE_FLAGS,
    QUEUE_NUMBERS,
    NumberRule,
    flag_problem,
    level_problem,
    moh_class_problem,
    sound_name_problem,
    text_problem,
)
from callcontrol.core.acd.model import (
    AddTeam,
    Agent,
    DropPreferred,
    EscalationAction,
    EscalationRule,
    InvalidConfig,
    Overflow,
    Queue,
    RelaxSkill,
    escalation_problems,
    strategy_problem,
)
from callcontrol.core.recording_policy import policy_from_data, policy_to_data
from callcontrol.core.wrapup import policy_from_data as wrapup_from_data
from callcontrol.core.wrapup import policy_to_data as wrapup_to_data
from callcontrol.core.identifiers import ACD_ID, ACD_ID_RULE, endpoint_problem
from callcontrol.core.ivr import Problem

MAX_NAME = 120
AGENT_KEYS = ("id", "name", "endpoint", "teams", "skills", "wrap_up_s")
QUEUE_KEYS = tuple(sorted((f.name for f in fields(Queue)), key=lambda name: name == "escalations"))
_QUEUE_DEFAULTS = {f.name: f.default for f in fields(Queue) if isinstance(f.default, (int, float, str, type(None)))}
ACTIONS = ("relax", "drop_preferred", "add_team", "overflow")

DocPath = tuple[str | int, ...]  # where a value sits in the document


@dataclass(frozen=True)
class AcdConfig:
    """The agents and queues of one configuration document, validated."""

    agents: tuple[Agent, ...]
    queues: tuple[Queue, ...]


# ---------------------------------------------------------------- model -> plain data


def rule_to_data(rule: EscalationRule) -> dict[str, Any]:
    """One escalation rule as plain data: {after_s, relax|drop_preferred|add_team|overflow: ...}."""
    action = rule.action
    data: dict[str, Any] = {"after_s": _number_out(rule.after_s)}
    if isinstance(action, RelaxSkill):
        data["relax"] = {action.skill: action.min_level}
    elif isinstance(action, DropPreferred):
        data["drop_preferred"] = action.skill
    elif isinstance(action, AddTeam):
        data["add_team"] = action.team
    elif isinstance(action, Overflow):
        data["overflow"] = action.queue_id
    else:  # pragma: no cover - the model refuses other actions
        raise InvalidConfig(f"unknown escalation action {action!r}")
    return data


def agent_to_data(agent: Agent) -> dict[str, Any]:
    """An agent as plain data (no PIN: PINs live only as hashes in the database)."""
    data: dict[str, Any] = {"id": agent.id, "name": agent.name, "endpoint": agent.endpoint,
                            "teams": sorted(agent.teams), "skills": dict(sorted(agent.skills.items()))}
    if agent.wrap_up_s is not None:
        data["wrap_up_s"] = _number_out(agent.wrap_up_s)
    return data


def queue_to_data(queue: Queue) -> dict[str, Any]:
    """A queue as plain data with every field written out, in the model's order."""
    data: dict[str, Any] = {}
    for name in QUEUE_KEYS:
        value = getattr(queue, name)
        if name in ("required_skills", "preferred_skills"):
            value = dict(sorted(value.items()))
        elif name == "teams":
            value = sorted(value)
        elif name == "periodic_prompts":
            value = list(value)  # in playing order
        elif name == "escalations":
            value = [rule_to_data(rule) for rule in value]
        elif name == "strategy":
            value = str(value)
        elif name == "recording":
            value = policy_to_data(value)
        elif name == "wrapup":
            value = wrapup_to_data(value)
        elif isinstance(value, float):
            value = _number_out(value)
        data[name] = value
    return data


def overflow_targets(escalations: Iterable[Mapping[str, Any]]) -> list[str]:
    """The queues a queue's escalation rules (as plain data) overflow to."""
    return [item["overflow"] for item in escalations if "overflow" in item]


def _number_out(value: float) -> float | int:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ---------------------------------------------------------------- plain data -> model


def build_acd_config(data: Any, known_queues: Iterable[str] = ()) -> tuple[AcdConfig | None, list[Problem]]:
    """Validate a document {agents: [...], queues: [...]} into agents and queues; every problem with its path.

    `known_queues`: queue ids outside this document an overflow may name.
    """
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        return None, [Problem((), "an ACD configuration is a mapping with agents and queues")]
    _unknown_keys(data, ("agents", "queues"), (), problems)
    agents = []
    agent_ids: set[str] = set()
    for item, path in _items(data, "agents", problems):
        agent = _agent(item, path, _check_id(item, path, "agent", problems, agent_ids), problems)
        if agent is not None:
            agents.append(agent)
    raw_queues = _items(data, "queues", problems)
    targets = {item["id"] for item, _ in raw_queues if isinstance(item.get("id"), str)} | set(known_queues)
    queues: list[Queue] = []
    seen: set[str] = set()
    for item, path in raw_queues:
        queue = _queue(item, path, _check_id(item, path, "queue", problems, seen), targets, problems)
        if queue is not None:
            queues.append(queue)
    problems.extend(_coverage_warnings(agents, queues, raw_queues))
    if any(p.severity == "error" for p in problems):
        return None, problems
    return AcdConfig(tuple(agents), tuple(queues)), problems


def agent_from_data(data: Mapping[str, Any], path: DocPath = ()) -> tuple[Agent | None, list[Problem]]:
    """One agent from plain data (a database row, say); None and every problem when it is not valid."""
    problems: list[Problem] = []
    agent = _agent(dict(data), path, _check_id(data, path, "agent", problems, set()), problems)
    return agent, problems


def queue_from_data(data: Mapping[str, Any], path: DocPath = (),
                    targets: Iterable[str] | None = None) -> tuple[Queue | None, list[Problem]]:
    """One queue from plain data; `targets` the queue ids an overflow may name (None: not checked here)."""
    problems: list[Problem] = []
    queue = _queue(dict(data), path, _check_id(data, path, "queue", problems, set()),
                   None if targets is None else set(targets), problems)
    return queue, problems


def _items(data: Mapping[str, Any], key: str, problems: list[Problem]) -> list[tuple[dict[str, Any], DocPath]]:
    items = data.get(key, [])
    if items is None:
        return []
    if not isinstance(items, list):
        problems.append(Problem((key,), f"{key} must be a list"))
        return []
    found = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(Problem((key, index), f"each entry of {key} must be a mapping"))
            continue
        found.append((dict(item), (key, index)))
    return found


def _check_id(item: Mapping[str, Any], path: DocPath, what: str, problems: list[Problem],
              seen: set[str]) -> str | None:
    """The entry's id, or None after reporting why it cannot be used (the other keys are still checked)."""
    value = item.get("id")
    if value is None:
        problems.append(Problem(path, f"{what}: missing required key 'id'"))
        return None
    if not isinstance(value, str) or not ACD_ID.match(value):
        problems.append(Problem((*path, "id"), f"{what} id {value!r} must be {ACD_ID_RULE}"))
        return None
    if value in seen:
        problems.append(Problem((*path, "id"), f"duplicate {what} id '{value}'"))
        return None
    seen.add(value)
    return value


def _agent(item: dict[str, Any], path: DocPath, agent_id: str | None, problems: list[Problem]) -> Agent | None:
    before = len(problems)
    read = _Reader(item, path, f"agent {agent_id or item.get('id', '(no id)')}", problems)
    read.unknown_keys(AGENT_KEYS)
    name = read.text("name", default=agent_id or "?", limit=MAX_NAME)
    endpoint = read.text("endpoint", limit=128)
    if isinstance(endpoint, str) and endpoint.strip():
        read.check("endpoint", endpoint_problem(endpoint), "")
    teams = read.names("teams")
    skills = read.levels("skills")
    wrap_up = read.number("wrap_up_s", AGENT_WRAP_UP, None)
    if agent_id is None or len(problems) > before:
        return None
    try:
        return Agent(agent_id, name, endpoint, skills, frozenset(teams), wrap_up)
    except InvalidConfig as exc:
        problems.append(Problem(path, str(exc)))
        return None


def _queue(item: dict[str, Any], path: DocPath, queue_id: str | None, targets: set[str] | None,
           problems: list[Problem]) -> Queue | None:
    before = len(problems)
    read = _Reader(item, path, f"queue {queue_id or item.get('id', '(no id)')}", problems)
    read.unknown_keys(QUEUE_KEYS)
    values: dict[str, Any] = {"id": queue_id, "name": read.text("name", default=queue_id or "?", limit=MAX_NAME)}
    for name in ("required_skills", "preferred_skills"):
        values[name] = read.levels(name)
    values["strategy"] = read.value("strategy", strategy_problem, "")
    for name, rule in QUEUE_NUMBERS.items():
        values[name] = read.number(name, rule, _QUEUE_DEFAULTS[name])
    for name in QUEUE_FLAGS:
        values[name] = read.value(name, flag_problem)
    values["moh_class"] = read.value("moh_class", moh_class_problem)
    values["periodic_prompts"] = tuple(read.sound_names("periodic_prompts"))
    policy, problem = policy_from_data(item.get("recording"))
    read.check("recording", problem, "recording:")
    values["recording"] = policy
    wrapup, wrapup_problems = wrapup_from_data(item.get("wrapup"))
    for subpath, problem in wrapup_problems:
        read.check(("wrapup", *subpath), problem, "wrapup:")
    values["wrapup"] = wrapup
    values["teams"] = frozenset(read.names("teams"))
    values["escalations"] = read.escalations(values["preferred_skills"], targets)
    if queue_id is None or len(problems) > before:
        return None
    try:
        return Queue(**values)
    except InvalidConfig as exc:
        problems.append(Problem(path, str(exc)))
        return None


def _unknown_keys(item: Mapping[str, Any], allowed: Sequence[str], path: DocPath, problems: list[Problem]) -> None:
    for key in item:
        if key not in allowed:
            problems.append(Problem((*path, key), f"unknown key '{key}' (allowed: {', '.join(allowed)})"))


class _Reader:
    """Reads the fields of one agent or queue, reporting each problem at its path as "<where>: <problem>"."""

    def __init__(self, item: Mapping[str, Any], path: DocPath, where: str, problems: list[Problem]) -> None:
        self.item, self.path, self.where, self.problems = item, path, where, problems

    def check(self, key: str | tuple[str | int, ...], problem: str | None, prefix: str) -> bool:
        """Report `problem` (if any) at key's path as "<where>: <prefix> <problem>"; True when there was none."""
        if problem is not None:
            suffix = key if isinstance(key, tuple) else (key,)
            self.problems.append(Problem((*self.path, *suffix), f"{self.where}: {prefix}{' ' if prefix else ''}"
                                                                f"{problem}"))
        return problem is None

    def unknown_keys(self, allowed: Sequence[str]) -> None:
        _unknown_keys(self.item, allowed, self.path, self.problems)

    def value(self, key: str, problem_of: Any, prefix: str | None = None) -> Any:
        value = self.item.get(key, _QUEUE_DEFAULTS[key])
        self.check(key, problem_of(value), key if prefix is None else prefix)
        return value

    def text(self, key: str, default: str | None = None, limit: int = 200) -> Any:
        if key not in self.item:
            if default is None:
                self.problems.append(Problem(self.path, f"{self.where}: missing required key '{key}'"))
            return default
        value = self.item[key]
        self.check(key, text_problem(value, limit), key)
        return value

    def number(self, key: str, rule: NumberRule, default: Any) -> Any:
        value = self.item.get(key, default)
        return value if self.check(key, rule.problem(value), key) else default

    def names(self, key: str) -> list[str]:
        value = self.item.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.check(key, "must be a list of names", key)
            return []
        for name in {v for v in value if value.count(v) > 1}:
            self.check(key, f"lists '{name}' twice", key)
        return list(value)

    def sound_names(self, key: str) -> list[str]:
        value = self.item.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            self.check(key, "must be a list of sound names", key)
            return []
        for index, name in enumerate(value):
            self.check((key, index), sound_name_problem(name), f"{key}:")
        return list(value)

    def levels(self, key: str) -> dict[str, int]:
        value = self.item.get(key, {})
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.check(key, "must be a mapping of skill: level", key)
            return {}
        levels = {}
        for skill, level in value.items():
            if text_problem(skill) is not None:
                self.check(key, "skill names must be non-empty strings", f"{key}:")
            elif self.check((key, skill), level_problem(level, MIN_LEVEL), f"{key} {skill}:"):
                levels[skill] = level
        return levels

    def escalations(self, preferred: Mapping[str, int], targets: set[str] | None) -> tuple[EscalationRule, ...]:
        raw = self.item.get("escalations", [])
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.check("escalations", "must be a list", "escalations")
            return ()
        rules: list[tuple[EscalationRule, DocPath]] = []
        for index, rule in enumerate(raw):
            at: DocPath = ("escalations", index)
            if not isinstance(rule, Mapping):
                self.check(at, "an escalation is a mapping with after_s and one action", "")
                continue
            _unknown_keys(rule, ("after_s", *ACTIONS), (*self.path, *at), self.problems)
            if "after_s" not in rule:
                self.check(at, "escalation without after_s", "")
                continue
            after = rule["after_s"]
            actions = [key for key in ACTIONS if key in rule]
            if not self.check((*at, "after_s"), ESCALATION_AFTER.problem(after), "after_s"):
                continue
            if len(actions) != 1:
                self.check(at, f"an escalation has exactly one of {', '.join(ACTIONS)}", "")
                continue
            rules.extend((EscalationRule(after, action), at) for action in self._actions(rule, actions[0], at,
                                                                                          targets))
        ordered = sorted(rules, key=lambda pair: pair[0].after_s)
        for index, suffix, problem in escalation_problems(self.item.get("id"), preferred, [r for r, _ in ordered]):
            self.check((*ordered[index][1], *suffix), problem, "")
        return tuple(rule for rule, _ in ordered)

    def _actions(self, rule: Mapping[str, Any], action: str, at: DocPath,
                 targets: set[str] | None) -> list[EscalationAction]:
        """The actions of one escalation rule as written (a relax of several skills gives one each)."""
        value = rule[action]
        if action == "relax":
            if isinstance(value, Mapping) and not value:
                self.check((*at, "relax"), "relax names no skill", "")
            if not isinstance(value, Mapping):
                self.check((*at, "relax"), "must be a mapping of skill: level", "relax")
                return []
            return [RelaxSkill(skill, level) for skill, level in value.items()]
        if text_problem(value) is not None:
            self.check((*at, action), "must be a name", action)
            return []
        if action == "drop_preferred":
            return [DropPreferred(value)]
        if action == "add_team":
            return [AddTeam(value)]
        if targets is not None and value != self.item.get("id") and value not in targets:
            self.check((*at, action), f"overflow to unknown queue '{value}'", "")
        return [Overflow(value)]


def _coverage_warnings(agents: list[Agent], queues: list[Queue],
                       raw_queues: list[tuple[dict[str, Any], DocPath]]) -> list[Problem]:
    """Warnings for queues nobody can ever serve with the agents of this document (only when it has agents)."""
    if not agents:
        return []
    paths = {item["id"]: path for item, path in raw_queues if isinstance(item.get("id"), str)}
    problems = []
    for queue in queues:
        teams = set(queue.teams) | {r.action.team for r in queue.escalations if isinstance(r.action, AddTeam)}
        relaxed: dict[str, int] = {}
        for rule in queue.escalations:
            if isinstance(rule.action, RelaxSkill):
                relaxed[rule.action.skill] = min(relaxed.get(rule.action.skill, MAX_LEVEL), rule.action.min_level)
        needed = {skill: min(level, relaxed.get(skill, level)) for skill, level in queue.required_skills.items()}
        if not any((not queue.teams or agent.teams & teams)
                   and all(agent.skills.get(skill, 0) >= level for skill, level in needed.items())
                   for agent in agents):
            problems.append(Problem(paths[queue.id], f"queue {queue.id}: no agent of this file can take its "
                                                     "calls, even after every escalation", "warning"))
    return problems
