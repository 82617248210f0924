"""The pure IVR engine (callcontrol.core.ivr): walking a flow step by step, and validating flow documents."""

from __future__ import annotations

import copy
import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from callcontrol.adapters.flow_files import load_flow_text
from callcontrol.core import identifiers, ivr
from callcontrol.core.ivr import (
    CollectDigit,
    DigitPressed,
    Done,
    Flow,
    FlowError,
    NoInput,
    Play,
    PlayAndHangUp,
    build_flow,
)
from tests.support.paths import REPO

MAIN_YAML = REPO / "ivr_flows" / "main.yaml"
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)

MAIN_DOC = {
    "id": "main",
    "numbers": ["5000"],
    "start": "greeting",
    "nodes": {
        "greeting": {"type": "play", "prompts": ["hello-world"], "next": "main_menu"},
        "main_menu": {
            "type": "menu",
            "prompts": ["vm-enter-num-to-call"],
            "options": {"1": "sales", "2": "support"},
            "timeout_s": 3,
            "max_attempts": 2,
            "no_input_prompts": ["vm-sorry"],
            "invalid_prompts": ["pm-invalid-option"],
            "exhausted": "goodbye",
        },
        "sales": {"type": "play", "prompts": ["queue-thankyou"], "next": "goodbye"},
        "support": {"type": "play", "prompts": ["demo-thanks"], "next": "goodbye"},
        "goodbye": {"type": "hangup", "prompts": ["vm-goodbye"]},
    },
}


def make_flow(doc: dict | None = None) -> Flow:
    flow, problems = build_flow(copy.deepcopy(doc or MAIN_DOC), source="test.yaml", version="v1")
    assert flow is not None, problems
    return flow


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def path_of(step: ivr.Step) -> list[tuple[str, str, str | None]]:
    return [(p.node, p.result, p.digit) for p in step.state.path]


@pytest.fixture
def main_flow() -> Flow:
    return make_flow()


# ---------------------------------------------------------------- walking the sample flow


def test_loader_and_hand_built_main_flow_are_the_same_graph(main_flow: Flow) -> None:
    """The shipped ivr_flows/main.yaml builds into the same nodes as the hand-written document used here."""
    loaded, problems = load_flow_text(MAIN_YAML.read_bytes(), str(MAIN_YAML))
    assert problems == []
    assert loaded is not None
    assert loaded.nodes == main_flow.nodes
    assert (loaded.start, loaded.numbers) == ("greeting", ("5000",))


def test_start_plays_the_greeting(main_flow: Flow) -> None:
    """Starting the flow enters the start node and asks to play its prompts."""
    step = ivr.start(main_flow, at(0))
    assert step.state.node_id == "greeting"
    assert step.effect == Play(("hello-world",))
    assert step.state.path == ()


def test_digit_1_goes_to_sales_then_goodbye(main_flow: Flow) -> None:
    """Pressing 1 at the menu plays the sales prompt, then the goodbye hangs up."""
    step = ivr.start(main_flow, at(0))
    step = ivr.advance(main_flow, step.state, Done(), at(1))
    assert step.effect == CollectDigit(("vm-enter-num-to-call",), 3000)
    step = ivr.advance(main_flow, step.state, DigitPressed("1"), at(2))
    assert step.state.node_id == "sales"
    assert step.effect == Play(("queue-thankyou",))
    step = ivr.advance(main_flow, step.state, Done(), at(3))
    assert step.effect == PlayAndHangUp(("vm-goodbye",))
    step = ivr.advance(main_flow, step.state, Done(), at(4))
    assert step.effect is None
    assert step.state.finished and step.state.end == "hangup"
    assert path_of(step) == [
        ("greeting", "played", None), ("main_menu", "digit", "1"), ("sales", "played", None),
        ("goodbye", "hangup", None),
    ]
    assert [p.at for p in step.state.path] == [at(1), at(2), at(3), at(4)]


