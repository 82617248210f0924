"""The input node: several digits collected into a variable, checked by their length and an optional pattern."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import CollectDigits, DigitsEntered, NoInput, Outcome
from callcontrol.core.ivr.model import DIGITS
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step
from callcontrol.core.ivr.walking import Continue, Transition, Walk, expect, retry, stepped


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


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> InputNode:
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


def _collect_digits(node: InputNode, apology: tuple[str, ...] = ()) -> CollectDigits:
    return CollectDigits(apology + node.prompts, node.max_digits, node.timeout_ms, node.inter_digit_timeout_ms,
                         node.terminator, node.secure)


def enter(walk: Walk, node: InputNode, state: IvrState, now: datetime) -> Transition:
    return Step(state, _collect_digits(node))


def advance(walk: Walk, node: InputNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    if isinstance(outcome, DigitsEntered):
        digits = outcome.digits
        shown = None if node.secure else digits
        valid = (node.min_digits <= len(digits) <= node.max_digits and all(d in DIGITS for d in digits)
                 and (node.pattern is None or node.pattern.fullmatch(digits) is not None))
        if valid:
            variables = MappingProxyType({**state.variables, node.variable: digits})
            secure = state.secure_variables | {node.variable} if node.secure else state.secure_variables
            done = stepped(state, node, "input", now, shown, variables=variables, secure_variables=secure)
            return Continue(node.next, done)
        again = stepped(state, node, "invalid", now, shown)
        return retry(node, again, node.invalid_prompts, node.max_attempts, node.exhausted, now,
                     lambda apology: _collect_digits(node, apology))
    expect(outcome, NoInput, node)
    return retry(node, stepped(state, node, "no_input", now), node.no_input_prompts, node.max_attempts,
                 node.exhausted, now, lambda apology: _collect_digits(node, apology))


KIND = NodeKind(
    "input", InputNode,
    {"prompts": True, "variable": True, "min_digits": False, "max_digits": True, "terminator": False,
     "timeout_s": False, "inter_digit_timeout_s": False, "max_attempts": False, "pattern": False, "secure": False,
     "no_input_prompts": False, "invalid_prompts": False, "next": True, "exhausted": True},
    build, enter, lambda node: [("next", node.next), ("exhausted", node.exhausted)], advance)
