"""IVR flows: the flow model, its validation, and the pure step engine that walks a caller through it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Union

from callcontrol.core.tokens import DIALED_NUMBER, IDENTIFIER, is_sound_name

DIGITS = frozenset("0123456789*#")
MAX_STEPS_PER_CALL = 500


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
class HangupNode:
    id: str
    prompts: tuple[str, ...]


Node = Union[PlayNode, MenuNode, HangupNode]


@dataclass(frozen=True)
class Flow:
    id: str
    version: str
    source: str
    numbers: tuple[str, ...]
    start: str
    nodes: Mapping[str, Node]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow, located by its path inside the document."""

    path: tuple[str | int, ...]
    message: str
    severity: Literal["error", "warning"] = "error"


# ---------------------------------------------------------------- validation

_TOP_KEYS = {"id": True, "numbers": True, "start": True, "nodes": True, "description": False}
_NODE_KEYS: dict[str, dict[str, bool]] = {
    "play": {"type": True, "prompts": True, "next": True, "description": False},
    "menu": {
        "type": True, "prompts": True, "options": True, "timeout_s": True, "max_attempts": True,
        "no_input_prompts": False, "invalid_prompts": False, "exhausted": True, "description": False,
    },
    "hangup": {"type": True, "prompts": False, "description": False},
}


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(path, message))

    def warning(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(path, message, "warning"))

    def keys(self, mapping: Mapping[str, Any], spec: Mapping[str, bool], path: tuple[str | int, ...]) -> None:
        for key in mapping:
            if key not in spec:
                self.error((*path, key), f"unknown key '{key}' (allowed: {', '.join(sorted(spec))})")
        for key, required in spec.items():
            if required and key not in mapping:
                self.error(path, f"missing required key '{key}'")

    def prompts(self, value: Any, path: tuple[str | int, ...]) -> tuple[str, ...]:
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

    def node_ref(self, value: Any, path: tuple[str | int, ...]) -> str:
        if not isinstance(value, str) or not value:
            self.error(path, "must name a node")
            return ""
        return value


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
    if not isinstance(numbers, list) or not numbers:
        check.error(("numbers",), "must be a non-empty list of dialled numbers (DNIS)")
        numbers = []
    for index, number in enumerate(numbers):
        if not (isinstance(number, str) and DIALED_NUMBER.match(number)):
            check.error(("numbers", index), f"{number!r} is not a dialled number (quote it; digits, * and # only)")
    raw_nodes = data.get("nodes", {})
    if not isinstance(raw_nodes, Mapping) or not raw_nodes:
        check.error(("nodes",), "must be a mapping of node id to node")
        raw_nodes = {}

    nodes: dict[str, Node] = {}
    exits: dict[str, list[tuple[tuple[str | int, ...], str]]] = {}
    for node_id, raw in raw_nodes.items():
        path: tuple[str | int, ...] = ("nodes", node_id)
        if not (isinstance(node_id, str) and IDENTIFIER.match(node_id)):
            check.error(path, f"node id {node_id!r} must be a lowercase identifier")
            continue
        node, node_exits = _build_node(check, node_id, raw, path)
        exits[node_id] = node_exits
        if node is not None:
            nodes[node_id] = node

    start = data.get("start")
    if "start" in data and not (isinstance(start, str) and start in raw_nodes):
        check.error(("start",), f"start node '{start}' is not defined in nodes")
    for node_id, node_exits in exits.items():
        for exit_path, target in node_exits:
            if target and target not in raw_nodes:
                check.error(exit_path, f"exit to unknown node '{target}'")
    if isinstance(start, str) and start in raw_nodes:
        reachable = _reachable(start, exits)
        for node_id in raw_nodes:
            if node_id not in reachable:
                check.warning(("nodes", node_id), f"node '{node_id}' is unreachable from start '{start}'")

    if any(p.severity == "error" for p in check.problems):
        return None, check.problems
    flow = Flow(
        id=str(flow_id), version=version, source=source, numbers=tuple(numbers), start=str(start), nodes=nodes
    )
    return flow, check.problems


