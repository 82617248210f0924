"""IVR flows: the flow model, its validation, and the pure step engine that walks a caller through it."""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcontrol.core.expressions import EvaluationError, Expression, ExpressionError, parse
from callcontrol.core.identifiers import DIALED_NUMBER, DTMF_KEYS, IDENTIFIER, is_sound_name

DIGITS = frozenset(DTMF_KEYS)
MAX_STEPS_PER_CALL = 500
MAX_SUBFLOW_DEPTH = 8  # subflows inside subflows; recursion is rejected by check_flow_references
LANGUAGE = re.compile(r"^[a-z]{2}(_[A-Z]{2})?\Z")
EXTENSION = re.compile(r"^[0-9]{2,8}\Z")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SURVEY_SCORES = frozenset("12345")
MAILBOX = re.compile(r"^[0-9]{2,10}\Z")
SKILL_LEVELS = range(1, 11)


# ---------------------------------------------------------------- flow model


@dataclass(frozen=True)
class PlayNode:
    id: str
    prompts: tuple[str, ...]
    next: str


@dataclass(frozen=True)
class MenuNode:
    id: str
    prompts: tuple[str, ...]
    options: Mapping[str, str]
    timeout_ms: int
    max_attempts: int
    no_input_prompts: tuple[str, ...]
    invalid_prompts: tuple[str, ...]
    exhausted: str


@dataclass(frozen=True)
class InputNode:
    """Collect several digits into a variable; `secure` digits never reach logs, records or events."""

    id: str
    prompts: tuple[str, ...]
    variable: str
    min_digits: int
    max_digits: int
    terminator: str
    timeout_ms: int
    inter_digit_timeout_ms: int
    max_attempts: int
    pattern: re.Pattern[str] | None
    secure: bool
    no_input_prompts: tuple[str, ...]
    invalid_prompts: tuple[str, ...]
    next: str
    exhausted: str


@dataclass(frozen=True)
class SayNode:
    id: str
    kind: Literal["number", "digits"]
    value: Expression
    next: str
    error: str


@dataclass(frozen=True)
class SetNode:
    id: str
    assignments: tuple[tuple[str, Expression], ...]
    next: str
    error: str


@dataclass(frozen=True)
class BranchNode:
    id: str
    cases: tuple[tuple[Expression, str], ...]
    default: str
    error: str


