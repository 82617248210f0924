"""Flow test cases: a simulated caller walked through a flow by the pure IVR engine, and the comparison of its path.

A case scripts what the caller does at each prompt that listens; the caller answers every effect the
engine asks for (through EFFECT_HANDLERS, one entry per effect type), on a simulated clock, with no
Asterisk. The result compares the path labels (the ones call records log) and the way the walk ended.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Union

import callcontrol.core.ivr as ivr
from callcontrol.core.acd import caller_prompts

# The same labels as CallRecord.summary()["path"].
from callcontrol.core.calls import path_label

DEFAULT_CALLER = "+15550000"
DEFAULT_CALL_TIME = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)  # a Monday morning
STEP_TIME = timedelta(seconds=1)  # simulated time each effect takes
MAX_STEPS = 1000


# ---------------------------------------------------------------- what a case says


@dataclass(frozen=True)
class Press:
    """The caller presses one digit at a prompt of node `at`."""

    digit: str
    at: str


@dataclass(frozen=True)
class Silence:
    """The caller lets a prompt of node `at` time out."""

    at: str


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up at the next effect (or, with `at`, at the first effect of that node)."""

    at: str | None = None


@dataclass(frozen=True)
class Enter:
    """The caller keys several digits at an input node `at`."""

    digits: str
    at: str


@dataclass(frozen=True)
class TransferOutcome:
    """What happens to a transfer at node `at`: Asterisk's DIALSTATUS (ANSWER, BUSY, NOANSWER, ...)."""

    status: str
    at: str


@dataclass(frozen=True)
class QueueOutcome:
    """How the caller's wait in the queue of node `at` ends: answered, timeout or no_agents.

    (A caller leaving the queue with a key is scripted as `press` at the queue node.)"""

    result: str
    at: str


@dataclass(frozen=True)
class VoicemailOutcome:
    """What VoiceMail() answers at node `at`: SUCCESS (message left), USEREXIT or FAILED."""

    status: str
    at: str


QUEUE_RESULTS = ("answered", "timeout", "no_agents", "callback_requested")
VOICEMAIL_STATUSES = ("SUCCESS", "USEREXIT", "FAILED")

CallerAction = Union[Press, Enter, Silence, TransferOutcome, QueueOutcome, VoicemailOutcome, HangUp]


@dataclass(frozen=True)
class FlowTestCase:
    name: str
    expected_path: tuple[str, ...]
    expected_end: str
    input: tuple[CallerAction, ...] = ()
    caller: str = DEFAULT_CALLER
    dialed: str | None = None  # None: the flow's first number
    at: datetime = DEFAULT_CALL_TIME
    http: Mapping[str, Any] = field(default_factory=dict)  # stubbed http answers by node id (for later nodes)
    queues: Mapping[str, ivr.QueueStatus] = field(default_factory=dict)  # queue status for branch conditions
    source: str = ""  # where the case is written, file:line


@dataclass(frozen=True)
class CaseResult:
    name: str
    passed: bool
    expected_path: tuple[str, ...]
    actual_path: tuple[str, ...]
    expected_end: str
    actual_end: str | None
    message: str = ""  # why it failed, one reason a line; empty when it passed
    source: str = ""

    def path_diff(self) -> list[str]:
        """Expected against actual path, one label a line: '  ' both, '- ' expected only, '+ ' actual only."""
        return [line for line in difflib.ndiff(list(self.expected_path), list(self.actual_path))
                if not line.startswith("? ")]

    def report(self) -> list[str]:
        """The lines that show a case's outcome: PASS/FAIL and name, then for a failure why and the path diff."""
        lines = [f"{'PASS' if self.passed else 'FAIL'} {self.name}"]
        if self.passed:
            return lines
        if self.source:
            lines[0] += f"  ({self.source})"
        lines.extend(f"    {reason}" for reason in self.message.splitlines())
        lines.append("    path (- expected, + actual):")
        lines.extend(f"      {line}" for line in self.path_diff())
        return lines


# ---------------------------------------------------------------- the simulated caller


class CaseFailed(Exception):
    """The script and the flow disagree: the case fails with this message."""


class SimulatedCall:
    """One scripted caller: what it dialled, its stubs, and the actions not yet used."""

    def __init__(self, flow: ivr.Flow, case: FlowTestCase) -> None:
        self.flow = flow
        self.case = case
        self.caller = case.caller
        self.dialed = case.dialed if case.dialed is not None else (flow.numbers[0] if flow.numbers else "")
        self.pending: list[CallerAction] = list(case.input)

    def hangs_up_at(self, node_id: str) -> bool:
        """Whether the caller hangs up now, at an effect of this node (using up the scripted hangup)."""
        if self.pending and isinstance(self.pending[0], HangUp) and self.pending[0].at in (None, node_id):
            self.pending.pop(0)
            return True
        return False

    def listen(self, node_id: str) -> CallerAction:
        """The caller's answer to a prompt that listens; silence once the script has run out."""
        if not self.pending:
            return Silence(node_id)
        action = self.pending[0]
        if action.at != node_id:
            what = "hangup" if isinstance(action, HangUp) else "input"
            raise CaseFailed(f"expected {what} at {action.at} but the flow is at {node_id}")
        assert not isinstance(action, HangUp)  # a hangup at this node was taken by hangs_up_at
        return self.pending.pop(0)