def _build_node(
    check: _Checker, node_id: str, raw: Any, path: tuple[str | int, ...]
) -> tuple[Node | None, list[tuple[tuple[str | int, ...], str]]]:
    if not isinstance(raw, Mapping):
        check.error(path, "a node must be a mapping with a type")
        return None, []
    node_type = raw.get("type")
    if not isinstance(node_type, str) or node_type not in _NODE_KEYS:
        check.error((*path, "type"), f"unknown node type {node_type!r} (known: {', '.join(sorted(_NODE_KEYS))})")
        return None, []
    before = len(check.problems)
    check.keys(raw, _NODE_KEYS[node_type], path)
    prompts = check.prompts(raw.get("prompts"), (*path, "prompts"))
    exits: list[tuple[tuple[str | int, ...], str]] = []
    node: Node | None
    if node_type == "play":
        if not prompts and "prompts" in raw:
            check.error((*path, "prompts"), "a play node needs at least one prompt")
        target = check.node_ref(raw.get("next"), (*path, "next"))
        exits.append(((*path, "next"), target))
        node = PlayNode(node_id, prompts, target)
    elif node_type == "menu":
        options_raw = raw.get("options", {})
        options: dict[str, str] = {}
        if not isinstance(options_raw, Mapping) or not options_raw:
            check.error((*path, "options"), "must map digits to node ids")
            options_raw = {}
        for digit, target in options_raw.items():
            digit_text = str(digit)
            if len(digit_text) != 1 or digit_text not in DIGITS:
                check.error((*path, "options", digit_text), f"option key {digit!r} must be one digit 0-9, * or #")
                continue
            options[digit_text] = check.node_ref(target, (*path, "options", digit_text))
            exits.append(((*path, "options", digit_text), options[digit_text]))
        timeout = raw.get("timeout_s")
        if "timeout_s" in raw and not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
                                       and 0.5 <= timeout <= 60):
            check.error((*path, "timeout_s"), "must be a number of seconds between 0.5 and 60")
            timeout = 3
        attempts = raw.get("max_attempts")
        if "max_attempts" in raw and not (isinstance(attempts, int) and not isinstance(attempts, bool)
                                          and 1 <= attempts <= 10):
            check.error((*path, "max_attempts"), "must be a whole number between 1 and 10")
            attempts = 1
        exhausted = check.node_ref(raw.get("exhausted"), (*path, "exhausted"))
        exits.append(((*path, "exhausted"), exhausted))
        if not prompts:
            check.error((*path, "prompts"), "a menu needs a prompt that tells the caller the options")
        node = MenuNode(
            id=node_id,
            prompts=prompts,
            options=options,
            timeout_ms=int(float(timeout or 3) * 1000),
            max_attempts=int(attempts or 1),
            no_input_prompts=check.prompts(raw.get("no_input_prompts"), (*path, "no_input_prompts")),
            invalid_prompts=check.prompts(raw.get("invalid_prompts"), (*path, "invalid_prompts")),
            exhausted=exhausted,
        )
    else:
        node = HangupNode(node_id, prompts)
    if len(check.problems) != before and any(p.severity == "error" for p in check.problems[before:]):
        return None, exits
    return node, exits


def _reachable(start: str, exits: Mapping[str, list[tuple[Any, str]]]) -> set[str]:
    seen = {start}
    pending = [start]
    while pending:
        for _, target in exits.get(pending.pop(), []):
            if target and target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def node_exits(node: Node) -> list[tuple[str, str]]:
    """A node's exits as (label, target node id), in a stable order: for graphs, reachability and tests."""
    if isinstance(node, PlayNode):
        return [("next", node.next)]
    if isinstance(node, MenuNode):
        return [*((digit, target) for digit, target in node.options.items()), ("exhausted", node.exhausted)]
    return []


def reachable_nodes(flow: Flow) -> set[str]:
    """Node ids a caller can reach from the start node."""
    seen = {flow.start}
    pending = [flow.start]
    while pending:
        for _, target in node_exits(flow.nodes[pending.pop()]):
            if target in flow.nodes and target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


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
class PlayAndHangUp:
    prompts: tuple[str, ...]


