"""The transfer node: the caller connected to an allow-listed extension or number."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import Outcome, Transfer, TransferEnded
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step
from callcontrol.core.ivr.walking import Continue, Transition, Walk, expect, stepped


@dataclass(frozen=True)
class TransferNode:
    """Connect the caller to an allow-listed extension or number.

    `answered`: where the caller goes when the other side hangs up first (e.g. a survey); without it the call
    ends after the conversation. `failed`: busy, no answer, unreachable.
    """

    id: str
    kind: Literal["extension", "number"]
    target: str
    ring_timeout_s: int
    answered: str | None
    failed: str


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> TransferNode:
    kinds = [kind for kind in ("extension", "number") if kind in raw]
    target = ""
    kind = "extension"
    if len(kinds) != 1:
        check.error(path, "a transfer node needs exactly one of 'extension' or 'number'")
    else:
        kind = kinds[0]
        target = raw[kind]
        allowed = context.allow.extensions if kind == "extension" else context.allow.numbers
        if not isinstance(target, str) or target not in allowed:
            check.error((*path, kind), f"{kind} {target!r} is not on the flow's allow list (allow.{kind}s): "
                                       "a flow can only send callers to allow-listed destinations")
    return TransferNode(node_id, kind, str(target),  # type: ignore[arg-type]
                        int(check.number(raw, "ring_timeout_s", path, 5, 120, 30, whole=True)),
                        check.exit(raw, "answered", path, required=False) or None, check.exit(raw, "failed", path))


def enter(walk: Walk, node: TransferNode, state: IvrState, now: datetime) -> Transition:
    return Step(state, Transfer(node.kind, node.target, node.ring_timeout_s))


def advance(walk: Walk, node: TransferNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    expect(outcome, TransferEnded, node)
    assert isinstance(outcome, TransferEnded)
    if outcome.status == "ANSWER":  # the caller talked to the destination, who then hung up
        done = stepped(state, node, "transferred", now)
        if node.answered:
            return Continue(node.answered, done)
        return Step(replace(done, finished=True, end="transferred"))
    return Continue(node.failed, stepped(state, node, "transfer_failed", now, outcome.status.lower()))


def exits(node: TransferNode) -> list[tuple[str, str]]:
    return ([("answered", node.answered)] if node.answered else []) + [("failed", node.failed)]


KIND = NodeKind("transfer", TransferNode,
                {"extension": False, "number": False, "ring_timeout_s": False, "answered": False, "failed": True},
                build, enter, exits, advance)