def _passive(call: SimulatedCall, effect: Any, node_id: str) -> ivr.Outcome:
    return ivr.Done()


def _collect_digit(call: SimulatedCall, effect: Any, node_id: str) -> ivr.Outcome:
    action = call.listen(node_id)
    if isinstance(action, Press):
        return ivr.DigitPressed(action.digit)
    if isinstance(action, Silence):
        return ivr.NoInput()
    raise CaseFailed(f"{_describe(action)} scripted, but node {node_id} waits for one digit (use press)")


def _collect_digits(call: SimulatedCall, effect: Any, node_id: str) -> ivr.Outcome:
    action = call.listen(node_id)
    if isinstance(action, (Press, Enter)):
        return ivr.DigitsEntered(action.digit if isinstance(action, Press) else action.digits)
    if isinstance(action, Silence):
        return ivr.NoInput()
    raise CaseFailed(f"{_describe(action)} scripted, but node {node_id} collects digits (use enter)")


def _scripted(call: SimulatedCall, node_id: str, what_to_script: str) -> CallerAction:
    """The caller's scripted answer at a node that cannot be answered with silence (a transfer, a queue, ...)."""
    if not call.pending:
        raise CaseFailed(f"the flow {what_to_script}")
    return call.listen(node_id)


def _transfer(call: SimulatedCall, effect: Any, node_id: str) -> ivr.Outcome:
    action = _scripted(call, node_id, f"transfers at {node_id}: script {{at: {node_id}, transfer: ANSWER}} "
                                      "(or BUSY, NOANSWER, CHANUNAVAIL)")
    if not isinstance(action, TransferOutcome):
        raise CaseFailed(f"{_describe(action)} scripted, but node {node_id} transfers (use transfer: STATUS)")
    return ivr.TransferEnded(action.status)


def _queue(call: SimulatedCall, effect: Any, node_id: str) -> ivr.Outcome:
    action = _scripted(call, node_id, f"queues the caller at {node_id}: script {{at: {node_id}, queue: answered}} "
                                      "(or timeout, no_agents, or press: KEY to leave with an exit key)")
    if isinstance(action, QueueOutcome):
        return ivr.QueueLeft(action.result)  # type: ignore[arg-type]
    if isinstance(action, Press):
        if effect.callback is not None and action.digit == effect.callback.key:
            if _book_callback(call, effect.callback, node_id) is not None:
                return ivr.QueueLeft("callback_requested")
            return _queue(call, effect, node_id)  # not booked: the caller waits on
        if action.digit not in effect.exit_keys:
            raise CaseFailed(f"press {action.digit} at {node_id}, but that queue node has no exit key {action.digit}")
        return ivr.QueueLeft("exited_by_key", action.digit)
    raise CaseFailed(f"{_describe(action)} scripted, but node {node_id} queues the caller (use queue: RESULT "
                     "or press: KEY)")


def _book_callback(call: SimulatedCall, callback: ivr.Callback, node_id: str) -> str | None:
    """The callback key was pressed: the ACD's booking dialog, the caller's next input at this node answering
    its questions (press 1 to confirm the own number, enter another, silence); the number booked or None."""
    def answer(step: caller_prompts.Step) -> str | None:
        if not isinstance(step, (caller_prompts.Ask, caller_prompts.Collect)):
            return None
        action = call.listen(node_id)
        if isinstance(action, Silence):
            return None
        if isinstance(action, Press):
            return action.digit
        if isinstance(action, Enter) and isinstance(step, caller_prompts.Collect):
            return action.digits
        raise CaseFailed(f"{_describe(action)} scripted, but the callback dialog at {node_id} asks for "
                         + ("a key (press 1 to confirm the number)" if isinstance(step, caller_prompts.Ask)
                            else "the number to call back (enter)"))
    return caller_prompts.walk(caller_prompts.callback_dialog(callback.sounds, call.caller, callback.numbers),
                               answer)[1]


def _voicemail(call: SimulatedCall, effect: Any, node_id: str) -> ivr.Outcome:
    action = _scripted(call, node_id, f"takes a message at {node_id}: script {{at: {node_id}, voicemail: SUCCESS}} "
                                      "(or USEREXIT, FAILED)")
    if not isinstance(action, VoicemailOutcome):
        raise CaseFailed(f"{_describe(action)} scripted, but node {node_id} takes a message (use voicemail: STATUS)")
    return ivr.VoicemailEnded(action.status)


