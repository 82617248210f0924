"""Flow tests (core.flow_tests, adapters.flow_test_files and flow_test_runs): scripted callers, no Asterisk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from callcontrol.adapters.flow_files import load_flow_text, load_flows
from callcontrol.adapters.flow_test_files import load_flow_test_text, load_in_file_tests
from callcontrol.adapters.flow_test_runs import flow_tests_command
from callcontrol.core import flow_tests, ivr
from callcontrol.core.flow_tests import Enter, FlowTestCase, HangUp, Press, Silence, run_case
from callcontrol.core.ivr import QueueStatus
from callcontrol.settings import Settings
from tests.support.paths import REPO

FLOWS_DIR = REPO / "ivr_flows"
MAIN_YAML = (FLOWS_DIR / "main.yaml").read_bytes()
MAIN, _ = load_flow_text(MAIN_YAML, "main.yaml")
assert MAIN is not None

ONE_CASE = """\
flow: main
cases:
  - name: presses 2 for support
    input:
      - {at: main_menu, press: "2"}
    expect:
      path: [greeting, main_menu:1, sales, goodbye]
      end: hangup
"""

IN_FILE_TESTS = "tests:\n" + ONE_CASE.split("cases:\n")[1]  # ONE_CASE's case under a flow file's own `tests:` key
IN_FILE_CASE_LINE = MAIN_YAML.count(b"\n") + 2  # main.yaml, then "tests:", then the case's "- name:"


def case(*actions: flow_tests.CallerAction, path: tuple[str, ...] = (), end: str = "hangup") -> FlowTestCase:
    return FlowTestCase(name="case", expected_path=path, expected_end=end, input=actions)


def flows_dir(tmp_path: Path, tests_text: str | None) -> Path:
    """A flows directory holding a copy of main.yaml and, if given, main.tests.yaml."""
    shutil.copy(FLOWS_DIR / "main.yaml", tmp_path / "main.yaml")
    if tests_text is not None:
        (tmp_path / "main.tests.yaml").write_text(tests_text)
    return tmp_path


def flow_with_tests(tmp_path: Path, tests_text: str) -> Path:
    """A copy of main.yaml in tmp_path with tests_text (a `tests:` key) appended."""
    path = tmp_path / "main.yaml"
    path.write_bytes(MAIN_YAML + tests_text.encode())
    return path


def run_command(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str]:
    code = flow_tests_command(Settings(flows_dir=FLOWS_DIR), list(paths))
    return code, capsys.readouterr().out


# ---------------------------------------------------------------- the shipped flows


def test_shipped_flow_tests_all_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """Every case in ivr_flows/*.tests.yaml passes through the `flows test` command, and every sample flow has tests."""
    code, out = run_command(capsys)
    assert code == 0, out
    assert "FAIL" not in out and "no tests" not in out and "error" not in out, out
    assert out.count("PASS ") >= 6, out
    assert out.rstrip().endswith(f"{out.count('PASS ')} passed, 0 failed"), out


def test_test_files_are_not_loaded_as_flows() -> None:
    """Loading the flows directory skips *.tests.yaml, so a test file is never taken for a broken flow."""
    flows, problems = load_flows([FLOWS_DIR])
    flow_files = sorted(p.name for p in FLOWS_DIR.glob("*.yaml") if not p.name.endswith(".tests.yaml"))
    assert len(flows) == len(flow_files) and problems == []
    assert not any(flow.source.endswith(".tests.yaml") for flow in flows)


# ---------------------------------------------------------------- the simulated caller


@pytest.mark.parametrize(("actions", "path"), [
    ((Press("1", "main_menu"),), ("greeting", "main_menu:1", "sales", "goodbye")),
    ((Press("2", "main_menu"),), ("greeting", "main_menu:2", "support", "goodbye")),
    ((Press("9", "main_menu"), Silence("main_menu")),
     ("greeting", "main_menu:9[invalid]", "main_menu[no_input]", "main_menu[exhausted]", "goodbye")),
])
def test_scripted_digits_walk_the_menu(actions: tuple[flow_tests.CallerAction, ...], path: tuple[str, ...]) -> None:
    """Each scripted press or silence answers the next menu prompt and the path uses the call-record labels."""
    result = run_case(MAIN, case(*actions, path=path))
    assert result.passed, result.message
    assert result.actual_path == path and result.actual_end == "hangup"


def test_running_out_of_input_is_silence() -> None:
    """A menu prompt with no scripted input left gets silence, so an empty script walks to the exhausted exit."""
    result = run_case(MAIN, case())
    assert result.actual_path == (
        "greeting", "main_menu[no_input]", "main_menu[no_input]", "main_menu[exhausted]", "goodbye")


def test_wrong_at_fails_with_a_clear_message() -> None:
    """Input scripted for another node than the one the flow is at fails the case and says where each one is."""
    result = run_case(MAIN, case(Press("1", "sales"), path=("greeting",)))
    assert not result.passed
    assert result.message == "expected input at sales but the flow is at main_menu"
    assert result.actual_path == ("greeting",)


def test_hangup_without_at_is_taken_at_the_next_effect() -> None:
    """{hangup: true} first in the script hangs up during the greeting, before the menu is reached."""
    result = run_case(MAIN, case(HangUp(), path=("greeting[caller_hangup]",), end="caller_hangup"))
    assert result.passed, result.message


def test_hangup_at_a_node_waits_for_that_node() -> None:
    """A hangup with `at` lets the greeting play and hangs up at the menu; one after a press hangs up in sales."""
    at_menu = run_case(MAIN, case(HangUp("main_menu")))
    assert at_menu.actual_path == ("greeting", "main_menu[caller_hangup]")
    assert at_menu.actual_end == "caller_hangup"
    in_sales = run_case(MAIN, case(Press("1", "main_menu"), HangUp()))
    assert in_sales.actual_path == ("greeting", "main_menu:1", "sales[caller_hangup]")


def test_hangup_at_a_node_behind_a_menu_is_a_mismatch() -> None:
    """A hangup meant for a later node, met by a menu first, fails like any other misplaced input."""
    result = run_case(MAIN, case(HangUp("sales")))
    assert not result.passed
    assert result.message == "expected hangup at sales but the flow is at main_menu"


def test_input_left_over_when_the_flow_ends_fails() -> None:
    """Scripted input the flow never asked for fails the case, naming what was not used."""
    result = run_case(MAIN, case(Press("1", "main_menu"), Press("2", "main_menu"),
                                 path=("greeting", "main_menu:1", "sales", "goodbye")))
    assert not result.passed
    assert result.message == "the flow ended before the scripted press 2 at main_menu"


def test_step_cap_fails_a_flow_that_does_not_end() -> None:
    """A walk longer than the step cap stops and fails with 'flow did not end'."""
    result = run_case(MAIN, case(), max_steps=2)
    assert not result.passed
    assert result.message == "flow did not end within 2 steps"
    assert result.actual_path == ("greeting", "main_menu[no_input]")


def test_a_loop_without_menus_ends_at_the_engine_limit() -> None:
    """A flow that loops forever ends with the engine's own step_limit, which a case can expect."""
    loop, problems = load_flow_text(
        b'id: loop\nnumbers: ["7000"]\nstart: a\nnodes:\n'
        b'  a: {type: play, prompts: [beep], next: b}\n  b: {type: play, prompts: [beep], next: a}\n', "loop.yaml")
    assert loop is not None, problems
    result = run_case(loop, case(end="step_limit"))
    assert result.actual_end == "step_limit"
    assert result.message == "the path differs"


def test_an_effect_the_simulator_does_not_know_fails_the_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """An effect type with no entry in EFFECT_HANDLERS fails the case with a message saying where to add it."""
    monkeypatch.delitem(flow_tests.EFFECT_HANDLERS, ivr.Play)
    result = run_case(MAIN, case())
    assert not result.passed
    assert "cannot answer a Play effect" in result.message and "EFFECT_HANDLERS" in result.message


def test_wrong_expectation_fails_with_a_diff_of_both_paths() -> None:
    """A case whose expected path is wrong fails, and its report shows expected and actual labels line by line."""
    expected = ("greeting", "main_menu:1", "sales", "goodbye")
    result = run_case(MAIN, case(Press("2", "main_menu"), path=expected))
    assert not result.passed
    assert result.path_diff() == ["  greeting", "- main_menu:1", "+ main_menu:2", "- sales", "+ support",
                                  "  goodbye"]
    report = "\n".join(result.report())
    assert report.startswith("FAIL case") and "the path differs" in report and "+ support" in report


def test_wrong_end_is_named() -> None:
    """An expected end that differs from the actual one is a failure that names both."""
    result = run_case(MAIN, case(path=("greeting", "main_menu[no_input]", "main_menu[no_input]",
                                       "main_menu[exhausted]", "goodbye"), end="caller_hangup"))
    assert result.message == "expected end caller_hangup, got hangup"


# ---------------------------------------------------------------- test files and the command


def test_command_prints_fail_and_diff_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A failing case prints FAIL with its file:line and the path diff, is counted, and makes the exit code 1."""
    code, out = run_command(capsys, flows_dir(tmp_path, ONE_CASE))
    assert code == 1
    assert f"FAIL presses 2 for support  ({tmp_path}/main.tests.yaml:3)" in out
    assert "- main_menu:1" in out and "+ main_menu:2" in out
    assert out.rstrip().endswith("0 passed, 1 failed")


def test_flow_file_argument_runs_its_sibling_tests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given a flow file, the command runs the tests file beside it."""
    directory = flows_dir(tmp_path, ONE_CASE.replace("main_menu:1, sales", "main_menu:2, support"))
    code, out = run_command(capsys, directory / "main.yaml")
    assert code == 0, out
    assert "PASS presses 2 for support" in out


def test_flow_without_tests_is_reported_but_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A flow with no tests file is listed as 'no tests' and does not fail the run."""
    code, out = run_command(capsys, flows_dir(tmp_path, None))
    assert code == 0
    assert f"no tests: flow main ({tmp_path}/main.yaml)" in out
    assert out.rstrip().endswith("0 passed, 0 failed")


@pytest.mark.parametrize(("text", "expected"), [
    (ONE_CASE.replace("    input:", "    inptu:"), "t.yaml:4:5: error: unknown key 'inptu'"),
    (ONE_CASE.replace('press: "2"', 'press: "22"'), "t.yaml:5:25: error: '22' is not one digit 0-9, * or #"),
    (ONE_CASE.replace("at: main_menu", "at: main_manu"), "t.yaml:5:10: error: 'main_manu' is not a node of flow"),
    (ONE_CASE.replace("{at: main_menu, ", "{"), "t.yaml:5:9: error: missing required key 'at'"),
    (ONE_CASE.replace("end: hangup", "end: 0"), "t.yaml:8:7: error: 0 is not how a walk ends"),
    (ONE_CASE.replace("flow: main", "flow: mian"), "t.yaml:1:1: error: no flow with id 'mian' was loaded"),
    (ONE_CASE.replace("    input:", '    at: "2026-11-23T10:00:00"\n    input:'),
     "t.yaml:4:5: error: must be the time of the call as quoted ISO 8601 with a UTC offset"),
    (ONE_CASE.replace("    input:", '    dialed: "5999"\n    input:'),
     "t.yaml:4:5: error: flow 'main' does not answer 5999"),
    (ONE_CASE.replace("goodbye]", "goodbye"), "t.yaml:8:10: error: YAML syntax"),
    (ONE_CASE.replace("    input:", "    at: 2026-11-23T10:00:00Z\n    input:"),
     "t.yaml:4:9: error: YAML tag 'tag:yaml.org,2002:timestamp' is not allowed"),
    ("flow: main\ncases:\n  - &c {name: a}\n  - *c\n", "t.yaml:3:5: error: YAML anchors and aliases are not allowed"),
    ("", "t.yaml:1:1: error: empty flow test file"),
])
def test_malformed_test_file_is_reported_at_file_line_col(text: str, expected: str) -> None:
    """A mistake in a test file is reported at the file:line:col where it is written, and its case is not run."""
    suite, problems = load_flow_test_text(text.encode(), "t.yaml", {"main": MAIN})
    assert suite is None or suite.cases == ()
    assert any(str(problem).startswith(expected) for problem in problems), [str(p) for p in problems]


def test_a_bad_case_does_not_stop_the_others() -> None:
    """Only the case with a problem is left out; the other cases of the file still load."""
    text = ONE_CASE + ONE_CASE.split("cases:\n")[1].replace("presses 2 for support", "second").replace(
        "end: hangup", "end: Hang up")
    suite, problems = load_flow_test_text(text.encode(), "t.yaml", {"main": MAIN})
    assert suite is not None and [c.name for c in suite.cases] == ["presses 2 for support"]
    assert [(p.line, p.column) for p in problems] == [(14, 7)]


def test_bad_test_file_makes_the_command_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command prints a test file's problems as file:line:col and exits 1 even when no case failed."""
    code, out = run_command(capsys, flows_dir(tmp_path, ONE_CASE.replace("flow: main", "flow: nope")))
    assert code == 1
    assert f"{tmp_path}/main.tests.yaml:1:1: error: no flow with id 'nope'" in out
    assert out.rstrip().endswith("0 passed, 0 failed, 1 problem(s) in flow or test files")


def test_case_fields_are_kept() -> None:
    """Caller, dialled number, time, http stubs and queue state are read into the case for the nodes that use them."""
    text = ONE_CASE.replace("    input:", '    caller: "+15550001"\n    dialed: "5000"\n'
                            '    at: "2026-11-23T10:00:00+01:00"\n    http: {crm: {status: 200}}\n'
                            '    queues: {sales: {agents_available: 0, callers_waiting: 3, estimated_wait_s: 120}}\n'
                            '    input:')
    suite, problems = load_flow_test_text(text.encode(), "t.yaml", {"main": MAIN})
    assert problems == [] and suite is not None
    (loaded,) = suite.cases
    assert (loaded.caller, loaded.dialed, loaded.at.isoformat()) == ("+15550001", "5000", "2026-11-23T10:00:00+01:00")
    assert loaded.http == {"crm": {"status": 200}}
    assert loaded.queues == {"sales": QueueStatus(agents_available=0, callers_waiting=3, estimated_wait_s=120)}
    assert loaded.input == (Press("2", "main_menu"),) and loaded.source == "t.yaml:3"


# ---------------------------------------------------------------- cases inside the flow file (`tests:`)


def test_in_file_tests_run_and_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Cases under a flow file's own `tests:` key run like a test file's; the flow counts as tested."""
    path = flow_with_tests(tmp_path, IN_FILE_TESTS.replace("main_menu:1, sales", "main_menu:2, support"))
    code, out = run_command(capsys, tmp_path)
    assert code == 0, out
    assert f"{path} (flow main)\n  PASS presses 2 for support\n" in out
    assert "no tests" not in out and out.rstrip().endswith("1 passed, 0 failed")


def test_failing_in_file_case_shows_the_flow_file_line_and_a_diff(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A failing in-file case is named by the flow file's path and the case's line, with the path diff."""
    path = flow_with_tests(tmp_path, IN_FILE_TESTS)
    code, out = run_command(capsys, path)
    assert code == 1
    assert f"FAIL presses 2 for support  ({path}:{IN_FILE_CASE_LINE})" in out
    assert "- main_menu:1\n        + main_menu:2\n        - sales\n        + support\n" in out
    assert out.rstrip().endswith("0 passed, 1 failed")


def test_in_file_and_sibling_cases_both_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A flow with a `tests:` key and a <name>.tests.yaml beside it runs the cases of both."""
    flow_with_tests(tmp_path, IN_FILE_TESTS.replace("main_menu:1, sales", "main_menu:2, support"))
    (tmp_path / "main.tests.yaml").write_text(ONE_CASE.replace("presses 2 for support", "from the sibling"))
    code, out = run_command(capsys, tmp_path / "main.yaml")
    assert code == 1
    assert "PASS presses 2 for support" in out and "FAIL from the sibling" in out
    assert out.rstrip().endswith("1 passed, 1 failed")


@pytest.mark.parametrize(("mistake", "line_offset", "column", "message"), [
    (("    input:", "    inptu:"), 1, 5, "unknown key 'inptu'"),
    (('press: "2"', 'press: "22"'), 2, 25, "'22' is not one digit 0-9, * or #"),
    (("at: main_menu", "at: main_manu"), 2, 10, "'main_manu' is not a node of flow 'main'"),
])
def test_malformed_in_file_case_is_reported_at_its_line_in_the_flow_file(
        mistake: tuple[str, str], line_offset: int, column: int, message: str) -> None:
    """A mistake in an in-file case is a problem at flow file:line:col; that case is left out, the flow still loads."""
    text = MAIN_YAML + IN_FILE_TESTS.replace(*mistake).encode()
    flow, flow_problems = load_flow_text(text, "main.yaml")
    assert flow is not None and flow_problems == []
    suite, problems = load_in_file_tests(text, "main.yaml", flow)
    assert suite is not None and suite.cases == ()
    assert len(problems) == 1
    assert str(problems[0]).startswith(f"main.yaml:{IN_FILE_CASE_LINE + line_offset}:{column}: error: {message}")


def test_malformed_in_file_case_fails_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command prints an in-file case's problem at the flow file's line and exits 1."""
    path = flow_with_tests(tmp_path, IN_FILE_TESTS.replace("    input:", "    inptu:"))
    code, out = run_command(capsys, tmp_path)
    assert code == 1
    assert f"{path}:{IN_FILE_CASE_LINE + 1}:5: error: unknown key 'inptu'" in out
    assert out.rstrip().endswith("0 passed, 0 failed, 1 problem(s) in flow or test files")


def test_empty_tests_key_is_a_problem() -> None:
    """`tests:` with no cases is reported at the key, like a test file's empty `cases`."""
    text = MAIN_YAML + b"tests: []\n"
    flow, _ = load_flow_text(text, "main.yaml")
    assert flow is not None
    suite, problems = load_in_file_tests(text, "main.yaml", flow)
    assert suite is not None and suite.cases == ()
    assert [str(p) for p in problems] == [
        f"main.yaml:{IN_FILE_CASE_LINE - 1}:1: error: must be a non-empty list of test cases"]


def test_flow_file_without_tests_key_has_no_in_file_suite() -> None:
    """A flow file with no `tests:` key gives no in-file suite and no problem."""
    assert load_in_file_tests(MAIN_YAML, "main.yaml", MAIN) == (None, [])


CALLBACK_FLOW, _ = load_flow_text(b'''
id: cb
numbers: ["7000"]
start: q
allow: {queues: [sales]}
nodes:
  q:
    type: queue
    queue: sales
    max_wait_s: 60
    callback: {key: "2", numbers: "0[1-9][0-9]{8}", next: booked}
    timeout: bye
    no_agents: bye
  booked: {type: hangup, prompts: [auth-thankyou]}
  bye: {type: hangup}
''', "cb.yaml")


def callback_case(*actions: flow_tests.CallerAction, caller: str = "0155500042") -> flow_tests.CaseResult:
    return run_case(CALLBACK_FLOW, FlowTestCase("cb", ("q[callback_requested]", "booked"), "hangup", actions, caller))


def test_the_callback_key_runs_the_booking_dialog_and_1_confirms_the_own_number() -> None:
    assert callback_case(Press("2", "q"), Press("1", "q")).passed


def test_a_number_keyed_in_the_dialog_books_the_callback() -> None:
    assert callback_case(Press("2", "q"), Enter("0612345678", "q"), caller="+4930123").passed


def test_a_dialog_that_books_nothing_leaves_the_caller_waiting() -> None:
    """Silence at the question and at the number: not booked; the next input at the node ends the wait."""
    result = run_case(CALLBACK_FLOW, FlowTestCase("cb", ("q[timeout]", "bye"), "hangup", (
        Press("2", "q"), Silence("q"), Silence("q"), flow_tests.QueueOutcome("timeout", "q")), "0155500042"))
    assert result.passed, result.message
    booked_elsewhere = callback_case(Press("2", "q"), Enter("0800123", "q"), caller="anonymous")
    assert not booked_elsewhere.passed and "queues the caller at q" in booked_elsewhere.message


def test_keying_a_number_where_the_dialog_asks_for_a_key_fails_the_case_clearly() -> None:
    result = callback_case(Press("2", "q"), Enter("0612345678", "q"))
    assert not result.passed and "the callback dialog at q asks for a key" in result.message