def test_digit_2_goes_to_support(main_flow: Flow) -> None:
    """Pressing 2 at the menu plays the support prompt."""
    step = ivr.start(main_flow, at(0))
    step = ivr.advance(main_flow, step.state, Done(), at(1))
    step = ivr.advance(main_flow, step.state, DigitPressed("2"), at(2))
    assert step.state.node_id == "support"
    assert step.effect == Play(("demo-thanks",))


def test_no_input_twice_exhausts_the_menu_and_says_goodbye(main_flow: Flow) -> None:
    """Two timeouts at a menu with max_attempts 2 go to the exhausted node and the path records each."""
    step = ivr.start(main_flow, at(0))
    step = ivr.advance(main_flow, step.state, Done(), at(1))
    step = ivr.advance(main_flow, step.state, NoInput(), at(4))
    assert step.state.node_id == "main_menu" and step.state.attempts == 1
    step = ivr.advance(main_flow, step.state, NoInput(), at(8))
    assert step.state.node_id == "goodbye"
    step = ivr.advance(main_flow, step.state, Done(), at(9))
    assert step.state.end == "hangup"
    assert [(p.node, p.result) for p in step.state.path] == [
        ("greeting", "played"), ("main_menu", "no_input"), ("main_menu", "no_input"),
        ("main_menu", "exhausted"), ("goodbye", "hangup"),
    ]


def test_reprompt_after_no_input_plays_apology_then_menu(main_flow: Flow) -> None:
    """After a timeout the menu is offered again, preceded by the no-input apology."""
    step = ivr.advance(main_flow, ivr.start(main_flow, at(0)).state, Done(), at(1))
    step = ivr.advance(main_flow, step.state, NoInput(), at(4))
    assert step.effect == CollectDigit(("vm-sorry", "vm-enter-num-to-call"), 3000)


def test_reprompt_after_invalid_digit_plays_invalid_prompt_then_menu(main_flow: Flow) -> None:
    """After an unknown digit the menu is offered again, preceded by the invalid-option prompt."""
    step = ivr.advance(main_flow, ivr.start(main_flow, at(0)).state, Done(), at(1))
    step = ivr.advance(main_flow, step.state, DigitPressed("9"), at(2))
    assert step.effect == CollectDigit(("pm-invalid-option", "vm-enter-num-to-call"), 3000)


def test_invalid_digit_then_no_input_counts_both_attempts(main_flow: Flow) -> None:
    """An invalid digit and a timeout together use up the menu's two attempts."""
    step = ivr.advance(main_flow, ivr.start(main_flow, at(0)).state, Done(), at(1))
    step = ivr.advance(main_flow, step.state, DigitPressed("9"), at(2))
    step = ivr.advance(main_flow, step.state, NoInput(), at(5))
    assert step.state.node_id == "goodbye"
    assert path_of(step) == [
        ("greeting", "played", None), ("main_menu", "invalid", "9"), ("main_menu", "no_input", None),
        ("main_menu", "exhausted", None),
    ]


def test_valid_digit_after_a_retry_resets_attempts(main_flow: Flow) -> None:
    """A valid digit on the second attempt still routes to its option."""
    step = ivr.advance(main_flow, ivr.start(main_flow, at(0)).state, Done(), at(1))
    step = ivr.advance(main_flow, step.state, NoInput(), at(4))
    step = ivr.advance(main_flow, step.state, DigitPressed("1"), at(5))
    assert step.state.node_id == "sales" and step.state.attempts == 0


def test_max_attempts_1_exhausts_on_first_no_input() -> None:
    """A menu allowing one attempt goes straight to its exhausted node on the first timeout."""
    doc = copy.deepcopy(MAIN_DOC)
    doc["nodes"]["main_menu"]["max_attempts"] = 1
    flow = make_flow(doc)
    step = ivr.advance(flow, ivr.start(flow, at(0)).state, Done(), at(1))
    step = ivr.advance(flow, step.state, NoInput(), at(4))
    assert step.state.node_id == "goodbye"
    assert step.effect == PlayAndHangUp(("vm-goodbye",))
    assert [p.result for p in step.state.path] == ["played", "no_input", "exhausted"]


