"""The pieces every node kind walks with: the flows a call can reach, path steps, and moving on to a node."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Union

from callcontrol.core.ivr.effects import Effect, Outcome
from callcontrol.core.ivr.environment import QueueStatus, expression_env
from callcontrol.core.ivr.model import Flow, Node
from callcontrol.core.ivr.state import FlowError, IvrState, PathResult, PathStep, Step


@dataclass(frozen=True)
class Walk:
    """The call's own flow and the flows its subflow/goto nodes can reach."""

    entry: Flow
    library: Mapping[str, Flow]
    queues: Mapping[str, QueueStatus]

    def flow(self, state: IvrState) -> Flow:
        return self.entry if state.flow_id is None else self.library[state.flow_id]

    def env(self, state: IvrState, now: datetime) -> Mapping[str, object]:
        """What the current node's expressions can read."""
        return expression_env(self.flow(state), state, now, self.queues)


@dataclass(frozen=True)
class Continue:
    """Go on at node `node_id` with `state` (the engine enters it): what a node returns when it needs no caller."""

    node_id: str
    state: IvrState


Transition = Union[Step, Continue]  # a Step stops the walk until its effect's outcome (or for good)


def stepped(state: IvrState, node: Node, result: PathResult, now: datetime, digit: str | None = None,
            **changes: Any) -> IvrState:
    """The state with the node's result added to the path (and any other field changed)."""
    return replace(state, path=(*state.path, PathStep(node.id, result, now, digit, state.flow_id)), **changes)


def expect(outcome: Outcome, kind: type, node: Node) -> None:
    if not isinstance(outcome, kind):
        raise FlowError(f"node '{node.id}' cannot take outcome {outcome!r}")


def retry(node: Node, state: IvrState, apology: tuple[str, ...], max_attempts: int, exhausted: str,
          now: datetime, effect: Callable[[tuple[str, ...]], Effect]) -> Transition:
    """Ask again (apology first) or, after max_attempts, go on at the `exhausted` node."""
    attempts = state.attempts + 1
    if attempts >= max_attempts:
        return Continue(exhausted, stepped(state, node, "exhausted", now))
    return Step(replace(state, attempts=attempts), effect(apology))
