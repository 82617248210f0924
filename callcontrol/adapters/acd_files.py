"""Reads and writes the ACD configuration YAML (agents and queues), placing every problem at file:line:col."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from callcontrol.adapters.flow_files import LocatedProblem, read_plain_yaml
from callcontrol.core.acd.model import (
    MAX_ANNOUNCE_EVERY_S,
    MAX_LEVEL,
    MIN_ANNOUNCE_EVERY_S,
    MIN_LEVEL,
    MOH_CLASS,
    AddTeam,
    Agent,
    DropPreferred,
    EscalationRule,
    InvalidConfig,
    Overflow,
    Queue,
    RelaxSkill,
    Strategy,
)
from callcontrol.core.identifiers import IDENTIFIER as POLICY_NAME
from callcontrol.core.identifiers import endpoint_problem, is_sound_name
from callcontrol.core.ivr import Problem

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # agent and queue ids
MAX_NAME = 120
AGENT_KEYS = ("id", "name", "endpoint", "teams", "skills", "wrap_up_s")
QUEUE_KEYS = tuple(sorted((f.name for f in fields(Queue)), key=lambda name: name == "escalations"))
_QUEUE_DEFAULTS = {f.name: f.default for f in fields(Queue) if isinstance(f.default, (int, float, str, type(None)))}
ACTIONS = ("relax", "drop_preferred", "add_team", "overflow")

DocPath = tuple[str | int, ...]  # where a value sits in the document


@dataclass(frozen=True)
class AcdConfig:
    """The agents and queues of one configuration file, validated."""

    agents: tuple[Agent, ...]
    queues: tuple[Queue, ...]


# ---------------------------------------------------------------- plain data <-> model


def rule_to_data(rule: EscalationRule) -> dict[str, Any]:
    """One escalation rule as the file and the database write it: {after_s, relax|drop_preferred|...: ...}."""
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


def rules_from_data(items: Iterable[Mapping[str, Any]]) -> list[EscalationRule]:
    """Escalation rules from trusted plain data (the database); a relax of several skills gives one rule each."""
    rules: list[EscalationRule] = []
    for item in items:
        after = item["after_s"]
        if "relax" in item:
            rules.extend(EscalationRule(after, RelaxSkill(skill, level)) for skill, level in item["relax"].items())
        elif "drop_preferred" in item:
            rules.append(EscalationRule(after, DropPreferred(item["drop_preferred"])))
        elif "add_team" in item:
            rules.append(EscalationRule(after, AddTeam(item["add_team"])))
        elif "overflow" in item:
            rules.append(EscalationRule(after, Overflow(item["overflow"])))
        else:
            raise InvalidConfig(f"escalation rule without an action: {dict(item)!r}")
    return rules


def agent_to_data(agent: Agent) -> dict[str, Any]:
    """An agent as the file writes it (no PIN: PINs live only as hashes in the database)."""
    data: dict[str, Any] = {"id": agent.id, "name": agent.name, "endpoint": agent.endpoint,
                            "teams": sorted(agent.teams), "skills": dict(sorted(agent.skills.items()))}
    if agent.wrap_up_s is not None:
        data["wrap_up_s"] = _number_out(agent.wrap_up_s)
    return data


def queue_to_data(queue: Queue) -> dict[str, Any]:
    """A queue with every field written out, in the model's order."""
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
        elif isinstance(value, float):
            value = _number_out(value)
        data[name] = value
    return data


def config_to_data(agents: Iterable[Agent], queues: Iterable[Queue]) -> dict[str, Any]:
    return {"agents": [agent_to_data(a) for a in sorted(agents, key=lambda a: a.id)],
            "queues": [queue_to_data(q) for q in sorted(queues, key=lambda q: q.id)]}


def _number_out(value: float) -> float | int:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ---------------------------------------------------------------- writing


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping written on one line ({a: 1, b: 2})."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # list items indented under their key


