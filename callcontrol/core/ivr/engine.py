"""The pure step engine: enters a caller into a flow and moves them on by each outcome, node kind by node kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from callcontrol.core.ivr.effects import Outcome
from callcontrol.core.ivr.environment import QueueStatus
from callcontrol.core.ivr.model import Flow
from callcontrol.core.ivr.nodes import KIND_BY_CLASS
from callcontrol.core.ivr.state import FlowError, IvrState, Step, finish
from callcontrol.core.ivr.walking import Walk

MAX_STEPS_PER_CALL = 500


def start(flow: Flow, now: datetime, facts: Mapping[str, object] | None = None,
          library: Mapping[str, Flow] | None = None, queues: Mapping[str, QueueStatus] | None = None) -> Step:
    """Enter the flow's start node. `facts` are what expressions may read: caller.number, call.dialed, ...

    `library`: the flows a subflow or goto node may reach, by id (the catalog as it was when the call began,
    so a call finishes on the versions it started with). Pass the same one to every `advance`.
    `queues`: the queues' status now, by queue id, for branch conditions (absent: reading it is an error).
    """
    state = IvrState(flow.start, language=flow.language, facts=MappingProxyType(dict(facts or {})))
    return _enter(Walk(flow, library or {}, queues or {}), flow.start, state, now)


def advance(flow: Flow, state: IvrState, outcome: Outcome, now: datetime,
            library: Mapping[str, Flow] | None = None, queues: Mapping[str, QueueStatus] | None = None) -> Step:
    """Apply what happened on the channel to the current node and return the next effect."""
    if state.finished:
        raise FlowError("the flow already finished")
    if len(state.path) >= MAX_STEPS_PER_CALL:
        return finish(state, "step_limit", now)
    walk = Walk(flow, library or {}, queues or {})
    node = walk.flow(state).nodes[state.node_id]
    kind = KIND_BY_CLASS.get(type(node))
    if kind is None or kind.advance is None:
        raise FlowError(f"node '{node.id}' takes no outcome")
    transition = kind.advance(walk, node, state, outcome, now)
    if isinstance(transition, Step):
        return transition
    return _enter(walk, transition.node_id, transition.state, now)


def _enter(walk: Walk, node_id: str, state: IvrState, now: datetime) -> Step:
    """Enter a node; nodes that need no caller (set, branch, hours, subflow moves) are resolved here, in a loop."""
    for _ in range(MAX_STEPS_PER_CALL):
        if len(state.path) >= MAX_STEPS_PER_CALL:
            return finish(replace(state, node_id=node_id), "step_limit", now)
        node = walk.flow(state).nodes[node_id]
        state = replace(state, node_id=node_id, attempts=0)
        transition = KIND_BY_CLASS[type(node)].enter(walk, node, state, now)
        if isinstance(transition, Step):
            return transition
        node_id, state = transition.node_id, transition.state
    return finish(state, "step_limit", now)
