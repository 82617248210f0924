"""Flow documents validated into Flows: every problem located by its path ("file:line: message" in the loaders)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcontrol.core.identifiers import (
    DIALED_NUMBER,
    EXTENSION,
    HTTP_BASE,
    IDENTIFIER,
    LANGUAGE,
    MAILBOX,
    TIME_INTERVAL,
)
from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.environment import QUEUE_STATUS_FIELDS
from callcontrol.core.ivr.graph import node_exits, node_expressions, reachable_from
from callcontrol.core.ivr.model import WEEKDAYS, Allow, Flow, Node, Problem, Schedule
from callcontrol.core.ivr.nodes import KIND_BY_CLASS, KIND_BY_NAME
from callcontrol.core.ivr.nodes.subflows import ReturnNode

_TOP_KEYS = {"id": True, "numbers": False, "start": True, "nodes": True, "description": False, "language": False,
             "languages": False, "timezone": False, "allow": False, "schedules": False,
             "record_ivr": False,  # record the IVR part too (docs/recording.md)
             "tests": False}  # tests: flow test cases, read by the flow test runner, not by the engine
_COMMON = {"type": True, "description": False}


def build_flow(data: Any, *, source: str, version: str) -> tuple[Flow | None, list[Problem]]:
    """Validate a parsed flow document; return the Flow (None if any error) and every problem found."""
    check = FlowChecker()
    if not isinstance(data, Mapping):
        check.error((), "a flow file must be a mapping with id, numbers, start and nodes")
        return None, check.problems
    check.keys(data, _TOP_KEYS, ())
    flow_id = data.get("id")
    if "id" in data and not (isinstance(flow_id, str) and IDENTIFIER.match(flow_id)):
        check.error(("id",), "must be a lowercase identifier (a-z, 0-9, _ and -, starting with a letter)")
    numbers = data.get("numbers", [])
    if not isinstance(numbers, list):
        check.error(("numbers",), "must be a list of dialled numbers (DNIS); leave it out for a flow that only "
                                  "other flows use")
        numbers = []
    for index, number in enumerate(numbers):
        if not (isinstance(number, str) and DIALED_NUMBER.match(number)):
            check.error(("numbers", index), f"{number!r} is not a dialled number (quote it; digits, * and # only)")
    language, languages = _languages(check, data)
    timezone = _timezone(check, data.get("timezone", "UTC"), ("timezone",))
    allow = _allow(check, data.get("allow", {}))
    schedules = _schedules(check, data.get("schedules", {}), timezone)
    context = FlowContext(languages=languages, allow=allow, schedules=schedules)

    raw_nodes = check.mapping(data, "nodes", (), "must be a mapping of node id to node", non_empty=True)
    nodes: dict[str, Node] = {}
    node_exit_refs: dict[str, list[str]] = {}
    for node_id, raw in raw_nodes.items():
        path: DocumentPath = ("nodes", node_id)
        if not (isinstance(node_id, str) and IDENTIFIER.match(node_id)):
            check.error(path, f"node id {node_id!r} must be a lowercase identifier")
            continue
        exits_before = len(check.exits)
        node = _build_node(check, node_id, raw, path, context)
        node_exit_refs[node_id] = [target for _, target in check.exits[exits_before:]]
        if node is not None:
            nodes[node_id] = node

    start = data.get("start")
    if "start" in data and not (isinstance(start, str) and start in raw_nodes):
        check.error(("start",), f"start node '{start}' is not defined in nodes")
    for exit_path, target in check.exits:
        if target not in raw_nodes:
            check.error(exit_path, f"exit to unknown node '{target}'")
    if isinstance(start, str) and start in raw_nodes:
        reachable = reachable_from(start, node_exit_refs)
        for node_id in raw_nodes:
            if node_id not in reachable:
                check.warning(("nodes", node_id), f"node '{node_id}' is unreachable from start '{start}'")
        _check_silent_loops(check, nodes)

    _check_queue_names(check, nodes, allow)
    returns = [node_id for node_id, node in nodes.items() if isinstance(node, ReturnNode)]
    if returns and numbers:
        check.error(("numbers",), f"a flow with return nodes ({', '.join(returns)}) is a subflow: it cannot answer "
                                  "numbers, since a caller reaching 'return' would have no flow to go back to")

    record_ivr = data.get("record_ivr", False)
    if not isinstance(record_ivr, bool):
        check.error(("record_ivr",), "must be true or false")
    if any(p.severity == "error" for p in check.problems):
        return None, check.problems
    flow = Flow(record_ivr=record_ivr is True, id=str(flow_id), version=version, source=source, numbers=tuple(numbers), start=str(start),
                nodes=MappingProxyType(nodes), language=language, languages=languages, timezone=timezone,
                allow=allow)
    return flow, check.problems


def _languages(check: FlowChecker, data: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    language = data.get("language", "en")
    if not (isinstance(language, str) and LANGUAGE.match(language)):
        check.error(("language",), "must be a language code such as en, fr or en_GB")
        language = "en"
    languages = data.get("languages", [language])
    if not isinstance(languages, list) or not all(isinstance(x, str) and LANGUAGE.match(x) for x in languages):
        check.error(("languages",), "must be a list of language codes such as [en, fr]")
        languages = [language]
    if language not in languages:
        check.error(("language",), f"default language '{language}' is not in languages {languages}")
    return language, tuple(languages)


def _timezone(check: FlowChecker, value: Any, path: DocumentPath) -> str:
    try:
        if not isinstance(value, str):
            raise ZoneInfoNotFoundError(value)
        ZoneInfo(value)
        return value
    except (ZoneInfoNotFoundError, ValueError):
        check.error(path, f"unknown timezone {value!r} (an IANA name such as Europe/Paris)")
        return "UTC"


def _allow(check: FlowChecker, raw: Any) -> Allow:
    if not isinstance(raw, Mapping):
        check.error(("allow",), "must map extensions/numbers to lists")
        return Allow()
    check.keys(raw, {"extensions": False, "numbers": False, "http": False, "queues": False, "mailboxes": False},
               ("allow",))
    bases = raw.get("http", [])
    if not isinstance(bases, list):
        check.error(("allow", "http"), "must be a list of base URLs")
        bases = []
    for index, base in enumerate(bases):
        if not (isinstance(base, str) and HTTP_BASE.match(base)):
            check.error(("allow", "http", index), f"{base!r} is not a base URL (http(s)://host[:port]/path/ "
                                                  "ending with /)")
    found: dict[str, Any] = {"http": tuple(b for b in bases if isinstance(b, str) and HTTP_BASE.match(b))}
    digits = "quote it; digits"
    for key, grammar, form in (("extensions", EXTENSION, digits), ("numbers", DIALED_NUMBER, digits),
                               ("queues", IDENTIFIER, "a lowercase identifier"), ("mailboxes", MAILBOX, digits)):
        values = raw.get(key, [])
        if not isinstance(values, list):
            check.error(("allow", key), "must be a list")
            values = []
        for index, value in enumerate(values):
            if not (isinstance(value, str) and grammar.match(value)):
                what = key[:-2] if key == "mailboxes" else key[:-1]
                check.error(("allow", key, index), f"{value!r} is not a valid {what} ({form})")
        found[key] = frozenset(v for v in values if isinstance(v, str))
    return Allow(**found)


def _schedules(check: FlowChecker, raw: Any, default_timezone: str) -> dict[str, Schedule]:
    if not isinstance(raw, Mapping):
        check.error(("schedules",), "must map schedule names to schedules")
        return {}
    schedules = {}
    for name, spec in raw.items():
        path: DocumentPath = ("schedules", name)
        if not isinstance(spec, Mapping):
            check.error(path, "a schedule needs weekly hours")
            continue
        check.keys(spec, {"timezone": False, "weekly": True, "holidays": False}, path)
        timezone = _timezone(check, spec.get("timezone", default_timezone), (*path, "timezone"))
        weekly: dict[int, tuple[tuple[int, int], ...]] = {}
        raw_weekly = check.mapping(spec, "weekly", path, "must map weekdays (mon..sun) to lists of HH:MM-HH:MM")
        for day, intervals in raw_weekly.items():
            if day not in WEEKDAYS:
                check.error((*path, "weekly", day), f"unknown weekday {day!r} (mon, tue, wed, thu, fri, sat, sun)")
                continue
            weekly[WEEKDAYS.index(day)] = _intervals(check, intervals, (*path, "weekly", day))
        holidays = set()
        raw_holidays = spec.get("holidays", [])
        for index, value in enumerate(raw_holidays if isinstance(raw_holidays, list) else [None]):
            if isinstance(value, date):
                holidays.add(value)
                continue
            try:
                holidays.add(date.fromisoformat(str(value)))
            except ValueError:
                check.error((*path, "holidays", index), f"{value!r} is not a date (YYYY-MM-DD)")
        schedules[str(name)] = Schedule(timezone, MappingProxyType(weekly), frozenset(holidays))
    return schedules


def _intervals(check: FlowChecker, raw: Any, path: DocumentPath) -> tuple[tuple[int, int], ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        check.error(path, "must be a list of HH:MM-HH:MM")
        return ()
    found = []
    for index, text in enumerate(raw):
        match = TIME_INTERVAL.match(text) if isinstance(text, str) else None
        if match is None:
            check.error((*path, index), f"{text!r} is not HH:MM-HH:MM")
            continue
        start = int(match[1]) * 60 + int(match[2])
        end = int(match[3]) * 60 + int(match[4])
        if not start < end <= 24 * 60:
            check.error((*path, index), f"{text!r}: the end must be after the start, within the day")
            continue
        found.append((start, end))
    return tuple(found)


def _build_node(check: FlowChecker, node_id: str, raw: Any, path: DocumentPath,
                context: FlowContext) -> Node | None:
    if not isinstance(raw, Mapping):
        check.error(path, "a node must be a mapping with a type")
        return None
    node_type = raw.get("type")
    kind = KIND_BY_NAME.get(node_type) if isinstance(node_type, str) else None
    if kind is None:
        check.error((*path, "type"), f"unknown node type {node_type!r} (known: {', '.join(sorted(KIND_BY_NAME))})")
        return None
    errors_before = sum(1 for p in check.problems if p.severity == "error")
    check.keys(raw, {**_COMMON, **kind.keys}, path)
    prompts = check.prompts(raw.get("prompts"), (*path, "prompts"))
    node = kind.build(check, node_id, raw, path, prompts, context)
    if sum(1 for p in check.problems if p.severity == "error") != errors_before:
        return None
    return node


def _check_queue_names(check: FlowChecker, nodes: Mapping[str, Node], allow: Allow) -> None:
    """queue.<id>.<field> in an expression must name an allow-listed queue and a known field."""
    for node_id, node in nodes.items():
        for where, expression in node_expressions(node):
            for name in sorted(expression.variables()):
                parts = name.split(".")
                if parts[0] != "queue":
                    continue
                if len(parts) != 3 or parts[2] not in QUEUE_STATUS_FIELDS:
                    check.error(("nodes", node_id, *where), f"'{name}': queue status reads queue.<id>.<field>, "
                                                            f"with field one of {', '.join(QUEUE_STATUS_FIELDS)}")
                elif parts[1] not in allow.queues:
                    check.error(("nodes", node_id, *where), f"'{name}': queue '{parts[1]}' is not on the flow's "
                                                            "allow list (allow.queues)")


def _check_silent_loops(check: FlowChecker, nodes: Mapping[str, Node]) -> None:
    """A cycle through set/branch/hours/language nodes alone would spin without the caller: reject it."""
    silent = {node_id: node for node_id, node in nodes.items() if KIND_BY_CLASS[type(node)].silent}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node_id: str, trail: list[str]) -> None:
        state[node_id] = 1
        for _, target in node_exits(silent[node_id]):
            if target not in silent:
                continue
            if state.get(target) == 1:
                cycle = trail[trail.index(target):] + [target] if target in trail else [node_id, target]
                check.error(("nodes", target), "loop without the caller: " + " -> ".join(cycle) +
                            " never plays a prompt or waits, so it would repeat forever")
            elif target not in state:
                visit(target, [*trail, target])
        state[node_id] = 2

    for node_id in silent:
        if node_id not in state:
            visit(node_id, [node_id])
