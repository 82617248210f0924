"""The hangup node: optional prompts, then the call ends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import Done, Outcome, PlayAndHangUp
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step
from callcontrol.core.ivr.walking import Transition, Walk, expect, stepped


@dataclass(frozen=True)
class HangupNode:
    id: str
    prompts: tuple[str, ...]


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> HangupNode:
    return HangupNode(node_id, prompts)


def enter(walk: Walk, node: HangupNode, state: IvrState, now: datetime) -> Transition:
    return Step(state, PlayAndHangUp(node.prompts))


def advance(walk: Walk, node: HangupNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    expect(outcome, Done, node)
    return Step(replace(stepped(state, node, "hangup", now), finished=True, end="hangup"))


KIND = NodeKind("hangup", HangupNode, {"prompts": False}, build, enter, lambda node: [], advance)
