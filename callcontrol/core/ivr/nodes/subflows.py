"""The subflow, goto and return nodes: moving a call between flows, and the checks that span flows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from callcontrol.core.identifiers import IDENTIFIER
from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.model import Flow, Problem
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step, finish
from callcontrol.core.ivr.walking import Continue, Transition, Walk, stepped

MAX_SUBFLOW_DEPTH = 8  # subflows inside subflows; recursion is rejected by check_flow_references


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


def _flow_reference(check: FlowChecker, raw: Mapping[str, Any], path: DocumentPath) -> str:
    target = raw.get("flow")
    if not (isinstance(target, str) and IDENTIFIER.match(target)):
        check.error((*path, "flow"), "must be the id of another flow")
        return ""
    return target


def _build_subflow(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath,
                   prompts: tuple[str, ...], context: FlowContext) -> SubflowNode:
    return SubflowNode(node_id, _flow_reference(check, raw, path), check.exit(raw, "next", path))


def _build_goto(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath,
                prompts: tuple[str, ...], context: FlowContext) -> GotoNode:
    return GotoNode(node_id, _flow_reference(check, raw, path))


def _build_return(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath,
                  prompts: tuple[str, ...], context: FlowContext) -> ReturnNode:
    return ReturnNode(node_id)


def _enter_return(walk: Walk, node: ReturnNode, state: IvrState, now: datetime) -> Transition:
    if not state.returns:  # a subflow walked on its own (its flow tests): the walk ends here
        return Step(replace(stepped(state, node, "return", now), finished=True, end="returned"))
    (caller_flow, target), rest = state.returns[-1], state.returns[:-1]
    return Continue(target, replace(stepped(state, node, "return", now), flow_id=caller_flow, returns=rest))


def _enter_other_flow(walk: Walk, node: SubflowNode | GotoNode, state: IvrState, now: datetime) -> Transition:
    """Enter a subflow or go to another flow: its start node, or the end when that cannot be done."""
    target_flow = walk.entry if node.flow == walk.entry.id else walk.library.get(node.flow)
    if target_flow is None or (isinstance(node, SubflowNode) and len(state.returns) >= MAX_SUBFLOW_DEPTH):
        return finish(state, "error", now)  # the flow is gone (validation reports it) or recursion ran away
    flow_id = None if target_flow is walk.entry else target_flow.id
    if isinstance(node, SubflowNode):
        called = stepped(state, node, "subflow", now)
        return Continue(target_flow.start, replace(called, flow_id=flow_id,
                                                   returns=(*state.returns, (state.flow_id, node.next))))
    return Continue(target_flow.start, replace(stepped(state, node, "goto", now), flow_id=flow_id))


def is_subflow(flow: Flow) -> bool:
    """A flow with return nodes: only a subflow node can run it."""
    return any(isinstance(node, ReturnNode) for node in flow.nodes.values())


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
            elif isinstance(node, GotoNode) and is_subflow(target):
                problems.setdefault(flow_id, []).append(Problem(
                    path, f"flow '{node.flow}' is a subflow (it has return nodes): use a subflow node to call it"))
            elif isinstance(node, SubflowNode):
                calls.setdefault(flow_id, []).append((node_id, node.flow))
    for flow_id, cycle_node, cycle in _subflow_cycles(calls):
        problems.setdefault(flow_id, []).append(Problem(
            ("nodes", cycle_node, "flow"), "subflows call each other without end: " + " -> ".join(cycle)))
    return problems


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


SUBFLOW = NodeKind("subflow", SubflowNode, {"flow": True, "next": True}, _build_subflow, _enter_other_flow,
                   lambda node: [("next", node.next)])
GOTO = NodeKind("goto", GotoNode, {"flow": True}, _build_goto, _enter_other_flow, lambda node: [])
RETURN = NodeKind("return", ReturnNode, {}, _build_return, _enter_return, lambda node: [])
