"""Where a caller is in a flow: the walk's immutable state, its path so far, and the step the engine returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from callcontrol.core.ivr.effects import Effect

PathResult = str  # played, digit, input, invalid, no_input, exhausted, said, set, open, closed, holiday, ...


@dataclass(frozen=True)
class PathStep:
    node: str
    result: PathResult
    at: datetime
    digit: str | None = None
    flow: str | None = None  # the subflow (or goto target) the node belongs to; None: the call's own flow

    def as_dict(self) -> dict[str, str]:
        entry = {"node": self.node, "result": self.result, "at": self.at.isoformat()}
        if self.digit is not None:
            entry["digit"] = self.digit
        if self.flow is not None:
            entry["flow"] = self.flow
        return entry


@dataclass(frozen=True)
class IvrState:
    node_id: str
    attempts: int = 0
    path: tuple[PathStep, ...] = ()
    finished: bool = False
    end: PathResult | None = None
    variables: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    secure_variables: frozenset[str] = frozenset()
    language: str = "en"
    facts: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    question: int = 0  # survey: the question being asked
    flow_id: str | None = None  # the flow the caller is in, when not the call's own (subflow, goto)
    returns: tuple[tuple[str | None, str], ...] = ()  # subflow calls: (calling flow id, node to go back to)

    def public_variables(self) -> dict[str, object]:
        """Variables safe to store and show: every secure one is left out."""
        return {k: v for k, v in self.variables.items() if k not in self.secure_variables}


@dataclass(frozen=True)
class Step:
    state: IvrState
    effect: Effect | None = field(default=None)


class FlowError(RuntimeError):
    """The engine was asked to do something the flow does not allow (a bug, not caller input)."""


def finish(state: IvrState, result: PathResult, now: datetime) -> Step:
    """End the walk early (caller hung up, service error or shutdown), noting where it stopped."""
    path = (*state.path, PathStep(state.node_id, result, now, flow=state.flow_id))
    return Step(replace(state, path=path, finished=True, end=result))