def _http(call: SimulatedCall, effect: Any, node_id: str) -> ivr.Outcome:
    """The case's stub for this node: {status: 200, json: {...}}, "timeout" or "error"."""
    stub = call.case.http.get(node_id)
    if stub is None:
        raise CaseFailed(f"the flow calls a service at {node_id}: stub it in the case, "
                         f"http: {{{node_id}: {{status: 200, json: {{...}}}}}} (or timeout / error)")
    if stub in ("timeout", "error"):
        return ivr.HttpFailed(stub)
    if not isinstance(stub, Mapping) or not isinstance(stub.get("status", 200), int):
        raise CaseFailed(f"the http stub for {node_id} must be {{status: 200, json: ...}}, timeout or error")
    return ivr.HttpAnswered(stub.get("status", 200), stub.get("json"))


EffectHandler = Callable[[SimulatedCall, Any, str], ivr.Outcome]

# How the simulated caller answers each effect: the channel work ivr_session._perform does, without one.
# A new effect type needs one entry here (it gets the call, the effect and the current node id).
EFFECT_HANDLERS: dict[type, EffectHandler] = {
    ivr.Play: _passive,
    ivr.PlayAndHangUp: _passive,
    ivr.Say: _passive,
    ivr.SetLanguage: _passive,
    ivr.CollectDigit: _collect_digit,
    ivr.CollectDigits: _collect_digits,
    ivr.Transfer: _transfer,
    ivr.HttpRequest: _http,
    ivr.Enqueue: _queue,
    ivr.LeaveVoicemail: _voicemail,
}


def _describe(action: CallerAction) -> str:
    if isinstance(action, Press):
        return f"press {action.digit} at {action.at}"
    if isinstance(action, Enter):
        return f"enter {action.digits} at {action.at}"
    if isinstance(action, Silence):
        return f"silence at {action.at}"
    if isinstance(action, TransferOutcome):
        return f"transfer {action.status} at {action.at}"
    if isinstance(action, QueueOutcome):
        return f"queue {action.result} at {action.at}"
    if isinstance(action, VoicemailOutcome):
        return f"voicemail {action.status} at {action.at}"
    return "hangup" + (f" at {action.at}" if action.at else "")


def run_case(flow: ivr.Flow, case: FlowTestCase, max_steps: int = MAX_STEPS,
             library: Mapping[str, ivr.Flow] | None = None) -> CaseResult:
    """Walk the scripted caller through the flow with the engine and compare the path and end with the case's.

    `library`: the other flows, by id, for subflow and goto nodes.
    """
    call = SimulatedCall(flow, case)
    now = case.at
    facts = {"caller.number": call.caller, "caller.name": "", "call.dialed": call.dialed}
    step = ivr.start(flow, now, facts, library, case.queues)
    reasons: list[str] = []
    try:
        effects = 0
        while step.effect is not None:
            effects += 1
            if effects > max_steps:
                raise CaseFailed(f"flow did not end within {max_steps} steps")
            node_id = step.state.node_id  # a subflow's node is named like its path label: billing/ask_amount
            if step.state.flow_id is not None:
                node_id = f"{step.state.flow_id}/{node_id}"
            now += STEP_TIME
            if call.hangs_up_at(node_id):
                step = ivr.finish(step.state, "caller_hangup", now)
                break
            handler = EFFECT_HANDLERS.get(type(step.effect))
            if handler is None:
                raise CaseFailed(f"the simulated caller cannot answer a {type(step.effect).__name__} effect yet "
                                 f"(add it to EFFECT_HANDLERS in callcontrol/core/flow_tests.py)")
            step = ivr.advance(flow, step.state, handler(call, step.effect, node_id), now, library, case.queues)
    except CaseFailed as exc:
        reasons.append(str(exc))
    except ivr.FlowError as exc:
        reasons.append(f"the engine refused a step: {exc}")
    actual_path = tuple(path_label(entry.as_dict()) for entry in step.state.path)
    actual_end = step.state.end
    if not reasons:
        if call.pending:
            reasons.append("the flow ended before the scripted " + ", ".join(map(_describe, call.pending)))
        if actual_end != case.expected_end:
            reasons.append(f"expected end {case.expected_end}, got {actual_end}")
        if actual_path != case.expected_path:
            reasons.append("the path differs")
    return CaseResult(
        name=case.name,
        passed=not reasons,
        expected_path=case.expected_path,
        actual_path=actual_path,
        expected_end=case.expected_end,
        actual_end=actual_end,
        message="\n".join(reasons),
        source=case.source,
    )
