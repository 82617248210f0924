"""The menu node: one digit chooses an option; no input or a wrong key asks again, up to max_attempts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import CollectDigit, DigitPressed, NoInput, Outcome
from callcontrol.core.ivr.model import DIGITS
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step
from callcontrol.core.ivr.walking import Continue, Transition, Walk, expect, retry, stepped


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


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> MenuNode:
    options_raw = check.mapping(raw, "options", path, "must map digits to node ids", non_empty=True)
    options: dict[str, str] = {}
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


def enter(walk: Walk, node: MenuNode, state: IvrState, now: datetime) -> Transition:
    return Step(state, CollectDigit(node.prompts, node.timeout_ms))


def advance(walk: Walk, node: MenuNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    if isinstance(outcome, DigitPressed):
        target = node.options.get(outcome.digit)
        if target is not None:
            return Continue(target, stepped(state, node, "digit", now, outcome.digit))
        again = stepped(state, node, "invalid", now, outcome.digit)
        return retry(node, again, node.invalid_prompts, node.max_attempts, node.exhausted, now,
                     lambda apology: CollectDigit(apology + node.prompts, node.timeout_ms))
    expect(outcome, NoInput, node)
    return retry(node, stepped(state, node, "no_input", now), node.no_input_prompts, node.max_attempts,
                 node.exhausted, now, lambda apology: CollectDigit(apology + node.prompts, node.timeout_ms))


def exits(node: MenuNode) -> list[tuple[str, str]]:
    return [*((digit, target) for digit, target in node.options.items()), ("exhausted", node.exhausted)]


KIND = NodeKind(
    "menu", MenuNode,
    {"prompts": True, "options": True, "timeout_s": True, "max_attempts": True, "no_input_prompts": False,
     "invalid_prompts": False, "exhausted": True},
    build, enter, exits, advance)
