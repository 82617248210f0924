"""The set node: variables assigned from expressions, at once, without the caller."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from callcontrol.core.expressions import EvaluationError, Expression
from callcontrol.core.identifiers import IDENTIFIER
from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState
from callcontrol.core.ivr.walking import Continue, Transition, Walk, stepped


@dataclass(frozen=True)
class SetNode:
    id: str
    assignments: tuple[tuple[str, Expression], ...]
    next: str
    error: str


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> SetNode:
    assign = check.mapping(raw, "assign", path, "must map variable names to expressions", non_empty=True)
    assignments = []
    for name, text in assign.items():
        if not (isinstance(name, str) and IDENTIFIER.match(name)):
            check.error((*path, "assign", str(name)), f"{name!r} is not a variable name")
            continue
        expression = check.expression(text, (*path, "assign", name))
        if expression is not None:
            assignments.append((name, expression))
    next_node = check.exit(raw, "next", path)
    return SetNode(node_id, tuple(assignments), next_node, check.exit(raw, "error", path, required=False) or next_node)


def enter(walk: Walk, node: SetNode, state: IvrState, now: datetime) -> Transition:
    env = walk.env(state, now)
    variables = dict(state.variables)
    try:
        for name, expression in node.assignments:
            variables[name] = expression.evaluate(ChainMap({f"vars.{k}": v for k, v in variables.items()}, env))
    except EvaluationError:
        return Continue(node.error, stepped(state, node, "error", now))
    return Continue(node.next, stepped(state, node, "set", now, variables=MappingProxyType(variables)))


KIND = NodeKind("set", SetNode, {"assign": True, "next": True, "error": False}, build, enter,
                lambda node: [("next", node.next), ("error", node.error)],
                expressions=lambda node: [(("assign", name), expression) for name, expression in node.assignments],
                silent=True)
