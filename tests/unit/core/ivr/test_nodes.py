"""The flow language's node types beyond play/menu/hangup, through the pure engine (tests/unit/flows/company.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import callcontrol.core.ivr as ivr
from callcontrol.adapters.flow_files import load_flow_text

OPEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday 11:00 in Paris
FACTS = {"caller.number": "+15550001", "caller.name": "Ada", "call.dialed": "5002"}


@pytest.fixture(scope="module")
def acme() -> ivr.Flow:
    flow, problems = load_flow_text((Path(__file__).parent / "flows" / "company.yaml").read_bytes(), "company.yaml")
    assert flow is not None, problems
    return flow


def flow_from(text: str) -> tuple[ivr.Flow | None, list[str]]:
    flow, problems = load_flow_text(text.encode(), "t.yaml")
    return flow, [str(p) for p in problems]


def walk(flow: ivr.Flow, outcomes: list[ivr.Outcome], now: datetime = OPEN) -> ivr.Step:
    step = ivr.start(flow, now, FACTS)
    for outcome in outcomes:
        assert step.effect is not None, f"flow ended before {outcome}"
        step = ivr.advance(flow, step.state, outcome, now)
    return step


def nodes(step: ivr.Step) -> list[tuple[str, str]]:
    return [(s.node, s.result) for s in step.state.path]


D = ivr.Done()


def test_hours_routes_open_closed_and_holiday_in_the_flow_timezone(acme):
    """The hours node picks open/closed/holiday from the schedule in Europe/Paris, with no caller input."""
    assert ivr.start(acme, OPEN, FACTS).state.node_id == "welcome"
    assert ivr.start(acme, datetime(2026, 11, 23, 19, 30, tzinfo=UTC), FACTS).state.node_id == "closed"
    assert ivr.start(acme, datetime(2026, 11, 22, 10, 0, tzinfo=UTC), FACTS).state.node_id == "closed"  # Sunday
    assert ivr.start(acme, datetime(2026, 12, 25, 10, 0, tzinfo=UTC), FACTS).state.node_id == "holiday"
    assert ivr.start(acme, OPEN, FACTS).state.path[0].result == "open"


def test_input_collects_digits_reads_them_back_and_branches_on_them(acme):
    """An account starting with 9 is read back, the PIN taken, and the branch routes to the gold path."""
    step = walk(acme, [D, ivr.DigitPressed("1")])
    assert isinstance(step.effect, ivr.CollectDigits) and step.effect.max_digits == 8
    step = walk(acme, [D, ivr.DigitPressed("1"), ivr.DigitsEntered("912345"), D])
    assert step.effect == ivr.Say("digits", "912345")
    step = walk(acme, [D, ivr.DigitPressed("1"), ivr.DigitsEntered("912345"), D, D, ivr.DigitsEntered("4321")])
    assert isinstance(step.effect, ivr.Transfer) and step.effect.target == "1002"
    assert ("tier", "case_1") in nodes(step) and ("gold", "set") in nodes(step)
    assert step.state.variables["tier"] == "gold" and step.state.variables["account"] == "912345"


def test_secure_input_never_appears_in_the_path_or_public_variables(acme):
    """The PIN is usable by the flow but absent from the path and from public_variables()."""
    step = walk(acme, [D, ivr.DigitPressed("1"), ivr.DigitsEntered("123456"), D, D, ivr.DigitsEntered("4321")])
    assert step.state.variables["pin"] == "4321"
    assert "pin" not in step.state.public_variables() and "account" in step.state.public_variables()
    assert all(entry.get("digit") != "4321" for entry in (s.as_dict() for s in step.state.path))
    pin_steps = [s for s in step.state.path if s.node == "pin"]
    assert pin_steps and all(s.digit is None for s in pin_steps)


def test_input_validation_retries_then_takes_the_exhausted_exit(acme):
    """Too few digits is invalid (with its apology prompt), twice leads to the exhausted exit."""
    step = walk(acme, [D, ivr.DigitPressed("1"), ivr.DigitsEntered("12")])
    assert isinstance(step.effect, ivr.CollectDigits) and step.effect.prompts[0] == "invalid"
    step = ivr.advance(acme, step.state, ivr.NoInput(), OPEN)
    assert step.state.node_id == "main_menu"
    assert nodes(step)[-3:] == [("identify", "invalid"), ("identify", "no_input"), ("identify", "exhausted")]


def test_language_node_switches_the_call_language(acme):
    """Pressing 2 at the language menu sets en_US for the rest of the call."""
    step = walk(acme, [D, ivr.DigitPressed("2")])
    assert step.effect == ivr.SetLanguage("en_US") and step.state.language == "en_US"
    step = ivr.advance(acme, step.state, D, OPEN)
    assert step.state.node_id == "identify"


def test_transfer_answered_goes_on_to_the_survey_and_failure_to_its_exit(acme):
    """After the agent hangs up the caller is surveyed; a busy agent leads to the failed exit."""
    to_sales = [D, ivr.DigitPressed("1"), ivr.DigitsEntered("123456"), D, D, ivr.DigitsEntered("4321"),
                ivr.DigitPressed("1")]
    step = walk(acme, to_sales)
    assert step.effect == ivr.Transfer("extension", "1001", 20)
    surveyed = ivr.advance(acme, step.state, ivr.TransferEnded("ANSWER"), OPEN)
    assert isinstance(surveyed.effect, ivr.CollectDigit) and surveyed.state.node_id == "survey"
    scored = ivr.advance(acme, surveyed.state, ivr.DigitPressed("4"), OPEN)
    assert scored.state.variables["csat"] == 4 and scored.state.node_id == "goodbye"
    busy = ivr.advance(acme, step.state, ivr.TransferEnded("BUSY"), OPEN)
    assert busy.state.node_id == "all_busy" and busy.state.path[-1].digit == "busy"


def test_survey_ignores_scores_outside_1_to_5(acme):
    """A 9 or silence at a survey question is recorded as no score and the flow moves on."""
    step = walk(acme, [D, ivr.DigitPressed("1"), ivr.DigitsEntered("123456"), D, D, ivr.DigitsEntered("4321"),
                       ivr.DigitPressed("1"), ivr.TransferEnded("ANSWER"), ivr.DigitPressed("9")])
    assert "csat" not in step.state.variables and nodes(step)[-1] == ("survey", "no_score")


BASE = '''
id: t
numbers: ["7000"]
start: a
allow: {extensions: ["1001"]}
nodes:
'''


def test_transfer_to_a_destination_not_on_the_allow_list_is_rejected():
    """A flow cannot send callers to an extension or number it has not allow-listed."""
    _, problems = flow_from(BASE + '''
  a: {type: transfer, extension: "1002", failed: b}
  b: {type: hangup}
  c: {type: transfer, number: "+33123456789", failed: b}
''')
    assert any("t.yaml:8:" in p and "'1002' is not on the flow's allow list" in p for p in problems)
    assert any("'+33123456789' is not on the flow's allow list" in p for p in problems)


def test_loop_of_silent_nodes_is_rejected_with_its_cycle():
    """set -> branch -> set with no prompt or wait in between would spin forever: it is an error."""
    _, problems = flow_from(BASE + '''
  a: {type: set, assign: {x: "1"}, next: b}
  b: {type: branch, cases: [{when: "vars.x == 1", goto: a}], default: c}
  c: {type: hangup}
''')
    assert any("loop without the caller" in p and "a -> b -> a" in p for p in problems), problems


def test_bad_expressions_schedules_and_languages_are_located():
    """Expression syntax, unknown schedules, unknown timezones and undeclared languages each get file:line."""
    _, problems = flow_from('''
id: t
numbers: ["7000"]
start: a
timezone: Mars/Olympus
nodes:
  a: {type: branch, cases: [{when: "vars.x ==", goto: b}], default: b}
  b: {type: hours, schedule: nope, open: c, closed: c}
  c: {type: language, language: fr, next: d}
  d: {type: hangup}
''')
    text = "\n".join(problems)
    assert "t.yaml:5:" in text and "unknown timezone" in text
    assert "t.yaml:7:" in text and "expression" in text
    assert "t.yaml:8:" in text and "unknown schedule 'nope'" in text
    assert "t.yaml:9:" in text and "language 'fr' is not in the flow's languages" in text


def test_branch_evaluation_error_takes_the_error_exit():
    """A condition that cannot be evaluated (unknown variable) takes the error exit instead of crashing."""
    flow, problems = flow_from(BASE + '''
  a: {type: branch, cases: [{when: 'vars.missing == "1"', goto: b}], default: b, error: c}
  b: {type: hangup}
  c: {type: hangup, prompts: [vm-sorry]}
''')
    assert flow is not None, problems
    step = ivr.start(flow, OPEN, FACTS)
    assert step.state.node_id == "c" and step.state.path[-1].result == "error"


def test_branch_can_read_caller_facts_and_time():
    """Conditions see caller.number and time.* in the flow's timezone."""
    flow, problems = flow_from(BASE + '''
  a:
    type: branch
    cases:
      - {when: 'caller.number starts_with "+1555" and time.hour >= 9', goto: b}
    default: c
  b: {type: hangup}
  c: {type: hangup, prompts: [vm-sorry]}
''')
    assert flow is not None, problems
    assert ivr.start(flow, OPEN, FACTS).state.node_id == "b"
    assert ivr.start(flow, OPEN - timedelta(hours=3), FACTS).state.node_id == "c"


def test_say_of_a_non_numeric_value_takes_the_error_exit():
    """say digits of a value that is not digits never reaches the channel: the error exit is taken."""
    flow, problems = flow_from(BASE + '''
  a: {type: say, digits: caller.name, next: b, error: c}
  b: {type: hangup}
  c: {type: hangup, prompts: [vm-sorry]}
''')
    assert flow is not None, problems
    step = ivr.start(flow, OPEN, FACTS)
    assert step.state.node_id == "c"


def test_every_node_exit_of_the_sample_flows_is_reachable_or_known(acme):
    """node_exits covers every node type: all of acme's nodes are reachable from its start."""
    assert ivr.reachable_nodes(acme) == set(acme.nodes)


def test_branch_condition_that_is_not_yes_or_no_takes_the_error_exit():
    """A condition that evaluates to a number or text is a flow mistake: the error exit, not the default."""
    flow, problems = flow_from(BASE + '''
  a: {type: branch, cases: [{when: 'caller.number', goto: b}], default: b, error: c}
  b: {type: hangup}
  c: {type: hangup, prompts: [vm-sorry]}
''')
    assert flow is not None, problems
    assert ivr.start(flow, OPEN, FACTS).state.node_id == "c"