Effect = Union[Play, CollectDigit, PlayAndHangUp]


@dataclass(frozen=True)
class Done:
    """The effect completed (prompts played, hangup performed)."""


@dataclass(frozen=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True)
class NoInput:
    """The caller pressed nothing before the timeout."""


Outcome = Union[Done, DigitPressed, NoInput]

PathResult = Literal["played", "digit", "invalid", "no_input", "exhausted", "hangup", "caller_hangup",
                     "error", "shutdown", "step_limit"]


@dataclass(frozen=True)
class PathStep:
    node: str
    result: PathResult
    at: datetime
    digit: str | None = None

    def as_dict(self) -> dict[str, str]:
        entry = {"node": self.node, "result": self.result, "at": self.at.isoformat()}
        if self.digit is not None:
            entry["digit"] = self.digit
        return entry


@dataclass(frozen=True)
class IvrState:
    node_id: str
    attempts: int = 0
    path: tuple[PathStep, ...] = ()
    finished: bool = False
    end: PathResult | None = None


@dataclass(frozen=True)
class Step:
    state: IvrState
    effect: Effect | None = field(default=None)


class FlowError(RuntimeError):
    """The engine was asked to do something the flow does not allow (a bug, not caller input)."""


def start(flow: Flow, now: datetime) -> Step:
    """Enter the flow's start node."""
    return _enter(flow, flow.start, (), now)


def advance(flow: Flow, state: IvrState, outcome: Outcome, now: datetime) -> Step:
    """Apply what happened on the channel to the current node and return the next effect."""
    if state.finished:
        raise FlowError("the flow already finished")
    if len(state.path) >= MAX_STEPS_PER_CALL:
        return finish(state, "step_limit", now)
    node = flow.nodes[state.node_id]
    if isinstance(node, PlayNode):
        _expect(outcome, Done, node)
        return _enter(flow, node.next, (*state.path, PathStep(node.id, "played", now)), now)
    if isinstance(node, HangupNode):
        _expect(outcome, Done, node)
        path = (*state.path, PathStep(node.id, "hangup", now))
        return Step(IvrState(node.id, path=path, finished=True, end="hangup"))
    if isinstance(outcome, DigitPressed):
        target = node.options.get(outcome.digit)
        if target is not None:
            return _enter(flow, target, (*state.path, PathStep(node.id, "digit", now, outcome.digit)), now)
        return _retry(flow, node, state, PathStep(node.id, "invalid", now, outcome.digit), node.invalid_prompts, now)
    _expect(outcome, NoInput, node)
    return _retry(flow, node, state, PathStep(node.id, "no_input", now), node.no_input_prompts, now)


def finish(state: IvrState, result: PathResult, now: datetime) -> Step:
    """End the walk early (caller hung up, service error or shutdown), noting where it stopped."""
    path = (*state.path, PathStep(state.node_id, result, now))
    return Step(IvrState(state.node_id, state.attempts, path, finished=True, end=result))


def _retry(
    flow: Flow, node: MenuNode, state: IvrState, step: PathStep, apology: tuple[str, ...], now: datetime
) -> Step:
    attempts = state.attempts + 1
    path = (*state.path, step)
    if attempts >= node.max_attempts:
        return _enter(flow, node.exhausted, (*path, PathStep(node.id, "exhausted", now)), now)
    effect = CollectDigit(apology + node.prompts, node.timeout_ms)
    return Step(IvrState(node.id, attempts, path), effect)


def _enter(flow: Flow, node_id: str, path: tuple[PathStep, ...], now: datetime) -> Step:
    node = flow.nodes[node_id]
    state = IvrState(node_id, 0, path)
    if isinstance(node, PlayNode):
        return Step(state, Play(node.prompts))
    if isinstance(node, MenuNode):
        return Step(state, CollectDigit(node.prompts, node.timeout_ms))
    return Step(state, PlayAndHangUp(node.prompts))


def _expect(outcome: Outcome, kind: type, node: Node) -> None:
    if not isinstance(outcome, kind):
        raise FlowError(f"node '{node.id}' cannot take outcome {outcome!r}")