def test_finish_on_caller_hangup_records_the_current_node(main_flow: Flow) -> None:
    """finish() ends the walk where the caller was, with the given result and time."""
    step = ivr.advance(main_flow, ivr.start(main_flow, at(0)).state, Done(), at(1))
    step = ivr.advance(main_flow, step.state, NoInput(), at(4))
    ended = ivr.finish(step.state, "caller_hangup", at(6))
    assert ended.effect is None
    assert ended.state.finished and ended.state.end == "caller_hangup"
    assert ended.state.path[-1] == ivr.PathStep("main_menu", "caller_hangup", at(6))
    assert len(ended.state.path) == len(step.state.path) + 1


def test_advance_after_finish_raises(main_flow: Flow) -> None:
    """The engine refuses to advance a walk that already finished."""
    ended = ivr.finish(ivr.start(main_flow, at(0)).state, "caller_hangup", at(1))
    with pytest.raises(FlowError):
        ivr.advance(main_flow, ended.state, Done(), at(2))


def test_advance_after_hangup_node_raises(main_flow: Flow) -> None:
    """Once the hangup node has hung up, there is no further step."""
    state = ivr.IvrState("goodbye")
    ended = ivr.advance(main_flow, state, Done(), at(1))
    with pytest.raises(FlowError):
        ivr.advance(main_flow, ended.state, Done(), at(2))


@pytest.mark.parametrize(
    ("node_id", "outcome"),
    [("greeting", NoInput()), ("greeting", DigitPressed("1")), ("main_menu", Done()), ("goodbye", NoInput())],
)
def test_wrong_outcome_type_raises(main_flow: Flow, node_id: str, outcome: ivr.Outcome) -> None:
    """An outcome the current node cannot produce is a FlowError, not a silent transition."""
    with pytest.raises(FlowError):
        ivr.advance(main_flow, ivr.IvrState(node_id), outcome, at(1))


def test_play_cycle_ends_with_step_limit() -> None:
    """A play->play cycle is cut off with step_limit once the path reaches MAX_STEPS_PER_CALL."""
    flow = make_flow({
        "id": "loop", "numbers": ["1"], "start": "a",
        "nodes": {
            "a": {"type": "play", "prompts": ["beep"], "next": "b"},
            "b": {"type": "play", "prompts": ["beep"], "next": "a"},
        },
    })
    step = ivr.start(flow, at(0))
    advances = 0
    while step.effect is not None:
        step = ivr.advance(flow, step.state, Done(), at(advances))
        advances += 1
        assert advances <= ivr.MAX_STEPS_PER_CALL + 1
    assert step.state.end == "step_limit"
    assert len(step.state.path) == ivr.MAX_STEPS_PER_CALL + 1
    assert step.state.path[-1].result == "step_limit"


def test_path_step_as_dict_includes_digit_only_when_pressed() -> None:
    """A path step serialises its digit only for digit/invalid steps, and its time as ISO 8601."""
    assert ivr.PathStep("m", "digit", at(0), "1").as_dict() == {
        "node": "m", "result": "digit", "at": "2026-01-05T09:00:00+00:00", "digit": "1"}
    assert "digit" not in ivr.PathStep("m", "no_input", at(0)).as_dict()


# ---------------------------------------------------------------- property: every walk terminates


def walk(flow: Flow, rng: random.Random, no_input_weight: float = 0.3) -> tuple[ivr.Step, int]:
    step = ivr.start(flow, at(0))
    advances = 0
    while step.effect is not None:
        if isinstance(step.effect, CollectDigit):
            outcome: ivr.Outcome = NoInput() if rng.random() < no_input_weight else DigitPressed(
                rng.choice(sorted(ivr.DIGITS)))
        else:
            outcome = Done()
        advances += 1
        step = ivr.advance(flow, step.state, outcome, at(advances))
    return step, advances


