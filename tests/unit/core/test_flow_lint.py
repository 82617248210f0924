"""Flow lint (callcontrol.core.flow_lint): warnings about entered digits compared with numbers."""

from __future__ import annotations

from typing import Any

import pytest

from callcontrol.core import ivr
from callcontrol.core.flow_lint import digit_comparison_warnings

CHOICE_IS_TEXT = "vars.choice holds the digits entered at 'ask_choice' as text"


def flow_with(*extra_nodes: tuple[str, dict[str, Any]], variable: str = "choice") -> ivr.Flow:
    """A valid flow: an input node storing `variable`, then the extra nodes in order, then a hangup."""
    ids = [node_id for node_id, _ in extra_nodes] + ["bye"]
    nodes: dict[str, Any] = {
        "ask_choice": {"type": "input", "prompts": ["vm-enter-num-to-call"], "variable": variable, "max_digits": 2,
                       "next": ids[0], "exhausted": "bye"},
    }
    for (node_id, node), following in zip(extra_nodes, ids[1:]):
        node = dict(node)
        if node["type"] == "branch":
            node.setdefault("default", following)
        elif node["type"] != "hangup":
            node.setdefault("next", following)
        nodes[node_id] = node
    nodes["bye"] = {"type": "hangup"}
    flow, problems = ivr.build_flow({"id": "lint", "numbers": ["7000"], "start": "ask_choice", "nodes": nodes},
                                    source="lint.yaml", version="v1")
    assert flow is not None, problems
    return flow


def branch(*conditions: str) -> tuple[str, dict[str, Any]]:
    return "route", {"type": "branch", "cases": [{"when": when, "goto": "bye"} for when in conditions]}


@pytest.mark.parametrize(("condition", "advice"), [
    ("vars.choice == 1", 'compare with "1", not 1'),
    ("1 != vars.choice", 'compare with "1", not 1'),
    ("vars.choice >= 10", 'compare with "10", not 10'),
    ("vars.choice == -1", 'compare with "-1", not -1'),
    ("vars.choice in [1, 2]", 'compare with ["1", "2"], not [1, 2]'),
    ("vars.choice not in [1, \"2\"]", 'compare with ["1", "2"], not [1, "2"]'),
    ("caller.number == '1' or (vars.choice == 2.5 and true)", 'compare with "2.5", not 2.5'),
])
def test_entered_digits_compared_with_a_number_are_warned(condition: str, advice: str) -> None:
    """Each way of comparing an input's variable with a number literal is a warning at the case's `when`."""
    warnings = digit_comparison_warnings(flow_with(branch(condition)))
    assert warnings == [ivr.Problem(("nodes", "route", "cases", 0, "when"), f"{CHOICE_IS_TEXT}; {advice}", "warning")]


@pytest.mark.parametrize("condition", [
    'vars.choice == "1"',
    "vars.choice in ['1', '2']",
    "vars.choice starts_with '1'",
    "vars.choice matches '^1$'",
    "vars.choice == vars.other",
    "time.hour >= 9",
])
def test_text_comparisons_are_not_warned(condition: str) -> None:
    """Comparing the digits with text, a pattern or another name is not warned."""
    other = ("keep", {"type": "set", "assign": {"other": "'1'"}})
    assert digit_comparison_warnings(flow_with(other, branch(condition))) == []


def test_warnings_point_at_set_assignments_say_values_and_later_cases() -> None:
    """A set assignment, a say value and the second case of a branch are each located by their own path."""
    flow = flow_with(
        ("remember", {"type": "set", "assign": {"first": "true", "is_one": "vars.choice == 1"}}),
        ("read_back", {"type": "say", "number": "vars.choice + (vars.choice < 3)"}),
        branch("vars.choice == '1'", "vars.choice != 9"),
    )
    assert [(problem.path, problem.message.split("; ")[1]) for problem in digit_comparison_warnings(flow)] == [
        (("nodes", "remember", "assign", "is_one"), 'compare with "1", not 1'),
        (("nodes", "read_back", "number"), 'compare with "3", not 3'),
        (("nodes", "route", "cases", 1, "when"), 'compare with "9", not 9'),
    ]


def test_a_variable_set_to_null_or_text_first_is_still_digits() -> None:
    """Setting the variable to null or text before the input (the documented pattern) keeps the warning."""
    flow = flow_with(("reset", {"type": "set", "assign": {"choice": "null"}}), branch("vars.choice == 1"))
    assert [problem.message for problem in digit_comparison_warnings(flow)] == [
        f'{CHOICE_IS_TEXT}; compare with "1", not 1']


def test_survey_scores_are_numbers_and_are_not_warned() -> None:
    """A survey stores scores as numbers: comparing a survey variable with a number is right."""
    survey = ("ask_score", {"type": "survey", "questions": [{"prompts": ["demo-thanks"], "variable": "score"}]})
    assert digit_comparison_warnings(flow_with(survey, branch("vars.score >= 4", "vars.score in [1, 2]"))) == []


def test_variables_no_input_node_writes_are_not_warned() -> None:
    """A number a set node stores is compared with numbers rightly: no warning."""
    flow = flow_with(("count", {"type": "set", "assign": {"tries": "1"}}), branch("vars.tries == 1"))
    assert digit_comparison_warnings(flow) == []


def test_an_input_variable_a_set_node_may_turn_into_a_number_is_not_warned() -> None:
    """When a set node also writes the input's variable with a computed value, its kind is unknown: no warning."""
    flow = flow_with(("convert", {"type": "set", "assign": {"choice": "vars.choice == '1'"}}),
                     branch("vars.choice == 1"))
    assert digit_comparison_warnings(flow) == []


def test_a_flow_without_comparisons_has_no_warnings() -> None:
    """The input alone, with no expression reading it, gives nothing."""
    assert digit_comparison_warnings(flow_with()) == []
