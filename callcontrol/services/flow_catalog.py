"""The flows in service, looked up by the number the caller dialled, and what became of each flow file.

The catalog is fed the whole flows directory at once (`apply`): one `FlowFile` per file, as the loader
read it. It decides what goes live and swaps its lookup table in one assignment, so a new call sees
either the old set or the new one, never a mix. A call already running holds its own `Flow` object and
finishes on the version it started with.

Rules, per file:
- valid content goes live (status "ok", or "ok_with_warnings");
- invalid content does not: the file's last good version, if any, stays live (status "error");
- a deleted file's flow stops answering (status "removed");
- a dialled number (or a flow id) claimed by two files stays with the file that already had it; the
  other file is in error (and keeps its own last good version, if it had one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from callcontrol.core.ivr import Flow, check_flow_references

FileStatus = Literal["ok", "ok_with_warnings", "error", "removed"]


Claim = tuple[str, str]  # ("id", flow id) or ("number", dialled number): what a flow claims for itself alone


@dataclass(frozen=True)
class FlowFile:
    """What the loader made of one flow file: its Flow (None if invalid) and its problems as file:line:col text.

    claim_positions: where the file writes each of its claims, (line, column); 1:1 for a claim not in it.
    reference_positions: where each subflow/goto node writes the flow it reaches, by node id.
    """

    source: str
    flow: Flow | None
    problems: tuple[str, ...] = ()
    claim_positions: Mapping[Claim, tuple[int, int]] = field(default_factory=dict)
    reference_positions: Mapping[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class LostClaim:
    """A problem between files, where the file at fault writes it: a number or flow id that another file
    keeps, or a subflow/goto to a flow that is not live."""

    message: str
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class FlowFileState:
    """One flow file as the catalog sees it: the version live for new calls and the newest content's problems."""

    source: str
    status: FileStatus
    flow: Flow | None = None  # live for new calls; None when nothing from this file answers
    problems: tuple[str, ...] = ()  # of the file's newest content (or why it was not taken)
    loaded_at: datetime | None = None  # when `flow` went live
    last_id: str | None = None  # the id a removed file's flow had

    @property
    def id(self) -> str | None:
        return self.flow.id if self.flow is not None else self.last_id

    @property
    def version(self) -> str | None:
        return self.flow.version if self.flow is not None else None

    @property
    def numbers(self) -> tuple[str, ...]:
        return self.flow.numbers if self.flow is not None else ()


@dataclass(frozen=True)
class CatalogUpdate:
    """The outcome of one `apply`: every file's state, and the ones that changed."""

    files: tuple[FlowFileState, ...]
    changed: tuple[FlowFileState, ...]

    @property
    def versions(self) -> dict[str, str]:
        """Live flow id -> version."""
        return {state.flow.id: state.flow.version for state in self.files if state.flow is not None}


@dataclass(frozen=True)
class _Snapshot:
    by_number: Mapping[str, Flow] = field(default_factory=dict)
    files: Mapping[str, FlowFileState] = field(default_factory=dict)
    by_id: Mapping[str, Flow] = field(default_factory=dict)


class FlowCatalog:
    def __init__(self) -> None:
        self._snapshot = _Snapshot()

    def apply(self, files: Iterable[FlowFile], now: datetime) -> CatalogUpdate:
        """Take what the loader read from the whole directory; swap what new calls see in one assignment."""
        before = self._snapshot.files
        results = {file.source: file for file in files}
        live = resolve_references(results, before, resolve_claims(results, before))

        states: dict[str, FlowFileState] = {}
        for source, result in sorted(results.items()):
            flow, clash = live.get(source, (None, ()))
            previous = before.get(source)
            if result.flow is not None and flow is result.flow and not clash:
                status: FileStatus = "ok_with_warnings" if result.problems else "ok"
            else:
                status = "error"
            if flow is not None and previous is not None and previous.flow is not None \
                    and previous.flow.version == flow.version and previous.flow.source == flow.source:
                flow, loaded_at = previous.flow, previous.loaded_at  # same content: same object, same time
            else:
                loaded_at = now if flow is not None else None
            lost = tuple(f"{source}:{claim.line}:{claim.column}: error: {claim.message}" for claim in clash)
            states[source] = FlowFileState(source, status, flow, tuple(result.problems) + lost, loaded_at)
        for source, previous in before.items():
            if source not in results:
                states[source] = previous if previous.status == "removed" else FlowFileState(
                    source, "removed", last_id=previous.id)

        ordered = tuple(states[source] for source in sorted(states))
        by_number = {number: state.flow for state in ordered if state.flow is not None for number in state.flow.numbers}
        by_id = {state.flow.id: state.flow for state in ordered if state.flow is not None}
        self._snapshot = _Snapshot(by_number, {state.source: state for state in ordered}, by_id)  # the one swap
        changed = tuple(state for state in ordered if _differs(before.get(state.source), state))
        return CatalogUpdate(ordered, changed)

    def for_number(self, dialed_number: str) -> Flow | None:
        return self._snapshot.by_number.get(dialed_number)

    def for_call(self, dialed_number: str) -> tuple[Flow | None, Mapping[str, Flow]]:
        """The flow answering a number, and every live flow by id (for its subflow and goto nodes), read from
        one snapshot: a call keeps both, so it finishes on the versions it started with."""
        snapshot = self._snapshot
        return snapshot.by_number.get(dialed_number), snapshot.by_id

    def files(self) -> list[FlowFileState]:
        """Every flow file seen, in file order (removed ones included)."""
        return list(self._snapshot.files.values())

    def file(self, source: str) -> FlowFileState | None:
        return self._snapshot.files.get(source)

    def flow(self, flow_id: str) -> FlowFileState | None:
        """The file whose live flow has this id."""
        for state in self._snapshot.files.values():
            if state.flow is not None and state.flow.id == flow_id:
                return state
        return None

    @property
    def flows(self) -> list[Flow]:
        """The flows live for new calls."""
        return [state.flow for state in self._snapshot.files.values() if state.flow is not None]


