"""Flow test cases (a flow file's `tests:` key, or <flow>.tests.yaml beside it): reading them into FlowTestCases.

A test file names the flow it tests by id and lists cases (see ivr_flows/main.tests.yaml for the
format); a flow file's `tests:` key is such a list of cases for the flow in that file. Both are read by
the same case parser. Problems are reported at file:line:col like flow problems; a case with a problem
is not run, a test file whose top level is wrong runs no case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from callcontrol.adapters.flow_files import LocatedProblem, read_plain_yaml
from callcontrol.core import flow_tests
from callcontrol.core.flow_tests import (
    CallerAction,
    Enter,
    FlowTestCase,
    HangUp,
    Press,
    QueueOutcome,
    Silence,
    TransferOutcome,
    VoicemailOutcome,
)
from callcontrol.core.identifiers import DIALED_NUMBER, IDENTIFIER
from callcontrol.core.ivr import DIGITS, QUEUE_STATUS_FIELDS, DocumentChecker, Flow, Problem, QueueStatus

_TOP_KEYS = {"flow": True, "cases": True, "description": False}
_CASE_KEYS = {
    "name": True, "expect": True, "caller": False, "dialed": False, "at": False, "input": False,
    "http": False, "queues": False, "description": False,
}
_EXPECT_KEYS = {"path": True, "end": True}
_ACTIONS = ("press", "enter", "silence", "transfer", "queue", "voicemail", "hangup")
DIAL_STATUSES = ("ANSWER", "BUSY", "NOANSWER", "CHANUNAVAIL", "CONGESTION", "CANCEL")

DocPath = tuple[str | int, ...]  # where a value sits inside the document
Locate = Callable[[Problem], LocatedProblem]


@dataclass(frozen=True)
class FlowTestFile:
    """Cases for one flow, read from `file`: a test file, or the flow file itself (its `tests:` key)."""

    file: str
    flow_id: str
    cases: tuple[FlowTestCase, ...]


class _Checker(DocumentChecker):
    """Problems of one test file, located by path (the same rules as flow files)."""


def load_flow_test_text(
    text: bytes, file: str, flows: Mapping[str, Flow]
) -> tuple[FlowTestFile | None, list[LocatedProblem]]:
    """Read one test file against the loaded flows (by id); cases with a problem are left out."""
    data, locate, problems = read_plain_yaml(text, file, what="flow test")
    if any(p.severity == "error" for p in problems):
        return None, problems
    check = _Checker()
    suite = _build_file(check, data, file, flows, locate)
    return suite, problems + [locate(problem) for problem in check.problems]


def load_in_file_tests(text: bytes, file: str, flow: Flow) -> tuple[FlowTestFile | None, list[LocatedProblem]]:
    """Read the `tests:` key of the flow file that holds `flow` (None when it has none); bad cases are left out."""
    data, locate, problems = read_plain_yaml(text, file)
    if any(p.severity == "error" for p in problems) or not isinstance(data, Mapping) or "tests" not in data:
        return None, [problem for problem in problems if problem.severity == "error"]
    check = _Checker()
    cases = _build_cases(check, data["tests"], ("tests",), file, flow, locate)
    return FlowTestFile(file, flow.id, cases), [locate(problem) for problem in check.problems]


def _build_file(
    check: _Checker, data: Any, file: str, flows: Mapping[str, Flow], locate: Locate
) -> FlowTestFile | None:
    if not isinstance(data, Mapping):
        check.error((), "a flow test file must be a mapping with flow and cases")
        return None
    top_ok = check.keys(data, _TOP_KEYS, ())
    flow_id = data.get("flow")
    flow: Flow | None = None
    if "flow" in data:
        if not isinstance(flow_id, str) or flow_id not in flows:
            known = ", ".join(sorted(flows)) or "none"
            check.error(("flow",), f"no flow with id {flow_id!r} was loaded (loaded: {known})")
        else:
            flow = flows[flow_id]
    cases = _build_cases(check, data.get("cases", []), ("cases",), file, flow, locate)
    if not top_ok or flow is None:
        return None
    return FlowTestFile(file, flow.id, cases)


def _build_cases(
    check: _Checker, raw_cases: Any, path: DocPath, file: str, flow: Flow | None, locate: Locate
) -> tuple[FlowTestCase, ...]:
    """The list of cases at `path` (a test file's `cases`, a flow file's `tests`), each named by file:line."""
    if not isinstance(raw_cases, list) or not raw_cases:
        check.error(path, "must be a non-empty list of test cases")
        raw_cases = []
    cases: list[FlowTestCase] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_cases):
        before = len(check.problems)
        case = _build_case(check, raw, (*path, index), flow)
        if case is not None and case.name in names:
            check.error((*path, index, "name"), f"another case is already named '{case.name}'")
        if case is not None and len(check.problems) == before:
            names.add(case.name)
            line = locate(Problem((*path, index), "")).line
            cases.append(replace(case, source=f"{file}:{line}"))
    return tuple(cases)


def _build_case(check: _Checker, raw: Any, path: DocPath, flow: Flow | None) -> FlowTestCase | None:
    if not isinstance(raw, Mapping):
        check.error(path, "a case must be a mapping with name, input and expect")
        return None
    before = len(check.problems)
    check.keys(raw, _CASE_KEYS, path)
    name = raw.get("name")
    if "name" in raw and not (isinstance(name, str) and name.strip()):
        check.error((*path, "name"), "must be a non-empty text")
    caller = raw.get("caller", flow_tests.DEFAULT_CALLER)
    if not isinstance(caller, str) or not caller:
        check.error((*path, "caller"), "must be the caller's number as text (quote it)")
    dialed = raw.get("dialed")
    if dialed is not None:
        if not (isinstance(dialed, str) and DIALED_NUMBER.match(dialed)):
            check.error((*path, "dialed"), f"{dialed!r} is not a dialled number (quote it; digits, * and # only)")
        elif flow is not None and dialed not in flow.numbers:
            check.error((*path, "dialed"), f"flow '{flow.id}' does not answer {dialed} "
                        f"(its numbers: {', '.join(flow.numbers)})")
    at = _time(check, raw.get("at"), (*path, "at"))
    actions = _actions(check, raw.get("input", []), (*path, "input"), flow)
    http = raw.get("http", {})
    if not isinstance(http, Mapping):
        check.error((*path, "http"), "must be a mapping")
        http = {}
    queues = _queue_statuses(check, raw.get("queues", {}), (*path, "queues"))
    expected_path: tuple[str, ...] = ()
    expected_end = ""
    expect = raw.get("expect")
    if "expect" in raw:
        if not isinstance(expect, Mapping):
            check.error((*path, "expect"), "must be a mapping with path and end")
        else:
            check.keys(expect, _EXPECT_KEYS, (*path, "expect"))
            labels = expect.get("path", [])
            if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
                check.error((*path, "expect", "path"), "must be a list of path labels (node, node:digit, "
                            "node[no_input], node:9[invalid], node[exhausted], ...)")
            else:
                expected_path = tuple(labels)
            expected_end = expect.get("end", "")
            # Any word: the engine's set of endings grows with its node types; a wrong one fails the case, named.
            if "end" in expect and not (isinstance(expected_end, str) and IDENTIFIER.match(expected_end)):
                check.error((*path, "expect", "end"), f"{expected_end!r} is not how a walk ends "
                            "(hangup, caller_hangup, step_limit, ...)")
    if len(check.problems) != before:
        return None
    return FlowTestCase(
        name=str(name), expected_path=expected_path, expected_end=str(expected_end), input=actions,
        caller=str(caller), dialed=dialed, at=at, http=http, queues=queues,
    )


def _queue_statuses(check: _Checker, raw: Any, path: DocPath) -> dict[str, QueueStatus]:
    """queues: {sales: {agents_available: 2, callers_waiting: 0, estimated_wait_s: 30}}, for branch conditions."""
    shape = "must map queue ids to {" + ", ".join(f"{name}: N" for name in QUEUE_STATUS_FIELDS) + "}"
    if not isinstance(raw, Mapping):
        check.error(path, shape)
        return {}
    statuses = {}
    for queue_id, fields in raw.items():
        where = (*path, str(queue_id))
        if not (isinstance(queue_id, str) and IDENTIFIER.match(queue_id)) or not isinstance(fields, Mapping):
            check.error(where, shape)
            continue
        if not check.keys(fields, dict.fromkeys(QUEUE_STATUS_FIELDS, True), where):
            continue
        values = [fields[name] for name in QUEUE_STATUS_FIELDS]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            check.error(where, "each field must be a whole number, 0 or more")
            continue
        statuses[queue_id] = QueueStatus(*values)
    return statuses


def _time(check: _Checker, value: Any, path: DocPath) -> datetime:
    if value is None:
        return flow_tests.DEFAULT_CALL_TIME
    message = "must be the time of the call as quoted ISO 8601 with a UTC offset, e.g. \"2026-11-23T10:00:00+01:00\""
    if not isinstance(value, str):
        check.error(path, message)
        return flow_tests.DEFAULT_CALL_TIME
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        check.error(path, message)
        return flow_tests.DEFAULT_CALL_TIME
    if when.tzinfo is None:
        check.error(path, message)
    return when


def _actions(check: _Checker, raw: Any, path: DocPath, flow: Flow | None) -> tuple[CallerAction, ...]:
    if not isinstance(raw, list):
        check.error(path, "must be a list of caller actions: {at: node, press: \"1\"}, {at: node, silence: true} "
                    "or {hangup: true}")
        return ()
    actions: list[CallerAction] = []
    for index, entry in enumerate(raw):
        action = _action(check, entry, (*path, index), flow)
        if action is not None:
            actions.append(action)
    return tuple(actions)


def _action(check: _Checker, entry: Any, path: DocPath, flow: Flow | None) -> CallerAction | None:
    if not isinstance(entry, Mapping):
        check.error(path, "a caller action is a mapping: {at: node, press: \"1\"}, {at: node, silence: true} "
                    "or {hangup: true}")
        return None
    kinds = [key for key in _ACTIONS if key in entry]
    for key in entry:
        if key not in (*_ACTIONS, "at"):
            check.error((*path, key), f"unknown key '{key}' (allowed: at, {', '.join(_ACTIONS)})")
    if len(kinds) != 1:
        check.error(path, "give exactly one of press, enter, silence, transfer, queue, voicemail or hangup")
        return None
    kind = kinds[0]
    at = entry.get("at")
    if at is None and kind != "hangup":
        check.error(path, f"missing required key 'at' (the node id where the caller does this {kind})")
        return None
    if at is not None:
        if not isinstance(at, str):
            check.error((*path, "at"), "must name a node")
            return None
        subflow_node = at.count("/") == 1 and all(IDENTIFIER.match(part) for part in at.split("/"))
        if flow is not None and at not in flow.nodes and not subflow_node:
            check.error((*path, "at"), f"'{at}' is not a node of flow '{flow.id}' (a subflow's node is "
                                       "written flow/node)")
            return None
    value = entry[kind]
    if kind == "press":
        digit = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not (isinstance(digit, str) and len(digit) == 1 and digit in DIGITS):
            check.error((*path, "press"), f"{value!r} is not one digit 0-9, * or #")
            return None
        assert at is not None
        return Press(digit, at)
    if kind == "enter":
        if not (isinstance(value, str) and value and all(d in DIGITS for d in value)):
            check.error((*path, "enter"), f"{value!r} is not a string of digits (quote it: \"1234\")")
            return None
        assert at is not None
        return Enter(value, at)
    if kind == "transfer":
        if value not in DIAL_STATUSES:
            check.error((*path, "transfer"), f"{value!r} is not a dial status ({', '.join(DIAL_STATUSES)})")
            return None
        assert at is not None
        return TransferOutcome(value, at)
    if kind == "queue":
        if value not in flow_tests.QUEUE_RESULTS:
            check.error((*path, "queue"), f"{value!r} is not how a queue wait ends "
                        f"({', '.join(flow_tests.QUEUE_RESULTS)}; a key that leaves the queue is press)")
            return None
        assert at is not None
        return QueueOutcome(value, at)
    if kind == "voicemail":
        if value not in flow_tests.VOICEMAIL_STATUSES:
            check.error((*path, "voicemail"), f"{value!r} is not a voicemail status "
                        f"({', '.join(flow_tests.VOICEMAIL_STATUSES)})")
            return None
        assert at is not None
        return VoicemailOutcome(value, at)
    if value is not True:
        check.error((*path, kind), f"must be true ({kind}: true)")
        return None
    return Silence(at) if kind == "silence" else HangUp(at)
