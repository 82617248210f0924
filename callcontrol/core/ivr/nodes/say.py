"""The say node: a number or digits, the value of an expression, spoken to the caller."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from callcontrol.core.expressions import EvaluationError, Expression, parse
from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import Done, Outcome, Say
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step
from callcontrol.core.ivr.walking import Continue, Transition, Walk, expect, stepped


@dataclass(frozen=True)
class SayNode:
    id: str
    kind: Literal["number", "digits"]
    value: Expression
    next: str
    error: str


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> SayNode:
    kinds = [kind for kind in ("number", "digits") if kind in raw]
    if len(kinds) != 1:
        check.error(path, "a say node needs exactly one of 'number' or 'digits' (an expression)")
        kinds = ["number"]
    value = check.expression(raw.get(kinds[0], "0"), (*path, kinds[0]))
    next_node = check.exit(raw, "next", path)
    return SayNode(node_id, kinds[0], value or parse("0"), next_node,  # type: ignore[arg-type]
                   check.exit(raw, "error", path, required=False) or next_node)


def _evaluate(walk: Walk, node: SayNode, state: IvrState, now: datetime) -> str | None:
    try:
        value = node.value.evaluate(walk.env(state, now))
    except EvaluationError:
        return None
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    grammar = r"-?[0-9]{1,15}" if node.kind == "number" else r"[0-9]{1,32}"
    return text if re.fullmatch(grammar, text) else None


def enter(walk: Walk, node: SayNode, state: IvrState, now: datetime) -> Transition:
    value = _evaluate(walk, node, state, now)
    if value is not None:
        return Step(state, Say(node.kind, value))
    return Continue(node.error, stepped(state, node, "error", now))


def advance(walk: Walk, node: SayNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    expect(outcome, Done, node)
    return Continue(node.next, stepped(state, node, "said", now))


KIND = NodeKind("say", SayNode, {"number": False, "digits": False, "next": True, "error": False}, build, enter,
                lambda node: [("next", node.next), ("error", node.error)], advance,
                expressions=lambda node: [((node.kind,), node.value)])