_Dumper.add_representer(_Flow, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data.items(), flow_style=True))


def dump_acd_yaml(agents: Iterable[Agent], queues: Iterable[Queue]) -> str:
    """The configuration file text: one line per agent, one block per queue with one line per escalation rule."""
    data = config_to_data(agents, queues)
    out = {"agents": [_Flow(agent) for agent in data["agents"]],
           "queues": [{**queue, "escalations": [_Flow(rule) for rule in queue["escalations"]]}
                      for queue in data["queues"]]}
    header = "# ACD configuration: `callcontrol acd import` this file; PINs are set with `callcontrol acd pin`.\n"
    return header + yaml.dump(out, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)


# ---------------------------------------------------------------- reading


def load_acd_text(text: bytes, file: str, known_queues: Iterable[str] = ()) -> tuple[AcdConfig | None,
                                                                                    list[LocatedProblem]]:
    """Parse and validate one configuration document; None and every problem found when any is an error.

    `known_queues`: queue ids outside this file an overflow may name (those already in the database when
    importing without --replace).
    """
    data, locate, read_problems = read_plain_yaml(text, file, "ACD configuration")
    if data is None or any(p.severity == "error" for p in read_problems):
        return None, read_problems
    config, problems = build_acd_config(data, known_queues)
    located = read_problems + sorted((locate(problem) for problem in problems), key=lambda p: (p.line, p.column))
    return (None if any(p.severity == "error" for p in located) else config), located


def load_acd_file(path: Path, known_queues: Iterable[str] = ()) -> tuple[AcdConfig | None, list[LocatedProblem]]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        return None, [LocatedProblem(str(path), 1, 1, f"cannot read: {exc.strerror}")]
    return load_acd_text(text, str(path), known_queues)


def build_acd_config(data: Any, known_queues: Iterable[str] = ()) -> tuple[AcdConfig | None, list[Problem]]:
    """Validate plain data (as read from YAML) into agents and queues; every problem, each with its path."""
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        return None, [Problem((), "an ACD configuration is a mapping with agents and queues")]
    _unknown_keys(data, ("agents", "queues"), (), problems)
    agents = []
    agent_ids: set[str] = set()
    for _, item, path in _items(data, "agents", problems):
        agent = _agent(item, path, _check_id(item, path, "agent", problems, agent_ids), problems)
        if agent is not None:
            agents.append(agent)
    raw_queues = list(_items(data, "queues", problems))
    queue_ids = {item["id"] for _, item, _ in raw_queues if isinstance(item.get("id"), str)}
    targets = queue_ids | set(known_queues)
    queues: list[Queue] = []
    seen: set[str] = set()
    for _, item, path in raw_queues:
        queue = _queue(item, path, _check_id(item, path, "queue", problems, seen), targets, problems)
        if queue is not None:
            queues.append(queue)
    problems.extend(_coverage_warnings(agents, queues, raw_queues))
    if any(p.severity == "error" for p in problems):
        return None, problems
    return AcdConfig(tuple(agents), tuple(queues)), problems


def _items(data: Mapping[str, Any], key: str, problems: list[Problem]) -> Iterable[tuple[int, dict[str, Any],
                                                                                        DocPath]]:
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
        found.append((index, dict(item), (key, index)))
    return found


def _check_id(item: Mapping[str, Any], path: DocPath, what: str, problems: list[Problem],
              seen: set[str]) -> str | None:
    """The entry's id, or None after reporting why it cannot be used (the other keys are still checked)."""
    value = item.get("id")
    if value is None:
        problems.append(Problem(path, f"{what}: missing required key 'id'"))
        return None
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        problems.append(Problem((*path, "id"), f"{what} id {value!r} must be a lowercase identifier "
                                               "(a-z, 0-9, _; starting with a letter; at most 64)"))
        return None
    if value in seen:
        problems.append(Problem((*path, "id"), f"duplicate {what} id '{value}'"))
        return None
    seen.add(value)
    return value