def test_random_caller_input_always_ends_in_a_hangup_within_five_steps(main_flow: Flow) -> None:
    """Whatever a caller presses (or not) on main.yaml, the walk ends with the flow's hangup in at most 5 steps."""
    rng = random.Random(20260105)
    ends = set()
    for _ in range(3000):
        step, advances = walk(main_flow, rng)
        assert step.state.end == "hangup"
        assert step.state.path[-1].node == "goodbye"
        assert advances <= 5
        ends.add(tuple(p.node for p in step.state.path))
    # the random walks explored every route through the menu
    assert ("greeting", "main_menu", "sales", "goodbye") in ends
    assert ("greeting", "main_menu", "support", "goodbye") in ends
    assert ("greeting", "main_menu", "main_menu", "main_menu", "goodbye") in ends


def random_flow(rng: random.Random) -> dict:
    """A random valid flow: menus and plays over a handful of nodes, at least one hangup, cycles allowed."""
    ids = [f"n{i}" for i in range(rng.randint(2, 7))]
    nodes: dict[str, dict] = {ids[-1]: {"type": "hangup"}}
    for node_id in ids[:-1]:
        if rng.random() < 0.5:
            nodes[node_id] = {"type": "play", "prompts": ["beep"], "next": rng.choice(ids)}
        else:
            digits = rng.sample(sorted(ivr.DIGITS), rng.randint(1, 4))
            nodes[node_id] = {
                "type": "menu", "prompts": ["menu"], "options": {d: rng.choice(ids) for d in digits},
                "timeout_s": 1, "max_attempts": rng.randint(1, 3), "exhausted": rng.choice(ids),
            }
    return {"id": "random", "numbers": ["1"], "start": ids[0], "nodes": nodes}


def test_random_flows_always_terminate_within_the_step_limit() -> None:
    """Any valid flow, walked with any input, ends (hangup or step_limit) within MAX_STEPS_PER_CALL + 1 steps."""
    rng = random.Random(7)
    for _ in range(200):
        flow = make_flow(random_flow(rng))
        step, advances = walk(flow, rng)
        assert step.state.end in ("hangup", "step_limit")
        assert advances <= ivr.MAX_STEPS_PER_CALL + 1
        # an exhausted retry adds two entries (the last attempt and 'exhausted'), so the path may overshoot by one
        assert len(step.state.path) <= ivr.MAX_STEPS_PER_CALL + 2


# ---------------------------------------------------------------- validation


def errors(doc: object) -> list[ivr.Problem]:
    flow, problems = build_flow(doc, source="t.yaml", version="v")
    found = [p for p in problems if p.severity == "error"]
    assert (flow is None) == bool(found)
    return found


def has(problems: list[ivr.Problem], path: tuple, fragment: str) -> bool:
    return any(p.path == path and fragment in p.message for p in problems)


def test_valid_main_document_has_no_problems() -> None:
    """The main flow document builds with no errors and no warnings."""
    flow, problems = build_flow(copy.deepcopy(MAIN_DOC), source="t.yaml", version="abc")
    assert problems == []
    assert flow is not None and flow.version == "abc" and flow.source == "t.yaml"
    assert flow.nodes["main_menu"].timeout_ms == 3000


