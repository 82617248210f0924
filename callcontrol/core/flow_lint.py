"""Flow lint: warnings about valid flows that almost surely do not do what their author meant."""

from __future__ import annotations

from collections.abc import Iterator

from callcontrol.core.expressions import Comparison, Expression, ListOf, Literal, Name, Negate, Node
from callcontrol.core.ivr import Flow, HttpNode, InputNode, Problem, SetNode, SurveyNode, node_expressions

_EQUALITIES_AND_ORDERINGS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_MEMBERSHIPS = frozenset({"in", "not in"})


def digit_comparison_warnings(flow: Flow) -> list[Problem]:
    """Warn where an expression compares digits an input node stored (text, e.g. "1") with a number (1).

    `vars.choice == 1` is always false when an input node wrote vars.choice, and `vars.choice < 5` fails.
    A variable counts as such digits when an input node writes it and every other writer stores text or
    null in it (a set node assigning a string or null literal); one that a survey (a score), an http result
    or a set node with any other value may write can hold a number, and is left alone.
    """
    entered_at = _digit_variables(flow)
    problems: list[Problem] = []
    for path, expression in _expressions(flow):
        for comparison in expression.comparisons():
            found = _digits_against_number(comparison, entered_at)
            if found is None:
                continue
            variable, number = found
            nodes = " and ".join(f"'{node_id}'" for node_id in entered_at[variable])
            problem = Problem(path, f"vars.{variable} holds the digits entered at {nodes} as text; compare with "
                                    f"{_as_text(number)}, not {_as_written(number)}", "warning")
            if problem not in problems:
                problems.append(problem)
    return problems


def _digit_variables(flow: Flow) -> dict[str, list[str]]:
    """Variables that only ever hold text from input nodes (or null): variable -> the input nodes writing it."""
    entered_at: dict[str, list[str]] = {}
    maybe_numbers: set[str] = set()
    for node in flow.nodes.values():
        if isinstance(node, InputNode):
            entered_at.setdefault(node.variable, []).append(node.id)
        elif isinstance(node, SurveyNode):
            maybe_numbers.update(question.variable for question in node.questions)
        elif isinstance(node, HttpNode):
            maybe_numbers.update(variable for variable, _ in node.result)
        elif isinstance(node, SetNode):
            maybe_numbers.update(variable for variable, expression in node.assignments
                                 if not _is_text_or_null(expression.root))
    return {variable: nodes for variable, nodes in entered_at.items() if variable not in maybe_numbers}


def _expressions(flow: Flow) -> Iterator[tuple[tuple[str | int, ...], Expression]]:
    """Every expression of the flow with its path in the document (where its warning is shown)."""
    for node_id, node in flow.nodes.items():
        for where, expression in node_expressions(node):
            yield ("nodes", node_id, *where), expression


def _digits_against_number(comparison: Comparison, entered_at: dict[str, list[str]]) -> tuple[str, Node] | None:
    """(variable, the number or list of numbers) when the comparison sets entered digits against numbers."""
    if comparison.op in _EQUALITIES_AND_ORDERINGS:
        pairs = [(comparison.left, comparison.right), (comparison.right, comparison.left)]
        compared_with_numbers = _is_number
    elif comparison.op in _MEMBERSHIPS:
        pairs = [(comparison.left, comparison.right)]
        compared_with_numbers = _is_list_with_numbers
    else:
        return None
    for name, other in pairs:
        variable = _digit_variable(name, entered_at)
        if variable is not None and compared_with_numbers(other):
            return variable, other
    return None


def _digit_variable(node: Node, entered_at: dict[str, list[str]]) -> str | None:
    """X when the node reads vars.X and X holds entered digits."""
    if isinstance(node, Name) and node.name.startswith("vars.") and node.name[len("vars."):] in entered_at:
        return node.name[len("vars."):]
    return None


def _is_number(node: Node) -> bool:
    """A number literal: 1, 1.5, or a negated one."""
    if isinstance(node, Negate):
        return _is_number(node.operand)
    return isinstance(node, Literal) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _is_text_or_null(node: Node) -> bool:
    return isinstance(node, Literal) and (node.value is None or isinstance(node.value, str))


def _is_list_with_numbers(node: Node) -> bool:
    """A list of literals (numbers and text), at least one of them a number."""
    return isinstance(node, ListOf) and any(_is_number(item) for item in node.items) and all(
        _is_number(item) or _is_text_or_null(item) for item in node.items)


def _as_written(node: Node) -> str:
    """A literal (number, text, null or a list of them) as an expression would write it."""
    if isinstance(node, ListOf):
        return "[" + ", ".join(_as_written(item) for item in node.items) + "]"
    if isinstance(node, Negate):
        return "-" + _as_written(node.operand)
    assert isinstance(node, Literal)
    if node.value is None:
        return "null"
    return f'"{node.value}"' if isinstance(node.value, str) else str(node.value)


def _as_text(node: Node) -> str:
    """The same literal with its numbers written as text, as the entered digits are."""
    if isinstance(node, ListOf):
        return "[" + ", ".join(_as_text(item) for item in node.items) + "]"
    return f'"{_as_written(node)}"' if _is_number(node) else _as_written(node)