def resolve_claims(
    results: Mapping[str, FlowFile], before: Mapping[str, FlowFileState]
) -> dict[str, tuple[Flow | None, tuple[LostClaim, ...]]]:
    """Choose each file's live flow: its new content, else its last good version, else nothing.

    The one rule for numbers and flow ids claimed twice (the service's catalog and `flows check` use it);
    returns each file's live flow and the claims it lost, each at the line:col where that file writes it.

    A number or flow id goes to the file whose live flow had it before, if that file still claims it;
    otherwise to the first claimant (files that had a live flow first, then in file order). A file
    that loses a claim to a file that loses none falls back to its last good version (whose claims
    were all its own) or to nothing, and the choice is made again until no file loses a claim.
    """
    owners: dict[tuple[str, str], str] = {}
    for state in before.values():
        if state.flow is not None:
            owners.update({key: state.source for key in _claims(state.flow)})
    incumbents = {source for source, state in before.items() if state.flow is not None}
    order = sorted(results, key=lambda source: (source not in incumbents, source))
    choice: dict[str, Flow | None] = {}
    for source in order:
        previous = before.get(source)
        choice[source] = results[source].flow or (previous.flow if previous is not None else None)
    clashes: dict[str, tuple[LostClaim, ...]] = {}
    while True:
        winners: dict[tuple[str, str], str] = {}
        for source in order:
            flow = choice[source]
            for key in _claims(flow) if flow is not None else ():
                if key not in winners or owners.get(key) == source:
                    winners[key] = source
        beaten_by: dict[str, list[tuple[tuple[str, str], str]]] = {}
        for source in order:
            flow = choice[source]
            for key in _claims(flow) if flow is not None else ():
                if winners[key] != source:
                    beaten_by.setdefault(source, []).append((key, winners[key]))
        if not beaten_by:
            return {source: (choice[source], clashes.get(source, ())) for source in order}
        # revert the files beaten by a file that itself keeps all its claims; in a cycle, the last one
        revert = [source for source, beats in beaten_by.items()
                  if any(winner not in beaten_by for _, winner in beats)] or [max(beaten_by, key=order.index)]
        for source in revert:
            positions = results[source].claim_positions
            clashes[source] = tuple(LostClaim(_clash_message(key, winner, choice[winner]), *positions.get(key, (1, 1)))
                                    for key, winner in beaten_by[source])
            previous = before.get(source)
            fallback = previous.flow if previous is not None else None
            choice[source] = None if choice[source] is fallback else fallback


def resolve_references(
    results: Mapping[str, FlowFile], before: Mapping[str, FlowFileState],
    live: Mapping[str, tuple[Flow | None, tuple[LostClaim, ...]]],
) -> dict[str, tuple[Flow | None, tuple[LostClaim, ...]]]:
    """Keep flows whose subflow/goto nodes reach no live flow (or make subflows recurse) from going live.

    The one rule for references between flows (the catalog and `flows check` use it), applied after
    `resolve_claims`: a file whose new content has such a problem falls back to its last good version, or
    to nothing, and the check runs again until nothing changes. A live version whose target has gone (the
    target's file was deleted) stays live, since there is nothing better; its calls reaching that node end
    in the dialplan fallback, and the file shows the problem.
    """
    choice = {source: flow for source, (flow, _) in live.items()}
    notes: dict[str, list[LostClaim]] = {source: list(lost) for source, (_, lost) in live.items()}
    for _ in range(len(choice) + 1):
        problems = check_flow_references({flow.id: flow for flow in choice.values() if flow is not None})
        reverted = False
        for source, flow in choice.items():
            if flow is None or flow.id not in problems:
                continue
            previous = before.get(source)
            fallback = previous.flow if previous is not None else None
            if flow is not results[source].flow or fallback is flow:
                continue
            positions = results[source].reference_positions
            for problem in problems[flow.id]:
                line, column = positions.get(str(problem.path[1]), (1, 1))
                note = LostClaim(problem.message, line, column)
                if note not in notes[source]:
                    notes[source].append(note)
            choice[source], reverted = fallback, True
        if not reverted:
            break
    final = check_flow_references({flow.id: flow for flow in choice.values() if flow is not None})
    for source, flow in choice.items():
        for problem in final.get(flow.id, []) if flow is not None else []:
            line, column = results[source].reference_positions.get(str(problem.path[1]), (1, 1))
            note = LostClaim(problem.message, line, column)
            if note not in notes[source]:
                notes[source].append(note)
    return {source: (choice[source], tuple(notes[source])) for source in live}


def _claims(flow: Flow) -> list[tuple[str, str]]:
    """What a flow claims for itself alone: its id and each of its numbers."""
    return [("id", flow.id), *(("number", number) for number in flow.numbers)]


def _clash_message(key: tuple[str, str], winner: str, winner_flow: Flow | None) -> str:
    kind, value = key
    if kind == "id":
        return f"flow id '{value}' is also used by {winner}"
    flow_id = winner_flow.id if winner_flow is not None else "?"
    return f"number {value} is already answered by flow '{flow_id}' ({winner})"


def _differs(before: FlowFileState | None, after: FlowFileState) -> bool:
    if before is None:
        return True
    return (before.status, before.version, before.problems, before.id) != (
        after.status, after.version, after.problems, after.id)


def describe(states: Sequence[FlowFileState]) -> list[dict[str, object]]:
    """Compact log form of file states."""
    return [{"source": s.source, "id": s.id, "version": s.version, "status": s.status} for s in states]