def test_build_flow_reports_every_error_at_once() -> None:
    """One pass over a broken document reports every mistake, each at its own path."""
    doc = {
        "id": "main",
        "numbers": [5000, "12a", "5001"],
        "start": "nowhere",
        "colour": "blue",
        "nodes": {
            "intro": {"type": "dance", "prompts": ["x"]},
            "greeting": {"type": "play", "prompts": ["hello-world", "../etc/passwd", "a b"], "next": "menu"},
            "menu": {
                "type": "menu", "prompts": ["vm-enter-num-to-call"], "options": {"12": "sales", "x": "sales",
                                                                                 "1": "ghost"},
                "timeout_s": 3, "exhausted": "goodbye", "max_attempts": 2, "colour": "red",
            },
            "sales": {"type": "play", "prompts": ["queue-thankyou"]},
            "goodbye": {"type": "hangup"},
        },
    }
    found = errors(doc)
    assert has(found, ("colour",), "unknown key 'colour'")
    assert has(found, ("numbers", 0), "5000 is not a dialled number (quote it")
    assert has(found, ("numbers", 1), "'12a' is not a dialled number")
    assert not any(p.path == ("numbers", 2) for p in found)
    assert has(found, ("start",), "start node 'nowhere' is not defined")
    assert has(found, ("nodes", "intro", "type"), "unknown node type 'dance'")
    assert has(found, ("nodes", "greeting", "prompts", 1), "'../etc/passwd' is not a sound name")
    assert has(found, ("nodes", "greeting", "prompts", 2), "'a b' is not a sound name")
    assert has(found, ("nodes", "menu", "options", "12"), "must be one digit")
    assert has(found, ("nodes", "menu", "options", "x"), "must be one digit")
    assert has(found, ("nodes", "menu", "options", "1"), "exit to unknown node 'ghost'")
    assert has(found, ("nodes", "menu", "colour"), "unknown key 'colour'")
    assert has(found, ("nodes", "sales"), "missing required key 'next'")
    # nothing else is flagged (a missing 'next' may also be reported at the 'next' path itself)
    assert {p.path for p in found} <= {
        ("colour",), ("numbers", 0), ("numbers", 1), ("start",), ("nodes", "intro", "type"),
        ("nodes", "greeting", "prompts", 1), ("nodes", "greeting", "prompts", 2), ("nodes", "menu", "options", "12"),
        ("nodes", "menu", "options", "x"), ("nodes", "menu", "options", "1"), ("nodes", "menu", "colour"),
        ("nodes", "sales"), ("nodes", "sales", "next"),
    }


def test_missing_top_level_keys_are_each_reported() -> None:
    """A document without id, start and nodes names each missing key (numbers may be left out)."""
    found = errors({"description": "nothing else"})
    assert not has(found, (), "missing required key 'numbers'")
    for key in ("id", "start", "nodes"):
        assert has(found, (), f"missing required key '{key}'")


def test_non_mapping_document_is_an_error() -> None:
    """A document that is a list (or scalar) is rejected with one clear error."""
    assert has(errors(["id", "main"]), (), "must be a mapping")
    assert has(errors("main"), (), "must be a mapping")


@pytest.mark.parametrize("bad", ["../etc/passwd", "a b", "", "/abs", "x/", "hello\n", "semi;colon", 7, None])
def test_bad_sound_names_are_rejected(bad: object) -> None:
    """A prompt that is not a plain relative sound name (no traversal, spaces, newlines) is an error."""
    doc = copy.deepcopy(MAIN_DOC)
    doc["nodes"]["sales"]["prompts"] = ["queue-thankyou", bad]
    assert has(errors(doc), ("nodes", "sales", "prompts", 1), "is not a sound name")


@pytest.mark.parametrize("good", ["hello-world", "digits/1", "custom/en/welcome_2", "_x"])
def test_plain_sound_names_are_accepted(good: str) -> None:
    """Relative sound names with letters, digits, _ - and / build without errors."""
    doc = copy.deepcopy(MAIN_DOC)
    doc["nodes"]["sales"]["prompts"] = [good]
    assert errors(doc) == []


@pytest.mark.parametrize("digit", ["12", "x", "", "A", 1.5])
def test_bad_option_digits_are_rejected(digit: object) -> None:
    """Menu option keys must be one of 0-9, * or #."""
    doc = copy.deepcopy(MAIN_DOC)
    doc["nodes"]["main_menu"]["options"][digit] = "sales"
    assert has(errors(doc), ("nodes", "main_menu", "options", str(digit)), "must be one digit")


def test_integer_option_keys_are_accepted_as_digits() -> None:
    """An unquoted YAML key like 1: is read as the digit '1'."""
    doc = copy.deepcopy(MAIN_DOC)
    doc["nodes"]["main_menu"]["options"] = {1: "sales", "#": "support"}
    flow = make_flow(doc)
    assert flow.nodes["main_menu"].options == {"1": "sales", "#": "support"}


