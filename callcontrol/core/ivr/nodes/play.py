"""The play node: prompts played to the end, then on to `next`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import Done, Outcome, Play
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step
from callcontrol.core.ivr.walking import Continue, Transition, Walk, expect, stepped


@dataclass(frozen=True)
class PlayNode:
    id: str
    prompts: tuple[str, ...]
    next: str


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> PlayNode:
    if not prompts and "prompts" in raw:
        check.error((*path, "prompts"), "a play node needs at least one prompt")
    return PlayNode(node_id, prompts, check.exit(raw, "next", path))


def enter(walk: Walk, node: PlayNode, state: IvrState, now: datetime) -> Transition:
    return Step(state, Play(node.prompts))


def advance(walk: Walk, node: PlayNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    expect(outcome, Done, node)
    return Continue(node.next, stepped(state, node, "played", now))


KIND = NodeKind("play", PlayNode, {"prompts": True, "next": True}, build, enter,
                lambda node: [("next", node.next)], advance)