def _unknown_keys(item: Mapping[str, Any], allowed: Sequence[str], path: DocPath, problems: list[Problem]) -> None:
    for key in item:
        if key not in allowed:
            problems.append(Problem((*path, key), f"unknown key '{key}' (allowed: {', '.join(allowed)})"))


def _agent(item: dict[str, Any], path: DocPath, agent_id: str | None, problems: list[Problem]) -> Agent | None:
    before = len(problems)
    where = f"agent {agent_id or item.get('id', '(no id)')}"
    _unknown_keys(item, AGENT_KEYS, path, problems)
    name = _text(item, "name", path, where, problems, default=agent_id or "?", limit=MAX_NAME)
    endpoint = _text(item, "endpoint", path, where, problems, limit=128)
    problem = endpoint_problem(endpoint) if isinstance(endpoint, str) and endpoint.strip() else None
    if problem is not None:
        problems.append(Problem((*path, "endpoint"), f"{where}: {problem}"))
    teams = _names(item, "teams", path, where, problems)
    skills = _levels(item, "skills", path, where, problems, lowest=MIN_LEVEL)
    wrap_up = _number(item, "wrap_up_s", path, where, problems, minimum=0, nullable=True)
    if agent_id is None or len(problems) > before:
        return None
    try:
        return Agent(agent_id, name, endpoint, skills, frozenset(teams), wrap_up)
    except InvalidConfig as exc:
        problems.append(Problem(path, str(exc)))
        return None


_QUEUE_NUMBERS: dict[str, tuple[float, bool, bool, bool]] = {
    # name: (minimum, minimum excluded, nullable, integer)
    "priority": (-math.inf, False, False, True),
    "weight": (0, True, False, False),
    "ring_timeout_s": (0, True, False, False),
    "wrap_up_s": (0, False, False, False),
    "max_wait_s": (0, True, True, False),
    "max_length": (1, False, True, True),
    "service_level_s": (0, False, False, False),
    "short_abandon_s": (0, False, False, False),
    "expected_handle_s": (0, True, False, False),
}
_QUEUE_FLAGS = ("callback_allowed", "announce_position", "announce_estimated_wait")


def _queue(item: dict[str, Any], path: DocPath, queue_id: str | None, targets: set[str],
           problems: list[Problem]) -> Queue | None:
    before = len(problems)
    where = f"queue {queue_id or item.get('id', '(no id)')}"
    _unknown_keys(item, QUEUE_KEYS, path, problems)
    values: dict[str, Any] = {"id": queue_id}
    values["name"] = _text(item, "name", path, where, problems, default=queue_id or "?", limit=MAX_NAME)
    values["required_skills"] = _levels(item, "required_skills", path, where, problems, lowest=MIN_LEVEL)
    values["preferred_skills"] = _levels(item, "preferred_skills", path, where, problems, lowest=MIN_LEVEL)
    strategy = item.get("strategy", str(Strategy.LONGEST_IDLE))
    if strategy not in {str(s) for s in Strategy}:
        problems.append(Problem((*path, "strategy"), f"{where}: unknown strategy {strategy!r} (one of: "
                                                     f"{', '.join(str(s) for s in Strategy)})"))
    values["strategy"] = strategy
    for name, (minimum, excluded, nullable, integer) in _QUEUE_NUMBERS.items():
        values[name] = _number(item, name, path, where, problems, minimum=minimum, excluded=excluded,
                               nullable=nullable, integer=integer, default=_QUEUE_DEFAULTS[name])
    values["announce_every_s"] = _number(item, "announce_every_s", path, where, problems,
                                         minimum=MIN_ANNOUNCE_EVERY_S, maximum=MAX_ANNOUNCE_EVERY_S,
                                         default=_QUEUE_DEFAULTS["announce_every_s"])
    for name in _QUEUE_FLAGS:
        flag = item.get(name, _QUEUE_DEFAULTS[name])
        if not isinstance(flag, bool):
            problems.append(Problem((*path, name), f"{where}: {name} must be true or false"))
        values[name] = flag
    moh_class = _text(item, "moh_class", path, where, problems, default=_QUEUE_DEFAULTS["moh_class"], limit=64)
    if isinstance(moh_class, str) and moh_class.strip() and not MOH_CLASS.match(moh_class):
        problems.append(Problem((*path, "moh_class"), f"{where}: moh_class {moh_class!r} must be a music-on-hold "
                                                      "class: letters, digits, _ and -"))
    values["moh_class"] = moh_class
    values["periodic_prompts"] = tuple(_sound_names(item, "periodic_prompts", path, where, problems))
    recording = item.get("recording")
    if recording is not None and (not isinstance(recording, str) or not POLICY_NAME.match(recording)):
        problems.append(Problem((*path, "recording"), f"{where}: recording {recording!r} must be a recording "
                                                      "policy name (a lowercase identifier)"))
    values["recording"] = recording
    values["teams"] = frozenset(_names(item, "teams", path, where, problems))
    values["escalations"] = _escalations(item, path, where, values["preferred_skills"], targets, problems)
    if queue_id is None or len(problems) > before:
        return None
    try:
        return Queue(**values)
    except InvalidConfig as exc:
        problems.append(Problem(path, str(exc)))
        return None


