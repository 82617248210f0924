"""What a node type is to the package: its flow-file keys and how it is built, checked, walked and followed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callcontrol.core.expressions import Expression
from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import Outcome
from callcontrol.core.ivr.model import Node
from callcontrol.core.ivr.state import IvrState
from callcontrol.core.ivr.walking import Transition, Walk

# check, node id, the raw mapping, its path, its prompts (already read), the flow's context -> the node or None
Builder = Callable[[FlowChecker, str, Mapping[str, Any], DocumentPath, tuple[str, ...], FlowContext], Any]
Entering = Callable[[Walk, Any, IvrState, datetime], Transition]
Advancing = Callable[[Walk, Any, IvrState, Outcome, datetime], Transition]


def no_expressions(node: Node) -> list[tuple[DocumentPath, Expression]]:
    return []


def no_extra_prompts(node: Node) -> list[tuple[DocumentPath, str]]:
    return []


@dataclass(frozen=True)
class NodeKind:
    """One node type, registered in callcontrol.core.ivr.nodes.NODE_KINDS.

    `keys`: the flow-file keys besides type and description (True: required). `enter`: what entering the node
    does (an effect to perform, or the next node at once). `advance`: how the effect's outcome moves the caller
    on (None: the node never waits for one). `exits`: (label, target) pairs in a stable order, for graphs and
    reachability. `expressions`: (path inside the node, expression) for checks over names. `extra_prompts`:
    sounds besides the node's prompts/no_input_prompts/invalid_prompts, with their paths inside the node.
    `silent`: runs without the caller (no prompt, no wait): a cycle made only of silent nodes is rejected.
    """

    name: str
    node: type
    keys: Mapping[str, bool]
    build: Builder
    enter: Entering
    exits: Callable[[Any], list[tuple[str, str]]]
    advance: Advancing | None = None
    expressions: Callable[[Any], list[tuple[DocumentPath, Expression]]] = no_expressions
    extra_prompts: Callable[[Any], list[tuple[DocumentPath, str]]] = no_extra_prompts
    silent: bool = False
