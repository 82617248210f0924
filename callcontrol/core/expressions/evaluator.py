"""The expression evaluator: a syntax tree's value over an environment of names, strictly typed."""

from __future__ import annotations

import math
from collections.abc import Mapping

from callcontrol.core.expressions.errors import EvaluationError
from callcontrol.core.expressions.limits import MAX_DEPTH, MAX_INTEGER, MAX_STRING_LENGTH, MAX_SUBJECT_LENGTH
from callcontrol.core.expressions.patterns import PatternProblem, compile_pattern
from callcontrol.core.expressions.syntax import (
    Arithmetic,
    Comparison,
    ListOf,
    Literal,
    Logical,
    Match,
    Name,
    Negate,
    Node,
    Not,
)

_ORDERINGS = frozenset({"<", "<=", ">", ">="})



def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, tuple):
        return "list"
    return type(value).__name__


def _describe(value: object) -> str:
    kind = _kind(value)
    if kind == "null":
        return "null"
    if kind == "boolean":
        return "boolean " + ("true" if value else "false")
    shown = repr(value)
    return f"{kind} {shown if len(shown) <= 30 else shown[:27] + '...'}"


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _read(node: Name, env: Mapping[str, object]) -> object:
    if node.name not in env:
        raise EvaluationError(f"unknown variable '{node.name}'", node.column)
    value = _admit(env[node.name], 0)
    if value is _UNSUPPORTED:
        raise EvaluationError(f"variable '{node.name}' holds a value that is not null, boolean, number, string "
                              f"or a list of those ({type(env[node.name]).__name__})", node.column)
    return value


_UNSUPPORTED = object()


def _admit(value: object, depth: int) -> object:
    """The value as the language sees it (lists as tuples, nested at most MAX_DEPTH), or _UNSUPPORTED."""
    if _scalar(value):
        return value
    if isinstance(value, (list, tuple)) and depth < MAX_DEPTH:
        items = tuple(_admit(item, depth + 1) for item in value)
        return _UNSUPPORTED if any(item is _UNSUPPORTED for item in items) else items
    return _UNSUPPORTED


def _equal(left: object, right: object) -> bool:
    kind = _kind(left)
    if kind != _kind(right):
        return False
    if kind == "list":
        return len(left) == len(right) and all(  # type: ignore[arg-type]
            _equal(a, b) for a, b in zip(left, right))  # type: ignore[call-overload]
    return left == right


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked_number(value: int | float, column: int) -> int | float:
    if isinstance(value, int):
        if abs(value) > MAX_INTEGER:
            raise EvaluationError("integer out of range (more than 64 bits)", column)
    elif not math.isfinite(value):
        raise EvaluationError("number out of range", column)
    return value


def _arithmetic(op: str, left: object, right: object, column: int) -> object:
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        if len(left) + len(right) > MAX_STRING_LENGTH:
            raise EvaluationError(f"string too long (more than {MAX_STRING_LENGTH} characters)", column)
        return left + right
    if not (_is_number(left) and _is_number(right)):
        wanted = "two numbers or two strings" if op == "+" else "two numbers"
        raise EvaluationError(f"'{op}' needs {wanted}, got {_describe(left)} and {_describe(right)}", column)
    a, b = left, right  # both int | float here
    try:
        if op == "+":
            result = a + b  # type: ignore[operator]
        elif op == "-":
            result = a - b  # type: ignore[operator]
        elif op == "*":
            result = a * b  # type: ignore[operator]
        elif op == "/":
            result = a / b  # type: ignore[operator]
        else:
            result = a % b  # type: ignore[operator]
    except ZeroDivisionError:
        raise EvaluationError(f"'{op}' by zero", column) from None
    except OverflowError:
        raise EvaluationError("number out of range", column) from None
    return _checked_number(result, column)


def _membership(op: str, container: object, item: object, column: int) -> bool:
    if isinstance(container, tuple):
        return any(_equal(item, member) for member in container)
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    if op == "contains":
        raise EvaluationError(f"'contains' needs a list or two strings, got {_describe(container)} and "
                              f"{_describe(item)}", column)
    raise EvaluationError(f"'{op}' needs a list or two strings, got {_describe(item)} and {_describe(container)}",
                          column)


def _compare(node: Comparison, left: object, right: object) -> bool:
    op = node.op
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op in _ORDERINGS:
        if not ((_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))):
            raise EvaluationError(f"'{op}' compares two numbers or two strings, got {_describe(left)} and "
                                  f"{_describe(right)}", node.column)
        if op == "<":
            return left < right  # type: ignore[operator]
        if op == "<=":
            return left <= right  # type: ignore[operator]
        if op == ">":
            return left > right  # type: ignore[operator]
        return left >= right  # type: ignore[operator]
    if op == "in":
        return _membership(op, right, left, node.column)
    if op == "not in":
        return not _membership(op, right, left, node.column)
    if op == "contains":
        return _membership(op, left, right, node.column)
    if not (isinstance(left, str) and isinstance(right, str)):
        raise EvaluationError(f"'{op}' needs two strings, got {_describe(left)} and {_describe(right)}", node.column)
    return left.startswith(right) if op == "starts_with" else left.endswith(right)


def _boolean(value: object, word: str, column: int) -> bool:
    if not isinstance(value, bool):
        raise EvaluationError(f"'{word}' needs true or false, got {_describe(value)}", column)
    return value


def evaluate(node: Node, env: Mapping[str, object]) -> object:
    # Recursion is bounded: the parser caps nesting at MAX_DEPTH and chains are flat n-ary nodes.
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        return _read(node, env)
    if isinstance(node, Logical):
        stop = node.op == "or"  # `or` stops at the first true, `and` at the first false
        for index, operand in enumerate(node.operands):
            column = node.columns[max(index - 1, 0)]
            if _boolean(evaluate(operand, env), node.op, column) is stop:
                return stop
        return not stop
    if isinstance(node, Not):
        return not _boolean(evaluate(node.operand, env), "not", node.column)
    if isinstance(node, Comparison):
        return _compare(node, evaluate(node.left, env), evaluate(node.right, env))
    if isinstance(node, Arithmetic):
        value = evaluate(node.first, env)
        for op, column, operand in node.rest:
            value = _arithmetic(op, value, evaluate(operand, env), column)
        return value
    if isinstance(node, Negate):
        value = evaluate(node.operand, env)
        if not _is_number(value):
            raise EvaluationError(f"'-' needs a number, got {_describe(value)}", node.column)
        return _checked_number(-value, node.column)  # type: ignore[operator]
    if isinstance(node, ListOf):
        return tuple(evaluate(item, env) for item in node.items)
    return _match(node, env)


def _match(node: Match, env: Mapping[str, object]) -> bool:
    subject = evaluate(node.subject, env)
    compiled = node.compiled
    if compiled is None:
        pattern = evaluate(node.pattern, env)
        if not isinstance(pattern, str):
            raise EvaluationError(f"the pattern of 'matches' must be a string, got {_describe(pattern)}",
                                  node.column)
        try:
            compiled = compile_pattern(pattern)
        except PatternProblem as problem:
            raise EvaluationError(str(problem), node.column) from None
    if not isinstance(subject, str):
        raise EvaluationError(f"'matches' needs a string on the left, got {_describe(subject)}", node.column)
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise EvaluationError(f"text too long for 'matches' ({len(subject)} characters, at most "
                              f"{MAX_SUBJECT_LENGTH})", node.column)
    return compiled.search(subject) is not None