def _escalations(item: Mapping[str, Any], path: DocPath, where: str, preferred: Mapping[str, int],
                 targets: set[str], problems: list[Problem]) -> tuple[EscalationRule, ...]:
    raw = item.get("escalations", [])
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(Problem((*path, "escalations"), f"{where}: escalations must be a list"))
        return ()
    rules: list[tuple[EscalationRule, DocPath]] = []
    for index, rule in enumerate(raw):
        rule_path = (*path, "escalations", index)
        if not isinstance(rule, Mapping):
            problems.append(Problem(rule_path, f"{where}: an escalation is a mapping with after_s and one action"))
            continue
        _unknown_keys(rule, ("after_s", *ACTIONS), rule_path, problems)
        if "after_s" not in rule:
            problems.append(Problem(rule_path, f"{where}: escalation without after_s"))
            continue
        after = _number(rule, "after_s", rule_path, where, problems, minimum=0)
        actions = [key for key in ACTIONS if key in rule]
        if len(actions) != 1:
            problems.append(Problem(rule_path, f"{where}: an escalation has exactly one of {', '.join(ACTIONS)}"))
            continue
        action, value = actions[0], rule[actions[0]]
        value_path = (*rule_path, action)
        if action == "relax":
            levels = _levels(rule, "relax", rule_path, where, problems, lowest=0)
            if isinstance(value, Mapping) and not value:
                problems.append(Problem(value_path, f"{where}: relax names no skill"))
            rules.extend((EscalationRule(after, RelaxSkill(skill, level)), value_path)
                         for skill, level in levels.items())
        elif not isinstance(value, str) or not value.strip():
            problems.append(Problem(value_path, f"{where}: {action} must be a name"))
        elif action == "drop_preferred":
            if value not in preferred:
                problems.append(Problem(value_path, f"{where}: cannot drop '{value}': not a preferred skill"))
            rules.append((EscalationRule(after, DropPreferred(value)), value_path))
        elif action == "add_team":
            rules.append((EscalationRule(after, AddTeam(value)), value_path))
        else:
            if value == item.get("id"):
                problems.append(Problem(value_path, f"{where}: a queue cannot overflow to itself"))
            elif value not in targets:
                problems.append(Problem(value_path, f"{where}: overflow to unknown queue '{value}'"))
            rules.append((EscalationRule(after, Overflow(value)), value_path))
    ordered = sorted(rules, key=lambda pair: pair[0].after_s)
    for rule, rule_path in ordered[:-1]:
        if isinstance(rule.action, Overflow):
            problems.append(Problem(rule_path, f"{where}: an overflow must be the last rule (the rules after it "
                                               "are never reached)"))
    return tuple(rule for rule, _ in ordered)


