"""Reads an Asterisk app_queue queues.conf with pyst2 into ACD queues and agents (penalties become skill levels)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asterisk.config import Config, ParseError

from callcontrol.core.acd.field_rules import MAX_ANNOUNCE_EVERY_S, MAX_LEVEL, MIN_ANNOUNCE_EVERY_S, MIN_LEVEL
from callcontrol.core.acd.model import Agent, InvalidConfig, Queue, Strategy
from callcontrol.core.identifiers import ACD_ID, MOH_CLASS, acd_id_from, endpoint_problem, is_sound_name

STRATEGIES = {
    "leastrecent": Strategy.LONGEST_IDLE,
    "fewestcalls": Strategy.FEWEST_CALLS,
    "random": Strategy.RANDOM,
    "rrmemory": Strategy.ROUND_ROBIN,
    "roundrobin": Strategy.ROUND_ROBIN,
    "rrordered": Strategy.ROUND_ROBIN,
}
# app_queue strategies with no counterpart: the queue gets longest_idle and a warning
UNMAPPED_STRATEGIES = ("ringall", "linear", "wrandom")
_CATEGORY = re.compile(r"^\s*\[([^\]]+)\]\s*\(([^)]*)\)\s*(;.*)?$")  # [name](!) or [name](template,...)


@dataclass(frozen=True)
class QueuesConfImport:
    """What a queues.conf becomes: queues, their members as agents, and what could not be carried over."""

    queues: tuple[Queue, ...]
    agents: tuple[Agent, ...]
    warnings: tuple[str, ...]  # "file:line: message"


class _Text(Config):  # type: ignore[misc]
    """pyst2's parser over lines we prepared (templates and #include directives taken out beforehand)."""

    def __init__(self, filename: str, lines: list[str]) -> None:
        self._prepared = lines
        super().__init__(filename)

    def load(self) -> None:
        self.raw_lines = self._prepared


@dataclass
class _Member:
    interface: str
    name: str | None
    line: int
    levels: dict[str, int] = field(default_factory=dict)  # queue id -> skill level


