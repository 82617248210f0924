"""The branch node: the first case whose condition is true chooses the next node, at once, without the caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callcontrol.core.expressions import EvaluationError, Expression
from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState
from callcontrol.core.ivr.walking import Continue, Transition, Walk, stepped


@dataclass(frozen=True)
class BranchNode:
    id: str
    cases: tuple[tuple[Expression, str], ...]
    default: str
    error: str


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> BranchNode:
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


def enter(walk: Walk, node: BranchNode, state: IvrState, now: datetime) -> Transition:
    env = walk.env(state, now)
    for index, (expression, target) in enumerate(node.cases, start=1):
        try:
            matched = expression.evaluate(env)
        except EvaluationError:
            return Continue(node.error, stepped(state, node, "error", now))
        if matched is True:
            return Continue(target, stepped(state, node, f"case_{index}", now))
        if matched is not False:  # a condition must be a yes/no question, not a number or text
            return Continue(node.error, stepped(state, node, "error", now))
    return Continue(node.default, stepped(state, node, "default", now))


def exits(node: BranchNode) -> list[tuple[str, str]]:
    cases = [(f"when {expression.text}", target) for expression, target in node.cases]
    return [*cases, ("default", node.default), ("error", node.error)]


KIND = NodeKind("branch", BranchNode, {"cases": True, "default": True, "error": False}, build, enter, exits,
                expressions=lambda node: [(("cases", index, "when"), expression)
                                          for index, (expression, _) in enumerate(node.cases)],
                silent=True)