@dataclass(frozen=True)
class Schedule:
    """Business hours: open intervals per weekday (minutes from midnight) and closed dates, in a timezone."""

    timezone: str
    weekly: Mapping[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[date]

    def state(self, now: datetime) -> Literal["open", "closed", "holiday"]:
        local = now.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return "holiday"
        minute = local.hour * 60 + local.minute
        intervals = self.weekly.get(local.weekday(), ())
        return "open" if any(start <= minute < end for start, end in intervals) else "closed"


@dataclass(frozen=True)
class HoursNode:
    id: str
    schedule: Schedule
    open: str
    closed: str
    holiday: str | None


@dataclass(frozen=True)
class LanguageNode:
    id: str
    language: str
    next: str


@dataclass(frozen=True)
class TransferNode:
    """Connect the caller to an allow-listed extension or number.

    `answered`: where the caller goes when the other side hangs up first (e.g. a survey); without it the call
    ends after the conversation. `failed`: busy, no answer, unreachable.
    """

    id: str
    kind: Literal["extension", "number"]
    target: str
    ring_timeout_s: int
    answered: str | None
    failed: str


@dataclass(frozen=True)
class SurveyQuestion:
    prompts: tuple[str, ...]
    variable: str


@dataclass(frozen=True)
class SurveyNode:
    id: str
    questions: tuple[SurveyQuestion, ...]
    timeout_ms: int
    next: str


@dataclass(frozen=True)
class HttpNode:
    """A data dip: a request to an allow-listed URL; answer fields mapped into variables."""

    id: str
    method: Literal["GET", "POST"]
    url: str
    query: tuple[tuple[str, Expression], ...]
    body: tuple[tuple[str, Expression], ...]
    timeout_s: float
    result: tuple[tuple[str, tuple[str, ...]], ...]  # variable <- path of keys into the JSON answer
    ok: str
    error: str
    timeout: str


@dataclass(frozen=True)
class HangupNode:
    id: str
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class QueueAnnouncements:
    """What a waiting caller hears besides music on hold, every `every_s` seconds."""

    position: bool = False
    estimated_wait: bool = False
    every_s: int = 60
    prompts: tuple[str, ...] = ()  # a periodic message


@dataclass(frozen=True)
class CallbackOption:
    """Virtual hold: pressing `key` while queued books a call back to a number matching `numbers` (the only
    numbers this queue node may call), while `schedule` (if any) is open; then the flow goes on at `next`."""

    key: str
    numbers: re.Pattern[str]
    schedule: Schedule | None
    next: str


@dataclass(frozen=True)
class QueueNode:
    """Hand the caller to the ACD: an allow-listed queue, extra skills, a priority, a maximum wait.

    Exits: `answered` (optional: where the caller goes when the agent hangs up first; without it the call
    ends with the conversation), `timeout` (max_wait_s reached), `no_agents` (nobody can take the call),
    and one exit per key in `exit_keys` (the caller chose to leave the queue).
    """

    id: str
    queue: str
    skills: Mapping[str, int]  # extra requirements for this caller: skill -> minimum level (1-10)
    priority: int | None  # None: the queue's default
    max_wait_s: int
    announcements: QueueAnnouncements
    exit_keys: Mapping[str, str]  # digit -> node
    answered: str | None
    timeout: str
    no_agents: str
    callback: CallbackOption | None = None


@dataclass(frozen=True)
class VoicemailNode:
    """Let the caller leave a message in an allow-listed mailbox; `failed` when the mailbox cannot take it."""

    id: str
    mailbox: str
    greeting: Literal["unavailable", "busy", "none"]
    next: str
    failed: str


@dataclass(frozen=True)
class SubflowNode:
    """Run another flow (one with `return` nodes), then carry on at `next` when it returns."""

    id: str
    flow: str
    next: str


@dataclass(frozen=True)
class GotoNode:
    """Continue the call in another flow, for good."""

    id: str
    flow: str


@dataclass(frozen=True)
class ReturnNode:
    """End a subflow: the caller goes back to the calling flow's subflow node's `next`."""

    id: str


Node = Union[PlayNode, MenuNode, InputNode, SayNode, SetNode, BranchNode, HoursNode, LanguageNode, TransferNode,
             SurveyNode, HttpNode, HangupNode, QueueNode, VoicemailNode, SubflowNode, GotoNode, ReturnNode]


@dataclass(frozen=True)
class Allow:
    """Destinations a flow may send a caller to; nothing else can be dialled (toll-fraud protection)."""

    extensions: frozenset[str] = frozenset()
    numbers: frozenset[str] = frozenset()
    http: tuple[str, ...] = ()  # base URLs an http node's url must start with
    queues: frozenset[str] = frozenset()
    mailboxes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Flow:
    id: str
    version: str
    source: str
    numbers: tuple[str, ...]
    start: str
    nodes: Mapping[str, Node]
    language: str = "en"
    languages: tuple[str, ...] = ("en",)
    timezone: str = "UTC"
    allow: Allow = field(default_factory=Allow)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow, located by its path inside the document."""

    path: tuple[str | int, ...]
    message: str
    severity: Literal["error", "warning"] = "error"


def node_exits(node: Node) -> list[tuple[str, str]]:
    """A node's exits as (label, target node id), in a stable order: for graphs, reachability and tests."""
    if isinstance(node, MenuNode):
        return [*((digit, target) for digit, target in node.options.items()), ("exhausted", node.exhausted)]
    if isinstance(node, InputNode):
        return [("next", node.next), ("exhausted", node.exhausted)]
    if isinstance(node, (SayNode, SetNode)):
        return [("next", node.next), ("error", node.error)]
    if isinstance(node, BranchNode):
        cases = [(f"when {expression.text}", target) for expression, target in node.cases]
        return [*cases, ("default", node.default), ("error", node.error)]
    if isinstance(node, HoursNode):
        exits = [("open", node.open), ("closed", node.closed)]
        return exits + ([("holiday", node.holiday)] if node.holiday else [])
    if isinstance(node, TransferNode):
        return ([("answered", node.answered)] if node.answered else []) + [("failed", node.failed)]
    if isinstance(node, HttpNode):
        return [("ok", node.ok), ("error", node.error), ("timeout", node.timeout)]
    if isinstance(node, QueueNode):
        return [*([("answered", node.answered)] if node.answered else []), ("timeout", node.timeout),
                ("no_agents", node.no_agents), *((f"key {digit}", target) for digit, target in node.exit_keys.items()),
                *([("callback", node.callback.next)] if node.callback else [])]
    if isinstance(node, VoicemailNode):
        return [("next", node.next), ("failed", node.failed)]
    if isinstance(node, (PlayNode, LanguageNode, SurveyNode, SubflowNode)):
        return [("next", node.next)]
    return []


def prompt_references(flow: Flow) -> list[tuple[tuple[str | int, ...], str]]:
    """Every sound a flow can play, with its path in the document (for checks against a sounds directory)."""
    references: list[tuple[tuple[str | int, ...], str]] = []
    for node_id, node in flow.nodes.items():
        for key in ("prompts", "no_input_prompts", "invalid_prompts"):
            references.extend((("nodes", node_id, key, index), name)
                              for index, name in enumerate(getattr(node, key, ())))
        if isinstance(node, SurveyNode):
            for number, question in enumerate(node.questions):
                references.extend((("nodes", node_id, "questions", number, "prompts", index), name)
                                  for index, name in enumerate(question.prompts))
        if isinstance(node, QueueNode):
            references.extend((("nodes", node_id, "announce", "prompts", index), name)
                              for index, name in enumerate(node.announcements.prompts))
    return references


def node_expressions(node: Node) -> list[tuple[tuple[str | int, ...], Expression]]:
    """A node's expressions, each with its path inside the node (for checks over names and comparisons)."""
    if isinstance(node, BranchNode):
        return [(("cases", index, "when"), expression) for index, (expression, _) in enumerate(node.cases)]
    if isinstance(node, SetNode):
        return [(("assign", name), expression) for name, expression in node.assignments]
    if isinstance(node, SayNode):
        return [((node.kind,), node.value)]
    if isinstance(node, HttpNode):
        return [*((("query", name), expression) for name, expression in node.query),
                *((("body", name), expression) for name, expression in node.body)]
    return []


def reachable_nodes(flow: Flow) -> set[str]:
    """Node ids a caller can reach from the start node."""
    return _reachable(flow.start, {node_id: [target for _, target in node_exits(node)]
                                   for node_id, node in flow.nodes.items()})


def check_flow_references(flows: Mapping[str, Flow]) -> dict[str, list[Problem]]:
    """What is wrong between flows (by flow id): subflow/goto to a flow that is not there, goto into a subflow,
    and subflows that call themselves again (a call would recurse without end)."""
    problems: dict[str, list[Problem]] = {}
    calls: dict[str, list[tuple[str, str]]] = {}  # flow id -> [(node id, subflow id)]
    for flow_id, flow in flows.items():
        for node_id, node in flow.nodes.items():
            if not isinstance(node, (SubflowNode, GotoNode)):
                continue
            path = ("nodes", node_id, "flow")
            target = flows.get(node.flow)
            if target is None:
                problems.setdefault(flow_id, []).append(Problem(path, f"unknown flow '{node.flow}'"))
            elif isinstance(node, GotoNode) and _returns(target):
                problems.setdefault(flow_id, []).append(Problem(
                    path, f"flow '{node.flow}' is a subflow (it has return nodes): use a subflow node to call it"))
            elif isinstance(node, SubflowNode):
                calls.setdefault(flow_id, []).append((node_id, node.flow))
    for flow_id, cycle_node, cycle in _subflow_cycles(calls):
        problems.setdefault(flow_id, []).append(Problem(
            ("nodes", cycle_node, "flow"), "subflows call each other without end: " + " -> ".join(cycle)))
    return problems


def _returns(flow: Flow) -> bool:
    return any(isinstance(node, ReturnNode) for node in flow.nodes.values())


def _subflow_cycles(calls: Mapping[str, list[tuple[str, str]]]) -> list[tuple[str, str, list[str]]]:
    """Each subflow call that closes a cycle: (calling flow, its node, the cycle of flow ids)."""
    found: list[tuple[str, str, list[str]]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(flow_id: str, trail: list[str]) -> None:
        state[flow_id] = 1
        for node_id, target in calls.get(flow_id, []):
            if state.get(target) == 1:
                found.append((flow_id, node_id, trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[flow_id] = 2

    for flow_id in sorted(calls):
        if flow_id not in state:
            visit(flow_id, [flow_id])
    return found


# ---------------------------------------------------------------- validation

_Path = tuple[Union[str, int], ...]
_TOP_KEYS = {"id": True, "numbers": False, "start": True, "nodes": True, "description": False, "language": False,
             "languages": False, "timezone": False, "allow": False, "schedules": False,
             "tests": False}  # tests: flow test cases, read by the flow test runner, not by the engine
_COMMON = {"type": True, "description": False}
_NODE_KEYS: dict[str, dict[str, bool]] = {
    "play": {**_COMMON, "prompts": True, "next": True},
    "menu": {**_COMMON, "prompts": True, "options": True, "timeout_s": True, "max_attempts": True,
             "no_input_prompts": False, "invalid_prompts": False, "exhausted": True},
    "input": {**_COMMON, "prompts": True, "variable": True, "min_digits": False, "max_digits": True,
              "terminator": False, "timeout_s": False, "inter_digit_timeout_s": False, "max_attempts": False,
              "pattern": False, "secure": False, "no_input_prompts": False, "invalid_prompts": False,
              "next": True, "exhausted": True},
    "say": {**_COMMON, "number": False, "digits": False, "next": True, "error": False},
    "set": {**_COMMON, "assign": True, "next": True, "error": False},
    "branch": {**_COMMON, "cases": True, "default": True, "error": False},
    "hours": {**_COMMON, "schedule": True, "open": True, "closed": True, "holiday": False},
    "language": {**_COMMON, "language": True, "next": True},
    "transfer": {**_COMMON, "extension": False, "number": False, "ring_timeout_s": False, "answered": False,
                 "failed": True},
    "survey": {**_COMMON, "questions": True, "timeout_s": False, "next": True},
    "http": {**_COMMON, "method": False, "url": True, "query": False, "body": False, "timeout_s": False,
             "result": False, "ok": True, "error": True, "timeout": True},
    "hangup": {**_COMMON, "prompts": False},
    "queue": {**_COMMON, "queue": True, "skills": False, "priority": False, "max_wait_s": True, "announce": False,
              "exit_keys": False, "callback": False, "answered": False, "timeout": True, "no_agents": True},
    "voicemail": {**_COMMON, "mailbox": True, "greeting": False, "next": True, "failed": True},
    "subflow": {**_COMMON, "flow": True, "next": True},
    "goto": {**_COMMON, "flow": True},
    "return": {**_COMMON},
}


class DocumentChecker:
    """Collects every problem of a YAML document (flows, flow tests), each located by its path."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, path: _Path, message: str) -> None:
        self.problems.append(Problem(path, message))

    def warning(self, path: _Path, message: str) -> None:
        self.problems.append(Problem(path, message, "warning"))

    def keys(self, mapping: Mapping[str, Any], spec: Mapping[str, bool], path: _Path) -> bool:
        """Unknown keys and missing required ones are errors; True when there was none."""
        before = len(self.problems)
        for key in mapping:
            if key not in spec:
                self.error((*path, key), f"unknown key '{key}' (allowed: {', '.join(sorted(spec))})")
        for key, required in spec.items():
            if required and key not in mapping:
                self.error(path, f"missing required key '{key}'")
        return len(self.problems) == before


class _Checker(DocumentChecker):
    """The flow checker: also remembers every exit, for the graph pass."""

    def __init__(self) -> None:
        super().__init__()
        self.exits: list[tuple[_Path, str]] = []

    def prompts(self, value: Any, path: _Path) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.error(path, "must be a list of sound names")
            return ()
        for index, item in enumerate(value):
            if not is_sound_name(item):
                self.error((*path, index), f"'{item}' is not a sound name (letters, digits, _ - and / only)")
        return tuple(str(item) for item in value)

    def exit(self, raw: Mapping[str, Any], key: str, path: _Path, required: bool = True) -> str:
        """A node reference; remembered so the graph pass can check it exists."""
        value = raw.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value:
            if key in raw or required:
                self.error((*path, key), "must name a node")
            return ""
        self.exits.append(((*path, key), value))
        return value

    def number(self, raw: Mapping[str, Any], key: str, path: _Path, low: float, high: float, default: float,
               whole: bool = False) -> float:
        value = raw.get(key, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
        if ok and whole and not isinstance(value, int):
            ok = False
        if not ok:
            kind = "a whole number" if whole else "a number"
            self.error((*path, key), f"must be {kind} between {low:g} and {high:g}")
            return default
        return value

    def variable(self, raw: Mapping[str, Any], key: str, path: _Path) -> str:
        value = raw.get(key)
        if not (isinstance(value, str) and IDENTIFIER.match(value)):
            self.error((*path, key), "must be a variable name (lowercase letters, digits, _ and -)")
            return "invalid"
        return value

    def expression(self, value: Any, path: _Path) -> Expression | None:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.error(path, "must be an expression (text)")
            return None
        try:
            return parse(str(value) if not isinstance(value, str) else value)
        except ExpressionError as exc:
            self.error(path, f"expression: {exc}")
            return None


def build_flow(data: Any, *, source: str, version: str) -> tuple[Flow | None, list[Problem]]:
    """Validate a parsed flow document; return the Flow (None if any error) and every problem found."""
    check = _Checker()
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
    context = _Context(languages=languages, allow=allow, schedules=schedules)

    raw_nodes = data.get("nodes", {})
    if not isinstance(raw_nodes, Mapping) or not raw_nodes:
        check.error(("nodes",), "must be a mapping of node id to node")
        raw_nodes = {}
    nodes: dict[str, Node] = {}
    node_exit_refs: dict[str, list[str]] = {}
    for node_id, raw in raw_nodes.items():
        path: _Path = ("nodes", node_id)
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
        reachable = _reachable(start, node_exit_refs)
        for node_id in raw_nodes:
            if node_id not in reachable:
                check.warning(("nodes", node_id), f"node '{node_id}' is unreachable from start '{start}'")
        _check_silent_loops(check, nodes)

    _check_queue_names(check, nodes, allow)
    returns = [node_id for node_id, node in nodes.items() if isinstance(node, ReturnNode)]
    if returns and numbers:
        check.error(("numbers",), f"a flow with return nodes ({', '.join(returns)}) is a subflow: it cannot answer "
                                  "numbers, since a caller reaching 'return' would have no flow to go back to")

    if any(p.severity == "error" for p in check.problems):
        return None, check.problems
    flow = Flow(id=str(flow_id), version=version, source=source, numbers=tuple(numbers), start=str(start),
                nodes=MappingProxyType(nodes), language=language, languages=languages, timezone=timezone,
                allow=allow)
    return flow, check.problems


@dataclass(frozen=True)
class _Context:
    languages: tuple[str, ...]
    allow: Allow
    schedules: Mapping[str, Schedule]


def _languages(check: _Checker, data: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
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


def _timezone(check: _Checker, value: Any, path: _Path) -> str:
    try:
        if not isinstance(value, str):
            raise ZoneInfoNotFoundError(value)
        ZoneInfo(value)
        return value
    except (ZoneInfoNotFoundError, ValueError):
        check.error(path, f"unknown timezone {value!r} (an IANA name such as Europe/Paris)")
        return "UTC"


def _allow(check: _Checker, raw: Any) -> Allow:
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
        if not (isinstance(base, str) and _HTTP_BASE.match(base)):
            check.error(("allow", "http", index), f"{base!r} is not a base URL (http(s)://host[:port]/path/ "
                                                  "ending with /)")
    found: dict[str, Any] = {"http": tuple(b for b in bases if isinstance(b, str) and _HTTP_BASE.match(b))}
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


def _schedules(check: _Checker, raw: Any, default_timezone: str) -> dict[str, Schedule]:
    if not isinstance(raw, Mapping):
        check.error(("schedules",), "must map schedule names to schedules")
        return {}
    schedules = {}
    for name, spec in raw.items():
        path: _Path = ("schedules", name)
        if not isinstance(spec, Mapping):
            check.error(path, "a schedule needs weekly hours")
            continue
        check.keys(spec, {"timezone": False, "weekly": True, "holidays": False}, path)
        timezone = _timezone(check, spec.get("timezone", default_timezone), (*path, "timezone"))
        weekly: dict[int, tuple[tuple[int, int], ...]] = {}
        raw_weekly = spec.get("weekly", {})
        if not isinstance(raw_weekly, Mapping):
            check.error((*path, "weekly"), "must map weekdays (mon..sun) to lists of HH:MM-HH:MM")
            raw_weekly = {}
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


_HTTP_BASE = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/([A-Za-z0-9._~/-]*/)?\Z")
_HTTP_PATH = re.compile(r"^[A-Za-z0-9._~/-]*\Z")
_JSON_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")

_INTERVAL = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])\Z")


def _intervals(check: _Checker, raw: Any, path: _Path) -> tuple[tuple[int, int], ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        check.error(path, "must be a list of HH:MM-HH:MM")
        return ()
    found = []
    for index, text in enumerate(raw):
        match = _INTERVAL.match(text) if isinstance(text, str) else None
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


_Builder = Callable[[_Checker, str, Mapping[str, Any], _Path, tuple[str, ...], _Context], Union[Node, None]]


def _build_node(check: _Checker, node_id: str, raw: Any, path: _Path, context: _Context) -> Node | None:
    if not isinstance(raw, Mapping):
        check.error(path, "a node must be a mapping with a type")
        return None
    node_type = raw.get("type")
    if not isinstance(node_type, str) or node_type not in _NODE_KEYS:
        check.error((*path, "type"), f"unknown node type {node_type!r} (known: {', '.join(sorted(_NODE_KEYS))})")
        return None
    errors_before = sum(1 for p in check.problems if p.severity == "error")
    check.keys(raw, _NODE_KEYS[node_type], path)
    prompts = check.prompts(raw.get("prompts"), (*path, "prompts"))
    node = _BUILDERS[node_type](check, node_id, raw, path, prompts, context)
    if sum(1 for p in check.problems if p.severity == "error") != errors_before:
        return None
    return node


def _play(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
          context: _Context) -> Node:
    if not prompts and "prompts" in raw:
        check.error((*path, "prompts"), "a play node needs at least one prompt")
    return PlayNode(node_id, prompts, check.exit(raw, "next", path))


def _menu(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
          context: _Context) -> Node:
    options_raw = raw.get("options", {})
    options: dict[str, str] = {}
    if not isinstance(options_raw, Mapping) or not options_raw:
        check.error((*path, "options"), "must map digits to node ids")
        options_raw = {}
    for digit, _target in options_raw.items():
        digit_text = str(digit)
        if len(digit_text) != 1 or digit_text not in DIGITS:
            check.error((*path, "options", digit_text), f"option key {digit!r} must be one digit 0-9, * or #")
            continue
        options[digit_text] = check.exit(options_raw, digit, (*path, "options"))
    if not prompts:
        check.error((*path, "prompts"), "a menu needs a prompt that tells the caller the options")
    return MenuNode(
        id=node_id, prompts=prompts, options=MappingProxyType(options),
        timeout_ms=int(check.number(raw, "timeout_s", path, 0.5, 60, 3) * 1000),
        max_attempts=int(check.number(raw, "max_attempts", path, 1, 10, 1, whole=True)),
        no_input_prompts=check.prompts(raw.get("no_input_prompts"), (*path, "no_input_prompts")),
        invalid_prompts=check.prompts(raw.get("invalid_prompts"), (*path, "invalid_prompts")),
        exhausted=check.exit(raw, "exhausted", path),
    )


def _input(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
           context: _Context) -> Node:
    max_digits = int(check.number(raw, "max_digits", path, 1, 32, 4, whole=True))
    min_digits = int(check.number(raw, "min_digits", path, 1, 32, 1, whole=True))
    if min_digits > max_digits:
        check.error((*path, "min_digits"), "must not be more than max_digits")
    terminator = raw.get("terminator", "#")
    if terminator not in ("#", "*", ""):
        check.error((*path, "terminator"), "must be '#', '*' or '' (none)")
        terminator = "#"
    pattern = None
    if "pattern" in raw:
        text = raw["pattern"]
        try:
            if not isinstance(text, str) or len(text) > 200:
                raise re.error("must be a regular expression of at most 200 characters")
            pattern = re.compile(text)
        except re.error as exc:
            check.error((*path, "pattern"), f"invalid pattern: {exc}")
    secure = raw.get("secure", False)
    if not isinstance(secure, bool):
        check.error((*path, "secure"), "must be true or false")
        secure = True
    if not prompts:
        check.error((*path, "prompts"), "an input needs a prompt that asks for the digits")
    return InputNode(
        id=node_id, prompts=prompts, variable=check.variable(raw, "variable", path), min_digits=min_digits,
        max_digits=max_digits, terminator=str(terminator),
        timeout_ms=int(check.number(raw, "timeout_s", path, 0.5, 60, 5) * 1000),
        inter_digit_timeout_ms=int(check.number(raw, "inter_digit_timeout_s", path, 0.5, 30, 3) * 1000),
        max_attempts=int(check.number(raw, "max_attempts", path, 1, 10, 3, whole=True)), pattern=pattern,
        secure=secure, no_input_prompts=check.prompts(raw.get("no_input_prompts"), (*path, "no_input_prompts")),
        invalid_prompts=check.prompts(raw.get("invalid_prompts"), (*path, "invalid_prompts")),
        next=check.exit(raw, "next", path), exhausted=check.exit(raw, "exhausted", path),
    )


def _say(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
         context: _Context) -> Node:
    kinds = [kind for kind in ("number", "digits") if kind in raw]
    if len(kinds) != 1:
        check.error(path, "a say node needs exactly one of 'number' or 'digits' (an expression)")
        kinds = ["number"]
    value = check.expression(raw.get(kinds[0], "0"), (*path, kinds[0]))
    next_node = check.exit(raw, "next", path)
    return SayNode(node_id, kinds[0], value or parse("0"), next_node,  # type: ignore[arg-type]
                   check.exit(raw, "error", path, required=False) or next_node)


def _set(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
         context: _Context) -> Node:
    assign = raw.get("assign", {})
    assignments = []
    if not isinstance(assign, Mapping) or not assign:
        check.error((*path, "assign"), "must map variable names to expressions")
        assign = {}
    for name, text in assign.items():
        if not (isinstance(name, str) and IDENTIFIER.match(name)):
            check.error((*path, "assign", str(name)), f"{name!r} is not a variable name")
            continue
        expression = check.expression(text, (*path, "assign", name))
        if expression is not None:
            assignments.append((name, expression))
    next_node = check.exit(raw, "next", path)
    return SetNode(node_id, tuple(assignments), next_node, check.exit(raw, "error", path, required=False) or next_node)


def _branch(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
            context: _Context) -> Node:
    raw_cases = raw.get("cases", [])
    cases = []
    if not isinstance(raw_cases, list) or not raw_cases:
        check.error((*path, "cases"), "must be a list of {when: expression, goto: node}")
        raw_cases = []
    for index, case in enumerate(raw_cases):
        case_path = (*path, "cases", index)
        if not isinstance(case, Mapping):
            check.error(case_path, "a case is {when: expression, goto: node}")
            continue
        check.keys(case, {"when": True, "goto": True}, case_path)
        expression = check.expression(case.get("when", ""), (*case_path, "when"))
        target = check.exit(case, "goto", case_path)
        if expression is not None:
            cases.append((expression, target))
    default = check.exit(raw, "default", path)
    return BranchNode(node_id, tuple(cases), default, check.exit(raw, "error", path, required=False) or default)


def _hours(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
           context: _Context) -> Node | None:
    name = raw.get("schedule")
    schedule = context.schedules.get(name) if isinstance(name, str) else None
    if schedule is None:
        known = ", ".join(sorted(context.schedules)) or "none defined"
        check.error((*path, "schedule"), f"unknown schedule {name!r} (schedules: {known})")
    node = HoursNode(node_id, schedule or Schedule("UTC", MappingProxyType({}), frozenset()),
                     check.exit(raw, "open", path), check.exit(raw, "closed", path),
                     check.exit(raw, "holiday", path, required=False) or None)
    return node


def _language(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
              context: _Context) -> Node:
    language = raw.get("language")
    if language not in context.languages:
        check.error((*path, "language"), f"language {language!r} is not in the flow's languages "
                                         f"{list(context.languages)}")
    return LanguageNode(node_id, str(language), check.exit(raw, "next", path))


def _transfer(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
              context: _Context) -> Node:
    kinds = [kind for kind in ("extension", "number") if kind in raw]
    target = ""
    kind = "extension"
    if len(kinds) != 1:
        check.error(path, "a transfer node needs exactly one of 'extension' or 'number'")
    else:
        kind = kinds[0]
        target = raw[kind]
        allowed = context.allow.extensions if kind == "extension" else context.allow.numbers
        if not isinstance(target, str) or target not in allowed:
            check.error((*path, kind), f"{kind} {target!r} is not on the flow's allow list (allow.{kind}s): "
                                       "a flow can only send callers to allow-listed destinations")
    return TransferNode(node_id, kind, str(target),  # type: ignore[arg-type]
                        int(check.number(raw, "ring_timeout_s", path, 5, 120, 30, whole=True)),
                        check.exit(raw, "answered", path, required=False) or None, check.exit(raw, "failed", path))


def _survey(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
            context: _Context) -> Node:
    raw_questions = raw.get("questions", [])
    questions = []
    if not isinstance(raw_questions, list) or not raw_questions:
        check.error((*path, "questions"), "must be a list of {prompts, variable}")
        raw_questions = []
    for index, question in enumerate(raw_questions):
        question_path = (*path, "questions", index)
        if not isinstance(question, Mapping):
            check.error(question_path, "a question is {prompts: [...], variable: name}")
            continue
        check.keys(question, {"prompts": True, "variable": True}, question_path)
        question_prompts = check.prompts(question.get("prompts"), (*question_path, "prompts"))
        if not question_prompts:
            check.error((*question_path, "prompts"), "a question needs a prompt")
        questions.append(SurveyQuestion(question_prompts, check.variable(question, "variable", question_path)))
    return SurveyNode(node_id, tuple(questions), int(check.number(raw, "timeout_s", path, 1, 30, 5) * 1000),
                      check.exit(raw, "next", path))


def _http(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
          context: _Context) -> Node:
    method = raw.get("method", "GET")
    if method not in ("GET", "POST"):
        check.error((*path, "method"), "must be GET or POST")
        method = "GET"
    url = raw.get("url")
    base = next((b for b in context.allow.http if isinstance(url, str) and url.startswith(b)), None)
    if base is None:
        check.error((*path, "url"), f"{url!r} is not under an allow-listed base URL (allow.http): a flow can "
                                    "only call allow-listed services")
    elif not _HTTP_PATH.match(str(url)[len(base):]):
        check.error((*path, "url"), "the path after the base URL may only hold letters, digits and . _ ~ / - "
                                    "(caller data goes in query or body, never in the URL)")
    fields = {}
    for key in ("query", "body"):
        raw_fields = raw.get(key, {})
        if not isinstance(raw_fields, Mapping):
            check.error((*path, key), "must map field names to expressions")
            raw_fields = {}
        parsed = []
        for name, text in raw_fields.items():
            if not (isinstance(name, str) and _JSON_PATH.match(name) and "." not in name):
                check.error((*path, key, str(name)), f"{name!r} is not a field name")
                continue
            expression = check.expression(text, (*path, key, name))
            if expression is not None:
                parsed.append((name, expression))
        fields[key] = tuple(parsed)
    if fields["body"] and method != "POST":
        check.error((*path, "body"), "a body needs method: POST")
    raw_result = raw.get("result", {})
    result = []
    if not isinstance(raw_result, Mapping):
        check.error((*path, "result"), "must map variable names to paths in the JSON answer (customer.tier)")
        raw_result = {}
    for name, json_path in raw_result.items():
        if not (isinstance(name, str) and IDENTIFIER.match(name)):
            check.error((*path, "result", str(name)), f"{name!r} is not a variable name")
        elif not (isinstance(json_path, str) and _JSON_PATH.match(json_path)):
            check.error((*path, "result", name), f"{json_path!r} is not a path into the answer (a.b.c)")
        else:
            result.append((name, tuple(json_path.split("."))))
    return HttpNode(node_id, method, str(url), fields["query"], fields["body"],  # type: ignore[arg-type]
                    check.number(raw, "timeout_s", path, 0.1, 10, 2), tuple(result), check.exit(raw, "ok", path),
                    check.exit(raw, "error", path), check.exit(raw, "timeout", path))


def _hangup(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
            context: _Context) -> Node:
    return HangupNode(node_id, prompts)


def _queue(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
           context: _Context) -> Node:
    queue = raw.get("queue")
    if not isinstance(queue, str) or queue not in context.allow.queues:
        check.error((*path, "queue"), f"queue {queue!r} is not on the flow's allow list (allow.queues)")
    raw_skills = raw.get("skills", {})
    skills: dict[str, int] = {}
    if not isinstance(raw_skills, Mapping):
        check.error((*path, "skills"), "must map skill names to minimum levels (1-10)")
        raw_skills = {}
    for skill, level in raw_skills.items():
        if not (isinstance(skill, str) and IDENTIFIER.match(skill)):
            check.error((*path, "skills", str(skill)), f"{skill!r} is not a skill name (a lowercase identifier)")
        elif isinstance(level, bool) or not isinstance(level, int) or level not in SKILL_LEVELS:
            check.error((*path, "skills", skill), "must be a minimum level, a whole number from 1 to 10")
        else:
            skills[skill] = level
    priority = int(check.number(raw, "priority", path, 0, 9, 0, whole=True)) if "priority" in raw else None
    announcements = _announcements(check, raw.get("announce", {}), (*path, "announce"))
    raw_keys = raw.get("exit_keys", {})
    exit_keys: dict[str, str] = {}
    if not isinstance(raw_keys, Mapping):
        check.error((*path, "exit_keys"), 'must map keys to nodes, e.g. {"1": leave_message}')
        raw_keys = {}
    for digit in raw_keys:
        if not (isinstance(digit, str) and digit in DIGITS):
            check.error((*path, "exit_keys", str(digit)), f"{digit!r} is not a key (one of 0-9 * #, quoted)")
            continue
        exit_keys[digit] = check.exit(raw_keys, digit, (*path, "exit_keys"))
    callback = _callback(check, raw["callback"], (*path, "callback"), context, exit_keys) if "callback" in raw \
        else None
    return QueueNode(node_id, str(queue), MappingProxyType(skills), priority,
                     int(check.number(raw, "max_wait_s", path, 5, 7200, 300, whole=True)), announcements,
                     MappingProxyType(exit_keys), check.exit(raw, "answered", path, required=False) or None,
                     check.exit(raw, "timeout", path), check.exit(raw, "no_agents", path), callback)


_CALLBACK_PATTERN = re.compile(r"^[0-9+\[\]{}(),|?\\d-]{1,200}\Z")  # digits and the regex syntax numbers need


def _callback(check: _Checker, raw: Any, path: _Path, context: _Context,
              exit_keys: Mapping[str, str]) -> CallbackOption | None:
    if not isinstance(raw, Mapping):
        check.error(path, "must be a mapping: key, numbers, schedule (optional), next")
        return None
    check.keys(raw, {"key": True, "numbers": True, "schedule": False, "next": True}, path)
    key = raw.get("key")
    if not (isinstance(key, str) and key in DIGITS):
        check.error((*path, "key"), f"{key!r} is not a key (one of 0-9 * #, quoted)")
    elif key in exit_keys:
        check.error((*path, "key"), f"key {key} is already an exit key of this queue node")
    numbers = raw.get("numbers")
    pattern = None
    if not (isinstance(numbers, str) and _CALLBACK_PATTERN.match(numbers)):
        check.error((*path, "numbers"), "must be a pattern of the numbers that may be called back, made of digits "
                                        "and [] {} () | ? \\d - + , e.g. \"0[1-9][0-9]{8}\"")
    else:
        try:
            pattern = re.compile(numbers)
        except re.error as exc:
            check.error((*path, "numbers"), f"not a valid pattern: {exc}")
        else:
            if pattern.fullmatch(""):
                check.error((*path, "numbers"), "must not match an empty number")
    schedule = None
    if "schedule" in raw:
        schedule = context.schedules.get(raw["schedule"]) if isinstance(raw["schedule"], str) else None
        if schedule is None:
            check.error((*path, "schedule"), f"unknown schedule {raw['schedule']!r}")
    target = check.exit(raw, "next", path)
    if pattern is None or not isinstance(key, str):
        return None
    return CallbackOption(key, pattern, schedule, target)


def _announcements(check: _Checker, raw: Any, path: _Path) -> QueueAnnouncements:
    if not isinstance(raw, Mapping):
        check.error(path, "must be a mapping: position, estimated_wait, every_s, prompts")
        return QueueAnnouncements()
    check.keys(raw, {"position": False, "estimated_wait": False, "every_s": False, "prompts": False}, path)
    flags = {}
    for key in ("position", "estimated_wait"):
        flags[key] = raw.get(key, False)
        if not isinstance(flags[key], bool):
            check.error((*path, key), "must be true or false")
    return QueueAnnouncements(flags["position"] is True, flags["estimated_wait"] is True,
                              int(check.number(raw, "every_s", path, 15, 600, 60, whole=True)),
                              check.prompts(raw.get("prompts"), (*path, "prompts")))


def _voicemail(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
               context: _Context) -> Node:
    mailbox = raw.get("mailbox")
    if not isinstance(mailbox, str) or mailbox not in context.allow.mailboxes:
        check.error((*path, "mailbox"), f"mailbox {mailbox!r} is not on the flow's allow list (allow.mailboxes)")
    greeting = raw.get("greeting", "unavailable")
    if greeting not in ("unavailable", "busy", "none"):
        check.error((*path, "greeting"), "must be unavailable, busy or none")
        greeting = "unavailable"
    return VoicemailNode(node_id, str(mailbox), greeting, check.exit(raw, "next", path),
                         check.exit(raw, "failed", path))


def _flow_reference(check: _Checker, raw: Mapping[str, Any], path: _Path) -> str:
    target = raw.get("flow")
    if not (isinstance(target, str) and IDENTIFIER.match(target)):
        check.error((*path, "flow"), "must be the id of another flow")
        return ""
    return target


def _subflow(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
             context: _Context) -> Node:
    return SubflowNode(node_id, _flow_reference(check, raw, path), check.exit(raw, "next", path))


def _goto(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
          context: _Context) -> Node:
    return GotoNode(node_id, _flow_reference(check, raw, path))


def _return(check: _Checker, node_id: str, raw: Mapping[str, Any], path: _Path, prompts: tuple[str, ...],
            context: _Context) -> Node:
    return ReturnNode(node_id)


_BUILDERS: dict[str, _Builder] = {
    "play": _play, "menu": _menu, "input": _input, "say": _say, "set": _set, "branch": _branch, "hours": _hours,
    "language": _language, "transfer": _transfer, "survey": _survey, "http": _http, "hangup": _hangup,
    "queue": _queue, "voicemail": _voicemail, "subflow": _subflow, "goto": _goto, "return": _return,
}
# Nodes that run without the caller (no prompt, no wait): a cycle made only of these never ends.
_SILENT = (SetNode, BranchNode, HoursNode, LanguageNode)


def _check_queue_names(check: _Checker, nodes: Mapping[str, Node], allow: Allow) -> None:
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


def _reachable(start: str, exits: Mapping[str, list[str]]) -> set[str]:
    """Breadth of a graph given as node -> exit targets (targets that are not nodes are not followed)."""
    seen = {start}
    pending = [start]
    while pending:
        for target in exits.get(pending.pop(), []):
            if target and target in exits and target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def _check_silent_loops(check: _Checker, nodes: Mapping[str, Node]) -> None:
    """A cycle through set/branch/hours/language nodes alone would spin without the caller: reject it."""
    silent = {node_id: node for node_id, node in nodes.items() if isinstance(node, _SILENT)}
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


# ---------------------------------------------------------------- engine


@dataclass(frozen=True)
class Play:
    """Play prompts to the end (no barge-in)."""

    prompts: tuple[str, ...]


@dataclass(frozen=True)
class CollectDigit:
    """Play prompts with barge-in on any digit, then wait up to timeout_ms for one digit."""

    prompts: tuple[str, ...]
    timeout_ms: int


@dataclass(frozen=True)
class CollectDigits:
    """Play prompts with barge-in, then collect up to max_digits (ended early by the terminator)."""

    prompts: tuple[str, ...]
    max_digits: int
    timeout_ms: int
    inter_digit_timeout_ms: int
    terminator: str
    secure: bool


@dataclass(frozen=True)
class Say:
    kind: Literal["number", "digits"]
    value: str


@dataclass(frozen=True)
class SetLanguage:
    language: str


@dataclass(frozen=True)
class Transfer:
    kind: Literal["extension", "number"]
    target: str
    ring_timeout_s: int


@dataclass(frozen=True)
class HttpRequest:
    """A request the service makes for the flow; query/body values are already evaluated text or numbers."""

    method: Literal["GET", "POST"]
    url: str
    query: tuple[tuple[str, str], ...]
    body: Mapping[str, object] | None
    timeout_s: float


@dataclass(frozen=True)
class PlayAndHangUp:
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class Enqueue:
    """Put the caller in a queue until an agent answers, max_wait_s passes, nobody can answer or a key leaves."""

    queue: str
    skills: Mapping[str, int]
    priority: int | None
    max_wait_s: int
    announcements: QueueAnnouncements
    exit_keys: frozenset[str]
    callback: Callback | None = None  # offered only while its schedule is open (decided on entering the node)


@dataclass(frozen=True)
class Callback:
    """The callback key of a queue wait and the numbers that may be called back."""

    key: str
    numbers: re.Pattern[str]


@dataclass(frozen=True)
class LeaveVoicemail:
    mailbox: str
    greeting: Literal["unavailable", "busy", "none"]


Effect = Union[Play, CollectDigit, CollectDigits, Say, SetLanguage, Transfer, HttpRequest, PlayAndHangUp, Enqueue,
               LeaveVoicemail]


@dataclass(frozen=True)
class Done:
    """The effect completed (prompts played, hangup performed)."""


@dataclass(frozen=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True)
class DigitsEntered:
    digits: str


@dataclass(frozen=True)
class NoInput:
    """The caller pressed nothing before the timeout."""


@dataclass(frozen=True)
class TransferEnded:
    """Dial() finished: ANSWER (the transferred call took place), or BUSY, NOANSWER, CHANUNAVAIL, ..."""

    status: str


@dataclass(frozen=True)
class HttpAnswered:
    status: int
    body: object  # the decoded JSON answer (None when it was not JSON)


@dataclass(frozen=True)
class HttpFailed:
    reason: Literal["timeout", "error"]


@dataclass(frozen=True)
class QueueLeft:
    """How the caller left the queue; `digit` is the key pressed for exited_by_key. `caller_hung_up`: answered,
    and the caller ended the conversation (hung up first), so the walk ends there: no exit is taken."""

    result: Literal["answered", "timeout", "no_agents", "exited_by_key", "callback_requested"]
    digit: str | None = None
    caller_hung_up: bool = False


@dataclass(frozen=True)
class VoicemailEnded:
    """VoiceMail() finished: VMSTATUS SUCCESS (message left), USEREXIT (caller left with a key) or FAILED."""

    status: str


Outcome = Union[Done, DigitPressed, DigitsEntered, NoInput, TransferEnded, HttpAnswered, HttpFailed, QueueLeft,
                VoicemailEnded]

PathResult = str  # played, digit, input, invalid, no_input, exhausted, said, set, open, closed, holiday, ...


@dataclass(frozen=True)
class PathStep:
    node: str
    result: PathResult
    at: datetime
    digit: str | None = None
    flow: str | None = None  # the subflow (or goto target) the node belongs to; None: the call's own flow

    def as_dict(self) -> dict[str, str]:
        entry = {"node": self.node, "result": self.result, "at": self.at.isoformat()}
        if self.digit is not None:
            entry["digit"] = self.digit
        if self.flow is not None:
            entry["flow"] = self.flow
        return entry


@dataclass(frozen=True)
class IvrState:
    node_id: str
    attempts: int = 0
    path: tuple[PathStep, ...] = ()
    finished: bool = False
    end: PathResult | None = None
    variables: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    secure_variables: frozenset[str] = frozenset()
    language: str = "en"
    facts: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    question: int = 0  # survey: the question being asked
    flow_id: str | None = None  # the flow the caller is in, when not the call's own (subflow, goto)
    returns: tuple[tuple[str | None, str], ...] = ()  # subflow calls: (calling flow id, node to go back to)

    def public_variables(self) -> dict[str, object]:
        """Variables safe to store and show: every secure one is left out."""
        return {k: v for k, v in self.variables.items() if k not in self.secure_variables}


@dataclass(frozen=True)
class Step:
    state: IvrState
    effect: Effect | None = field(default=None)


class FlowError(RuntimeError):
    """The engine was asked to do something the flow does not allow (a bug, not caller input)."""


@dataclass(frozen=True)
class QueueStatus:
    """A queue as a branch condition sees it: queue.<id>.agents_available, .callers_waiting, .estimated_wait_s."""

    agents_available: int
    callers_waiting: int
    estimated_wait_s: int


QUEUE_STATUS_FIELDS = ("agents_available", "callers_waiting", "estimated_wait_s")


def start(flow: Flow, now: datetime, facts: Mapping[str, object] | None = None,
          library: Mapping[str, Flow] | None = None, queues: Mapping[str, QueueStatus] | None = None) -> Step:
    """Enter the flow's start node. `facts` are what expressions may read: caller.number, call.dialed, ...

    `library`: the flows a subflow or goto node may reach, by id (the catalog as it was when the call began,
    so a call finishes on the versions it started with). Pass the same one to every `advance`.
    `queues`: the queues' status now, by queue id, for branch conditions (absent: reading it is an error).
    """
    state = IvrState(flow.start, language=flow.language, facts=MappingProxyType(dict(facts or {})))
    return _enter(_Walk(flow, library or {}, queues or {}), flow.start, state, now)


def advance(flow: Flow, state: IvrState, outcome: Outcome, now: datetime,
            library: Mapping[str, Flow] | None = None, queues: Mapping[str, QueueStatus] | None = None) -> Step:
    """Apply what happened on the channel to the current node and return the next effect."""
    if state.finished:
        raise FlowError("the flow already finished")
    if len(state.path) >= MAX_STEPS_PER_CALL:
        return finish(state, "step_limit", now)
    walk = _Walk(flow, library or {}, queues or {})
    node = walk.flow(state).nodes[state.node_id]
    handler = _ADVANCE.get(type(node))
    if handler is None:
        raise FlowError(f"node '{node.id}' takes no outcome")
    return handler(walk, node, state, outcome, now)


def finish(state: IvrState, result: PathResult, now: datetime) -> Step:
    """End the walk early (caller hung up, service error or shutdown), noting where it stopped."""
    path = (*state.path, PathStep(state.node_id, result, now, flow=state.flow_id))
    return Step(replace(state, path=path, finished=True, end=result))


class _QueueNames(Mapping[str, object]):
    """queue.<id>.<field> read from the queues' status only when an expression reads it (a live status may
    cost a computation: nothing is asked for names no condition uses)."""

    def __init__(self, queues: Mapping[str, QueueStatus]) -> None:
        self._queues = queues

    def __getitem__(self, name: str) -> object:
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "queue" or parts[2] not in QUEUE_STATUS_FIELDS:
            raise KeyError(name)
        return getattr(self._queues[parts[1]], parts[2])  # KeyError: no status for that queue

    def __contains__(self, name: object) -> bool:
        try:
            self[str(name)]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return (f"queue.{queue_id}.{field}" for queue_id in self._queues for field in QUEUE_STATUS_FIELDS)

    def __len__(self) -> int:
        return len(self._queues) * len(QUEUE_STATUS_FIELDS)


def expression_env(flow: Flow, state: IvrState, now: datetime,
                   queues: Mapping[str, QueueStatus] | None = None) -> Mapping[str, object]:
    """What an expression can read: caller facts, call.language, time.* in the flow's timezone, vars.*,
    queue.<id>.* (the queues' status, read when an expression reads it)."""
    local = now.astimezone(ZoneInfo(flow.timezone))
    env: dict[str, object] = dict(state.facts)
    env.update({
        "call.language": state.language, "time.hour": local.hour, "time.minute": local.minute,
        "time.weekday": WEEKDAYS[local.weekday()], "time.date": local.date().isoformat(),
        "time.hhmm": local.strftime("%H:%M"),
    })
    env.update({f"vars.{name}": value for name, value in state.variables.items()})
    return ChainMap(env, _QueueNames(queues)) if queues else env


@dataclass(frozen=True)
class _Walk:
    """The call's own flow and the flows its subflow/goto nodes can reach."""

    entry: Flow
    library: Mapping[str, Flow]
    queues: Mapping[str, QueueStatus]

    def flow(self, state: IvrState) -> Flow:
        return self.entry if state.flow_id is None else self.library[state.flow_id]


def _step(state: IvrState, node: Node, result: PathResult, now: datetime, digit: str | None = None,
          **changes: Any) -> IvrState:
    return replace(state, path=(*state.path, PathStep(node.id, result, now, digit, state.flow_id)), **changes)


def _advance_play(walk: _Walk, node: PlayNode, state: IvrState, outcome: Outcome, now: datetime) -> Step:
    _expect(outcome, Done, node)
    return _enter(walk, node.next, _step(state, node, "played", now), now)


def _advance_hangup(walk: _Walk, node: HangupNode, state: IvrState, outcome: Outcome, now: datetime) -> Step:
    _expect(outcome, Done, node)
    return Step(replace(_step(state, node, "hangup", now), finished=True, end="hangup"))


def _advance_menu(walk: _Walk, node: MenuNode, state: IvrState, outcome: Outcome, now: datetime) -> Step:
    if isinstance(outcome, DigitPressed):
        target = node.options.get(outcome.digit)
        if target is not None:
            return _enter(walk, target, _step(state, node, "digit", now, outcome.digit), now)
        retry = _step(state, node, "invalid", now, outcome.digit)
        return _retry(walk, node, retry, node.invalid_prompts, node.max_attempts, node.exhausted, now,
                      lambda apology: CollectDigit(apology + node.prompts, node.timeout_ms))
    _expect(outcome, NoInput, node)
    return _retry(walk, node, _step(state, node, "no_input", now), node.no_input_prompts, node.max_attempts,
                  node.exhausted, now, lambda apology: CollectDigit(apology + node.prompts, node.timeout_ms))


def _collect_digits(node: InputNode, apology: tuple[str, ...] = ()) -> CollectDigits:
    return CollectDigits(apology + node.prompts, node.max_digits, node.timeout_ms, node.inter_digit_timeout_ms,
                         node.terminator, node.secure)


def _advance_input(walk: _Walk, node: InputNode, state: IvrState, outcome: Outcome, now: datetime) -> Step:
    if isinstance(outcome, DigitsEntered):
        digits = outcome.digits
        shown = None if node.secure else digits
        valid = (node.min_digits <= len(digits) <= node.max_digits and all(d in DIGITS for d in digits)
                 and (node.pattern is None or node.pattern.fullmatch(digits) is not None))
        if valid:
            variables = MappingProxyType({**state.variables, node.variable: digits})
            secure = state.secure_variables | {node.variable} if node.secure else state.secure_variables
            done = _step(state, node, "input", now, shown, variables=variables, secure_variables=secure)
            return _enter(walk, node.next, done, now)
        retry = _step(state, node, "invalid", now, shown)
        return _retry(walk, node, retry, node.invalid_prompts, node.max_attempts, node.exhausted, now,
                      lambda apology: _collect_digits(node, apology))
    _expect(outcome, NoInput, node)
    return _retry(walk, node, _step(state, node, "no_input", now), node.no_input_prompts, node.max_attempts,
                  node.exhausted, now, lambda apology: _collect_digits(node, apology))


def _advance_done_then_next(result: PathResult) -> Callable[..., Step]:
    def advance_node(walk: _Walk, node: Any, state: IvrState, outcome: Outcome, now: datetime) -> Step:
        _expect(outcome, Done, node)
        return _enter(walk, node.next, _step(state, node, result, now), now)
    return advance_node


def _advance_transfer(walk: _Walk, node: TransferNode, state: IvrState, outcome: Outcome, now: datetime) -> Step:
    _expect(outcome, TransferEnded, node)
    assert isinstance(outcome, TransferEnded)
    if outcome.status == "ANSWER":  # the caller talked to the destination, who then hung up
        done = _step(state, node, "transferred", now)
        if node.answered:
            return _enter(walk, node.answered, done, now)
        return Step(replace(done, finished=True, end="transferred"))
    return _enter(walk, node.failed, _step(state, node, "transfer_failed", now, outcome.status.lower()), now)


def _advance_survey(walk: _Walk, node: SurveyNode, state: IvrState, outcome: Outcome, now: datetime) -> Step:
    question = node.questions[state.question]
    if isinstance(outcome, DigitPressed) and outcome.digit in SURVEY_SCORES:
        variables = MappingProxyType({**state.variables, question.variable: int(outcome.digit)})
        state = _step(state, node, "score", now, outcome.digit, variables=variables)
    else:
        state = _step(state, node, "no_score", now)  # unanswered or out of range: the question is skipped
    if state.question + 1 < len(node.questions):
        following = node.questions[state.question + 1]
        return Step(replace(state, question=state.question + 1), CollectDigit(following.prompts, node.timeout_ms))
    return _enter(walk, node.next, replace(state, question=0), now)


def _advance_http(walk: _Walk, node: HttpNode, state: IvrState, outcome: Outcome, now: datetime) -> Step:
    if isinstance(outcome, HttpFailed):
        target = node.timeout if outcome.reason == "timeout" else node.error
        return _enter(walk, target, _step(state, node, outcome.reason, now), now)
    _expect(outcome, HttpAnswered, node)
    assert isinstance(outcome, HttpAnswered)
    if not 200 <= outcome.status < 300:
        return _enter(walk, node.error, _step(state, node, "error", now, str(outcome.status)), now)
    variables = dict(state.variables)
    for name, json_path in node.result:
        value: object = outcome.body
        for key in json_path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None or isinstance(value, (dict, list)):
            return _enter(walk, node.error, _step(state, node, "error", now, "answer"), now)
        variables[name] = value
    return _enter(walk, node.ok, _step(state, node, "ok", now, variables=MappingProxyType(variables)), now)


def _advance_queue(walk: _Walk, node: QueueNode, state: IvrState, outcome: Outcome, now: datetime) -> Step:
    _expect(outcome, QueueLeft, node)
    assert isinstance(outcome, QueueLeft)
    if outcome.result == "answered":
        done = _step(state, node, "answered", now)
        if node.answered and not outcome.caller_hung_up:
            return _enter(walk, node.answered, done, now)
        return Step(replace(done, finished=True, end="answered"))
    if outcome.result == "callback_requested":
        if node.callback is None:
            raise FlowError(f"queue node '{node.id}' offers no callback")
        return _enter(walk, node.callback.next, _step(state, node, "callback_requested", now), now)
    if outcome.result == "exited_by_key":
        target = node.exit_keys.get(outcome.digit or "")
        if target is None:
            raise FlowError(f"queue node '{node.id}' has no exit key {outcome.digit!r}")
        return _enter(walk, target, _step(state, node, "exited_by_key", now, outcome.digit), now)
    target = node.timeout if outcome.result == "timeout" else node.no_agents
    return _enter(walk, target, _step(state, node, outcome.result, now), now)


def _advance_voicemail(walk: _Walk, node: VoicemailNode, state: IvrState, outcome: Outcome, now: datetime) -> Step:
    _expect(outcome, VoicemailEnded, node)
    assert isinstance(outcome, VoicemailEnded)
    if outcome.status in ("SUCCESS", "USEREXIT"):
        return _enter(walk, node.next, _step(state, node, "message_left" if outcome.status == "SUCCESS"
                                                           else "left_mailbox", now), now)
    return _enter(walk, node.failed, _step(state, node, "voicemail_failed", now, outcome.status.lower()), now)


_ADVANCE: dict[type, Callable[..., Step]] = {
    PlayNode: _advance_play, HangupNode: _advance_hangup, MenuNode: _advance_menu, InputNode: _advance_input,
    SayNode: _advance_done_then_next("said"), LanguageNode: _advance_done_then_next("language"),
    TransferNode: _advance_transfer, SurveyNode: _advance_survey, HttpNode: _advance_http,
    QueueNode: _advance_queue, VoicemailNode: _advance_voicemail,
}


def _retry(walk: _Walk, node: Node, state: IvrState, apology: tuple[str, ...], max_attempts: int, exhausted: str,
           now: datetime, effect: Callable[[tuple[str, ...]], Effect]) -> Step:
    attempts = state.attempts + 1
    if attempts >= max_attempts:
        return _enter(walk, exhausted, _step(state, node, "exhausted", now), now)
    return Step(replace(state, attempts=attempts), effect(apology))


def _enter(walk: _Walk, node_id: str, state: IvrState, now: datetime) -> Step:
    """Enter a node; nodes that need no caller (set, branch, hours, subflow moves) are resolved here, in a loop."""
    for _ in range(MAX_STEPS_PER_CALL):
        if len(state.path) >= MAX_STEPS_PER_CALL:
            return finish(replace(state, node_id=node_id), "step_limit", now)
        flow = walk.flow(state)
        node = flow.nodes[node_id]
        state = replace(state, node_id=node_id, attempts=0)
        if isinstance(node, PlayNode):
            return Step(state, Play(node.prompts))
        if isinstance(node, MenuNode):
            return Step(state, CollectDigit(node.prompts, node.timeout_ms))
        if isinstance(node, InputNode):
            return Step(state, _collect_digits(node))
        if isinstance(node, HangupNode):
            return Step(state, PlayAndHangUp(node.prompts))
        if isinstance(node, LanguageNode):
            return Step(replace(state, language=node.language), SetLanguage(node.language))
        if isinstance(node, TransferNode):
            return Step(state, Transfer(node.kind, node.target, node.ring_timeout_s))
        if isinstance(node, SurveyNode):
            return Step(replace(state, question=0), CollectDigit(node.questions[0].prompts, node.timeout_ms))
        if isinstance(node, QueueNode):
            callback = node.callback
            offered = callback is not None and (callback.schedule is None or callback.schedule.state(now) == "open")
            return Step(state, Enqueue(node.queue, node.skills, node.priority, node.max_wait_s, node.announcements,
                                       frozenset(node.exit_keys),
                                       Callback(callback.key, callback.numbers) if callback and offered else None))
        if isinstance(node, VoicemailNode):
            return Step(state, LeaveVoicemail(node.mailbox, node.greeting))
        if isinstance(node, HttpNode):
            request = _http_request(walk, node, state, now)
            if request is not None:
                return Step(state, request)
            state, node_id = _step(state, node, "error", now), node.error
            continue
        if isinstance(node, SayNode):
            value = _evaluate_say(walk, node, state, now)
            if value is not None:
                return Step(state, Say(node.kind, value))
            state, node_id = _step(state, node, "error", now), node.error
            continue
        if isinstance(node, (SubflowNode, GotoNode, ReturnNode)):
            moved = _move_between_flows(walk, node, state, now)
            if isinstance(moved, Step):
                return moved
            node_id, state = moved
            continue
        node_id, state = _resolve_silent(walk, node, state, now)
    return finish(state, "step_limit", now)


def _move_between_flows(walk: _Walk, node: SubflowNode | GotoNode | ReturnNode, state: IvrState,
                        now: datetime) -> tuple[str, IvrState] | Step:
    """Enter a subflow, go to another flow or return from a subflow: the next node id and state, or the end."""
    if isinstance(node, ReturnNode):
        if not state.returns:  # a subflow walked on its own (its flow tests): the walk ends here
            return Step(replace(_step(state, node, "return", now), finished=True, end="returned"))
        (caller_flow, target), rest = state.returns[-1], state.returns[:-1]
        return target, replace(_step(state, node, "return", now), flow_id=caller_flow, returns=rest)
    target_flow = walk.entry if node.flow == walk.entry.id else walk.library.get(node.flow)
    if target_flow is None or (isinstance(node, SubflowNode) and len(state.returns) >= MAX_SUBFLOW_DEPTH):
        return finish(state, "error", now)  # the flow is gone (validation reports it) or recursion ran away
    flow_id = None if target_flow is walk.entry else target_flow.id
    if isinstance(node, SubflowNode):
        stepped = _step(state, node, "subflow", now)
        return target_flow.start, replace(stepped, flow_id=flow_id,
                                          returns=(*state.returns, (state.flow_id, node.next)))
    return target_flow.start, replace(_step(state, node, "goto", now), flow_id=flow_id)


def _http_request(walk: _Walk, node: HttpNode, state: IvrState, now: datetime) -> HttpRequest | None:
    env = expression_env(walk.flow(state), state, now, walk.queues)
    try:
        query = tuple((name, _scalar_text(expression.evaluate(env))) for name, expression in node.query)
        body = {name: expression.evaluate(env) for name, expression in node.body}
    except (EvaluationError, TypeError):
        return None
    return HttpRequest(node.method, node.url, query, MappingProxyType(body) if node.method == "POST" else None,
                       node.timeout_s)


def _scalar_text(value: object) -> str:
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int, float)):
        raise TypeError(f"{value!r} cannot go in a query string")
    return str(value)


def _evaluate_say(walk: _Walk, node: SayNode, state: IvrState, now: datetime) -> str | None:
    try:
        value = node.value.evaluate(expression_env(walk.flow(state), state, now, walk.queues))
    except EvaluationError:
        return None
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    grammar = r"-?[0-9]{1,15}" if node.kind == "number" else r"[0-9]{1,32}"
    return text if re.fullmatch(grammar, text) else None


def _resolve_silent(walk: _Walk, node: Node, state: IvrState, now: datetime) -> tuple[str, IvrState]:
    """Take a set/branch/hours node at once; returns the next node id and the state after it."""
    env = expression_env(walk.flow(state), state, now, walk.queues)
    if isinstance(node, SetNode):
        variables = dict(state.variables)
        try:
            for name, expression in node.assignments:
                variables[name] = expression.evaluate(ChainMap({f"vars.{k}": v for k, v in variables.items()}, env))
        except EvaluationError:
            return node.error, _step(state, node, "error", now)
        return node.next, _step(state, node, "set", now, variables=MappingProxyType(variables))
    if isinstance(node, BranchNode):
        for index, (expression, target) in enumerate(node.cases, start=1):
            try:
                matched = expression.evaluate(env)
            except EvaluationError:
                return node.error, _step(state, node, "error", now)
            if matched is True:
                return target, _step(state, node, f"case_{index}", now)
            if matched is not False:  # a condition must be a yes/no question, not a number or text
                return node.error, _step(state, node, "error", now)
        return node.default, _step(state, node, "default", now)
    if isinstance(node, HoursNode):
        hours = node.schedule.state(now)
        target = {"open": node.open, "closed": node.closed, "holiday": node.holiday or node.closed}[hours]
        return target, _step(state, node, hours, now)
    raise FlowError(f"node '{node.id}' is not a silent node")


def _expect(outcome: Outcome, kind: type, node: Node) -> None:
    if not isinstance(outcome, kind):
        raise FlowError(f"node '{node.id}' cannot take outcome {outcome!r}")