def read_queues_conf(path: Path) -> QueuesConfImport:
    """Read queues.conf: each [queue] a Queue requiring the skill named after it at level 1, each member an Agent.

    A member's penalty p becomes level 10 - p (clamped to 1-10) of that skill: lower penalty, higher level.
    Raises ValueError (file:line) when the file cannot be read or parsed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    warnings: list[str] = []
    lines, templates, parents = _prepare(text.splitlines(keepends=True), str(path), warnings)
    try:
        config = _Text(str(path), lines)
    except ParseError as exc:
        line, message = exc.args if len(exc.args) == 2 else (0, str(exc))
        raise ValueError(f"{path}:{line}: {message}") from exc

    items_of: dict[str, list[Any]] = {}
    for category in config.categories:
        inherited = [item for parent in parents.get(category.number, ()) for item in items_of.get(parent, [])]
        for parent in parents.get(category.number, ()):
            if parent not in items_of:
                warnings.append(f"{path}:{category.number}: [{category.name}] uses unknown template '{parent}'")
        items_of[category.name] = inherited + list(category.items)

    queues: list[Queue] = []
    members: dict[str, _Member] = {}
    for category in config.categories:
        if category.name == "general" or category.number in templates:
            continue
        queue = _queue(str(path), category, items_of[category.name], members, warnings)
        if queue is not None:
            queues.append(queue)
    agents = _agents(members, str(path), warnings)
    for queue in queues:
        if not any(queue.id in agent.skills for agent in agents):
            warnings.append(f"{path}: queue {queue.id} has no members: no agent has its skill '{queue.id}' yet")
    return QueuesConfImport(tuple(queues), tuple(agents), tuple(warnings))


def _prepare(raw: list[str], file: str, warnings: list[str]) -> tuple[list[str], set[int], dict[int, list[str]]]:
    """Lines for pyst2 (same numbering): `[name](...)` becomes `[name]`, #include and #exec lines are dropped."""
    lines, templates, parents = [], set(), {}
    for number, line in enumerate(raw, start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            warnings.append(f"{file}:{number}: '{stripped}' not followed (only this file is read)")
            lines.append("\n")
            continue
        match = _CATEGORY.match(line)
        if match:
            options = [option.strip() for option in match.group(2).split(",") if option.strip()]
            if "!" in options:
                templates.add(number)
            parents[number] = [option for option in options if option != "!"]
            lines.append(f"[{match.group(1).strip()}]\n")
            continue
        lines.append(line)
    return lines, templates, parents


def _queue(file: str, category: Any, items: list[Any], members: dict[str, _Member],
           warnings: list[str]) -> Queue | None:
    queue_id = acd_id_from(category.name, "q_", "queue")
    where = f"{file}:{category.number}: [{category.name}]"
    if queue_id != category.name:
        warnings.append(f"{where}: queue id '{queue_id}' (ids are lowercase identifiers)")
    values: dict[str, Any] = {"id": queue_id, "name": category.name}
    ignored: list[str] = []
    seen: set[str] = set()
    announcing = _Announcing()
    for item in items:
        key, value = item.name.strip().lower(), item.value.strip()
        at = f"{file}:{item.number}: [{category.name}]"
        if key in _ANNOUNCING_KEYS:
            announcing.read(at, key, value, warnings)
        elif key == "member":
            _member(at, queue_id, value, item.number, members, seen, warnings)
        elif key == "strategy":
            strategy = STRATEGIES.get(value.lower())
            if strategy is None:
                how = "has no counterpart" if value.lower() in UNMAPPED_STRATEGIES else "is unknown"
                warnings.append(f"{at}: strategy {value} {how}: longest_idle instead")
                strategy = Strategy.LONGEST_IDLE
            values["strategy"] = strategy
        elif key == "timeout":
            seconds = _number(at, key, value, warnings)
            if seconds == 0:
                warnings.append(f"{at}: timeout 0 (ring until answered) has no counterpart: ring_timeout_s 15")
            elif seconds is not None:
                values["ring_timeout_s"] = seconds
        elif key in ("wrapuptime", "servicelevel"):
            seconds = _number(at, key, value, warnings)
            if seconds is not None:
                values["wrap_up_s" if key == "wrapuptime" else "service_level_s"] = seconds
        elif key == "maxlen":
            length = _number(at, key, value, warnings)
            if length is not None:
                values["max_length"] = int(length) or None  # 0: unlimited
        elif key == "weight":
            weight = _number(at, key, value, warnings)
            if weight:  # a heavier queue's callers go first: our queue priority
                values["priority"] = int(weight)
        else:
            ignored.append(key)
    if ignored:
        warnings.append(f"{where}: not carried over: {', '.join(sorted(set(ignored)))}")
    values.update(announcing.values(warnings))
    values["required_skills"] = {queue_id: MIN_LEVEL}
    levels = sorted({m.levels[queue_id] for m in members.values() if queue_id in m.levels})
    if len(levels) > 1:
        warnings.append(f"{where}: penalties became levels {', '.join(map(str, levels))} of skill '{queue_id}'; "
                        "the queue requires level 1, so every member is eligible at once (app_queue rang lower "
                        "penalties first): raise required_skills and relax them in escalations to keep that order")
    try:
        return Queue(**values)
    except InvalidConfig as exc:
        warnings.append(f"{where}: skipped: {exc}")
        return None


_ANNOUNCING_KEYS = ("musicclass", "announce-position", "announce-holdtime", "announce-frequency",
                    "periodic-announce", "periodic-announce-frequency")


@dataclass
class _Announcing:
    """What the caller hears while waiting: music class, announcements and periodic prompts (read in any order)."""

    fields: dict[str, Any] = field(default_factory=dict)
    frequency: tuple[str, float] | None = None  # (where, seconds) of announce-frequency
    periodic_frequency: tuple[str, float] | None = None  # of periodic-announce-frequency

    def read(self, at: str, key: str, value: str, warnings: list[str]) -> None:
        if key == "musicclass":
            if MOH_CLASS.match(value):
                self.fields["moh_class"] = value
            else:
                warnings.append(f"{at}: musicclass '{value}' is not a music-on-hold class name: default instead")
        elif key == "announce-position":
            self.fields["announce_position"] = value.lower() != "no"  # yes, more, limit: some position is said
        elif key == "announce-holdtime":
            self.fields["announce_estimated_wait"] = value.lower() in ("yes", "once")
        elif key == "periodic-announce":
            prompts = [name.strip() for name in re.split(r"[,|]", value) if name.strip()]
            for name in prompts:
                if not is_sound_name(name):
                    warnings.append(f"{at}: periodic-announce '{name}' is not a sound name: skipped")
            self.fields["periodic_prompts"] = tuple(name for name in prompts if is_sound_name(name))
        else:
            seconds = _number(at, key, value, warnings)
            if seconds is not None:
                if key == "announce-frequency":
                    self.frequency = (at, seconds)
                else:
                    self.periodic_frequency = (at, seconds)

    def values(self, warnings: list[str]) -> dict[str, Any]:
        """The queue fields; announcements with frequency 0 (app_queue: off) are dropped."""
        found = dict(self.fields)
        announces = found.get("announce_position") or found.get("announce_estimated_wait")
        if self.frequency is not None and self.frequency[1] == 0:
            if announces:
                warnings.append(f"{self.frequency[0]}: announce-frequency 0 turns position and hold time "
                                "announcements off")
            found["announce_position"] = found["announce_estimated_wait"] = False
        if self.periodic_frequency is not None and self.periodic_frequency[1] == 0:
            if found.get("periodic_prompts"):
                warnings.append(f"{self.periodic_frequency[0]}: periodic-announce-frequency 0 turns the periodic "
                                "announcements off")
            found["periodic_prompts"] = ()
        used = [pair for pair in (self.frequency, self.periodic_frequency) if pair is not None and pair[1] > 0]
        if not used:
            return found
        at, seconds = used[0]  # announce-frequency when both are given
        clamped = max(MIN_ANNOUNCE_EVERY_S, min(MAX_ANNOUNCE_EVERY_S, seconds))
        if clamped != seconds:
            key = "announce-frequency" if used[0] is self.frequency else "periodic-announce-frequency"
            warnings.append(f"{at}: {key} {seconds:g} outside {MIN_ANNOUNCE_EVERY_S:g}-{MAX_ANNOUNCE_EVERY_S:g} s: "
                            f"announce_every_s {clamped:g}")
        if len(used) == 2 and used[1][1] != seconds:
            warnings.append(f"{used[1][0]}: periodic-announce-frequency {used[1][1]:g}: one frequency serves "
                            f"announcements and periodic prompts: announce_every_s {clamped:g} "
                            "(from announce-frequency)")
        found["announce_every_s"] = clamped
        return found


def _member(at: str, queue_id: str, value: str, line: int, members: dict[str, _Member], seen: set[str],
            warnings: list[str]) -> None:
    """member => interface[,penalty[,membername[,state_interface[,ringinuse[,wrapuptime[,paused]]]]]]"""
    parts = [part.strip() for part in value.split(",")]
    interface = parts[0]
    problem = endpoint_problem(interface)
    if problem is not None:  # the ACD dials PJSIP devices only (Local/, SIP/... are app_queue's business)
        warnings.append(f"{at}: member '{value[:120]}' skipped: {problem}")
        return
    if interface in seen:
        warnings.append(f"{at}: member {interface} listed twice: the first entry counts")
        return
    seen.add(interface)
    penalty = 0
    if len(parts) > 1 and parts[1]:
        try:
            penalty = int(parts[1])
        except ValueError:
            warnings.append(f"{at}: member {interface}: penalty '{parts[1]}' is not a number: 0")
    name = parts[2] if len(parts) > 2 and parts[2] else None
    if len(parts) > 3 and any(parts[3:]):
        warnings.append(f"{at}: member {interface}: state interface, ringinuse, wrap-up and paused not carried over")
    member = members.setdefault(interface, _Member(interface, name, line))
    member.name = member.name or name
    member.levels[queue_id] = max(MIN_LEVEL, min(MAX_LEVEL, MAX_LEVEL - penalty))


def _agents(members: dict[str, _Member], file: str, warnings: list[str]) -> list[Agent]:
    """One agent per interface: its id from the member name when that is an identifier, else from the interface."""
    agents: list[Agent] = []
    taken: set[str] = set()
    for member in members.values():
        from_name = (member.name or "").strip().lower()
        agent_id = from_name if ACD_ID.match(from_name) and from_name not in taken else None
        if agent_id is None:
            agent_id = acd_id_from(member.interface, "a_")
            base, suffix = agent_id, 2
            while agent_id in taken:
                agent_id, suffix = f"{base[:60]}_{suffix}", suffix + 1
        taken.add(agent_id)
        try:
            agents.append(Agent(agent_id, member.name or member.interface, member.interface, member.levels))
        except InvalidConfig as exc:
            warnings.append(f"{file}:{member.line}: member {member.interface} skipped: {exc}")
    return agents


def _number(at: str, key: str, value: str, warnings: list[str]) -> float | None:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        warnings.append(f"{at}: {key} = {value} is not a number >= 0: not carried over")
        return None
    return int(number) if number.is_integer() else number