@pytest.mark.parametrize(
    ("key", "value"),
    [("timeout_s", 0), ("timeout_s", 61), ("timeout_s", "3"), ("timeout_s", True),
     ("max_attempts", 0), ("max_attempts", 11), ("max_attempts", 2.5), ("max_attempts", True)],
)
def test_menu_limits_out_of_range_are_rejected(key: str, value: object) -> None:
    """timeout_s must be 0.5-60 seconds and max_attempts a whole number 1-10."""
    doc = copy.deepcopy(MAIN_DOC)
    doc["nodes"]["main_menu"][key] = value
    assert any(p.path == ("nodes", "main_menu", key) for p in errors(doc))


def test_numbers_must_be_a_list_and_may_be_left_out() -> None:
    """Numbers are a list; a flow without numbers answers none (other flows reach it by subflow or goto)."""
    for numbers in ("5000", None, 5000):
        doc = copy.deepcopy(MAIN_DOC)
        doc["numbers"] = numbers
        assert has(errors(doc), ("numbers",), "must be a list of dialled numbers")
    for numbers in ([], "absent"):
        doc = copy.deepcopy(MAIN_DOC)
        if numbers == "absent":
            del doc["numbers"]
        else:
            doc["numbers"] = numbers
        assert errors(doc) == []


@pytest.mark.parametrize("flow_id", ["Main", "1main", "ma in", "main\n", "", 5])
def test_flow_id_must_be_a_lowercase_identifier(flow_id: object) -> None:
    """The flow id is a lowercase identifier (it ends up in logs and the database)."""
    doc = copy.deepcopy(MAIN_DOC)
    doc["id"] = flow_id
    assert has(errors(doc), ("id",), "lowercase identifier")


def test_start_and_type_of_the_wrong_kind_are_errors_not_crashes() -> None:
    """A list where a name is expected (start: [a], type: [play]) is reported, not a TypeError."""
    doc = copy.deepcopy(MAIN_DOC)
    doc["start"] = ["greeting"]
    doc["nodes"]["sales"]["type"] = ["play"]
    found = errors(doc)
    assert has(found, ("start",), "is not defined")
    assert has(found, ("nodes", "sales", "type"), "unknown node type")


def test_menu_without_prompt_is_an_error() -> None:
    """A menu must tell the caller the options."""
    doc = copy.deepcopy(MAIN_DOC)
    doc["nodes"]["main_menu"]["prompts"] = []
    assert has(errors(doc), ("nodes", "main_menu", "prompts"), "a menu needs a prompt")


def test_unreachable_node_is_a_warning_not_an_error() -> None:
    """A node no path leads to is reported as a warning and the flow still builds."""
    doc = copy.deepcopy(MAIN_DOC)
    doc["nodes"]["orphan"] = {"type": "hangup"}
    flow, problems = build_flow(doc, source="t.yaml", version="v")
    assert flow is not None
    assert problems == [ivr.Problem(("nodes", "orphan"), "node 'orphan' is unreachable from start 'greeting'",
                                    "warning")]


@pytest.mark.parametrize(
    ("grammar", "value"),
    [(identifiers.SOUND_NAME, "hello-world\n"), (identifiers.DTMF_DIGITS, "12\n"),
     (identifiers.VARIABLE_NAME, "DONE\n"), (identifiers.VARIABLE_VALUE, "1\n"), (identifiers.IDENTIFIER, "main\n"),
     (identifiers.ASTERISK_ID, "1767603600.1\n"), (identifiers.DIALED_NUMBER, "5000\n")],
)
def test_token_grammars_reject_a_trailing_newline(grammar: re.Pattern[str], value: str) -> None:
    """A token followed by a newline (which would end an AGI command line early) does not match."""
    assert grammar.match(value.rstrip("\n"))
    assert not grammar.match(value)