def _coverage_warnings(agents: list[Agent], queues: list[Queue],
                       raw_queues: list[tuple[int, dict[str, Any], DocPath]]) -> list[Problem]:
    """Warnings for queues nobody can ever serve with the agents of this file (only when it has agents)."""
    if not agents:
        return []
    paths = {item["id"]: path for _, item, path in raw_queues if isinstance(item.get("id"), str)}
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


# ---------------------------------------------------------------- field readers


def _text(item: Mapping[str, Any], key: str, path: DocPath, where: str, problems: list[Problem],
          default: str | None = None, limit: int = 200) -> Any:
    if key not in item:
        if default is None:
            problems.append(Problem(path, f"{where}: missing required key '{key}'"))
        return default
    value = item[key]
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem((*path, key), f"{where}: {key} must be a non-empty string"))
    elif len(value) > limit:
        problems.append(Problem((*path, key), f"{where}: {key} longer than {limit} characters"))
    return value


def _names(item: Mapping[str, Any], key: str, path: DocPath, where: str, problems: list[Problem]) -> list[str]:
    value = item.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(Problem((*path, key), f"{where}: {key} must be a list of names"))
        return []
    for name in {v for v in value if value.count(v) > 1}:
        problems.append(Problem((*path, key), f"{where}: {key} lists '{name}' twice"))
    return list(value)


def _sound_names(item: Mapping[str, Any], key: str, path: DocPath, where: str,
                 problems: list[Problem]) -> list[str]:
    value = item.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(Problem((*path, key), f"{where}: {key} must be a list of sound names"))
        return []
    for index, name in enumerate(value):
        if not is_sound_name(name):
            problems.append(Problem((*path, key, index), f"{where}: {key}: {name!r} is not an Asterisk sound name "
                                                         "(e.g. queue-periodic-announce or custom/welcome)"))
    return list(value)


def _levels(item: Mapping[str, Any], key: str, path: DocPath, where: str, problems: list[Problem],
            lowest: int) -> dict[str, int]:
    value = item.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(Problem((*path, key), f"{where}: {key} must be a mapping of skill: level"))
        return {}
    levels = {}
    for skill, level in value.items():
        if not isinstance(skill, str) or not skill.strip():
            problems.append(Problem((*path, key), f"{where}: {key}: skill names must be non-empty strings"))
        elif isinstance(level, bool) or not isinstance(level, int) or not lowest <= level <= MAX_LEVEL:
            problems.append(Problem((*path, key, skill), f"{where}: {key} {skill}: level must be an integer "
                                                         f"{lowest}-{MAX_LEVEL}, not {level!r}"))
        else:
            levels[skill] = level
    return levels


def _number(item: Mapping[str, Any], key: str, path: DocPath, where: str, problems: list[Problem],
            minimum: float = -math.inf, excluded: bool = False, nullable: bool = False, integer: bool = False,
            default: Any = None, maximum: float = math.inf) -> Any:
    value = item.get(key, default)
    if value is None:
        if key in item and not nullable:
            problems.append(Problem((*path, key), f"{where}: {key} must be a number"))
        return value
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)):
        problems.append(Problem((*path, key), f"{where}: {key} must be {kind}, not {value!r}"))
        return default
    if value < minimum or (excluded and value == minimum):
        bound = f"> {_number_out(minimum)}" if excluded else f">= {_number_out(minimum)}"
        problems.append(Problem((*path, key), f"{where}: {key} must be {bound}, not {value!r}"))
    elif value > maximum:
        problems.append(Problem((*path, key), f"{where}: {key} must be <= {_number_out(maximum)}, not {value!r}"))
    return value
