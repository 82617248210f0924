"""The safe expression language of IVR flows (callcontrol.core.expressions): parsing, evaluation, errors, limits."""

from __future__ import annotations

import ast
import pickle
import random
import re
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from callcontrol.core import expressions
from callcontrol.core.expressions import (
    MAX_DEPTH,
    MAX_TEXT_LENGTH,
    EvaluationError,
    Expression,
    ExpressionError,
    parse,
)

ENV: dict[str, object] = {
    "caller.number": "+33123456789",
    "vars.account": "123456",
    "vars.tries": 2,
    "vars.ratio": 0.5,
    "vars.vip": True,
    "vars.nothing": None,
    "vars.tags": ["gold", "fr"],
    "time.hour": 9,
    "time.weekday": "mon",
    "queue.agents_available": 0,
    "lang": "fr",
}


def value(text: str, env: dict[str, object] | None = None) -> object:
    return parse(text).evaluate(ENV if env is None else env)


def parse_error(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    return caught.value


def evaluation_error(text: str, env: dict[str, object] | None = None) -> EvaluationError:
    expression = parse(text)
    with pytest.raises(EvaluationError) as caught:
        expression.evaluate(ENV if env is None else env)
    return caught.value


# ---------------------------------------------------------------- the examples administrators write


@pytest.mark.parametrize(("text", "expected"), [
    ('caller.number starts_with "+33" and not (queue.agents_available == 0)', False),
    ('vars.account matches "^[0-9]{6}$"', True),
    ('time.hour >= 9 and time.weekday in ["mon", "tue"]', True),
    ("vars.tries + 1", 3),
    ("lang == 'fr' or lang == \"de\"", True),
])
def test_documented_examples(text: str, expected: object) -> None:
    """The example conditions from the flow documentation evaluate as an administrator expects."""
    assert value(text) == expected


# ---------------------------------------------------------------- precedence and operators


@pytest.mark.parametrize(("text", "expected"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 4 - 3", 3),
    ("16 / 4 / 2", 2.0),
    ("7 - 2 * 3 % 4", 5),
    ("-2 * 3", -6),
    ("- -2", 2),
    ("2 * -3 + 1", -5),
    ("1 + 2 == 3", True),
    ("not 1 == 2", True),
    ("not true or true", True),
    ("not (true or true)", False),
    ("true or false and false", True),
    ("(true or false) and false", False),
    ("false and false or true", True),
    ("1 < 2 and 2 < 3 or false", True),
    ("1 + 1 in [2, 3]", True),
    ('"a" + "b" == "ab"', True),
])
def test_precedence(text: str, expected: object) -> None:
    """or < and < not < comparison < + - < * / % < unary minus, binary levels left-associative."""
    result = value(text)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("3 == 3", True), ("3 == 4", False), ("3 != 4", True), ("3 != 3", False),
    ("2 < 3", True), ("3 < 3", False), ("3 <= 3", True), ("4 <= 3", False),
    ("4 > 3", True), ("3 > 3", False), ("3 >= 3", True), ("2 >= 3", False),
    ('"abc" < "abd"', True), ('"b" >= "a"', True), ("1 < 1.5", True),
    ("2 + 3", 5), ("2.5 + 0.5", 3.0), ('"ab" + "cd"', "abcd"), ("5 - 7", -2),
    ("4 * 2.5", 10.0), ("7 / 2", 3.5), ("7 % 3", 1), ("-7 % 3", 2), ("-vars.tries", -2),
    ("true and true", True), ("true and false", False), ("false or true", True), ("false or false", False),
    ("not false", True), ("not vars.vip", False),
    ('"fr" in ["fr", "de"]', True), ('"it" in ["fr", "de"]', False), ('"it" not in ["fr", "de"]', True),
    ('"23" in "1234"', True), ('"9" not in "1234"', True),
    ('caller.number starts_with "+33"', True), ('caller.number starts_with "33"', False),
    ('caller.number ends_with "789"', True), ('caller.number ends_with "+33"', False),
    ('caller.number contains "1234"', True), ('caller.number contains "999"', False),
    ('vars.tags contains "gold"', True), ('vars.tags contains "silver"', False),
    ('caller.number matches "^\\+33"', True), ('caller.number matches "^33"', False),
    ('vars.account matches "34"', True),
    ("true", True), ("false", False), ("null", None), ("42", 42), ("4.25", 4.25), ("007", 7),
    ("[1, 'a', null]", (1, "a", None)), ("[]", ()), ("vars.tags", ("gold", "fr")),
])
def test_every_operator(text: str, expected: object) -> None:
    """Each operator, literal and variable read produces the documented value."""
    result = value(text)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ('1 == "1"', False), ("true == 1", False), ("0 == false", False), ("null == null", True),
    ("null == false", False), ("vars.nothing == null", True), ("1 == 1.0", True), ("[1, [2]] == [1, [2]]", True),
    ("[1, 2] == [1, 2.0]", True), ('[1, 2] == [1, "2"]', False), ("[1] == [1, 2]", False),
    ("1 in [true]", False), ("true in [1]", False), ('1 in ["1"]', False), ("null in [null]", True),
    ('vars.tags == ["gold", "fr"]', True),
])
def test_equality_never_coerces(text: str, expected: bool) -> None:
    """== and membership compare kinds strictly: "1" is not 1, true is not 1, null equals only null."""
    assert value(text) is expected


def test_decimals_are_floats() -> None:
    """Decimal literals evaluate as floats, with float rounding (0.1 + 0.2 is not exactly 0.3)."""
    assert value("0.1 + 0.2") == 0.1 + 0.2
    assert value("0.1 + 0.2 == 0.3") is False
    assert value("vars.ratio * 4") == 2.0


# ---------------------------------------------------------------- strings


@pytest.mark.parametrize(("text", "expected"), [
    ("'it\\'s'", "it's"),
    ('"say \\"hi\\""', 'say "hi"'),
    ('"back\\\\slash"', "back\\slash"),
    ("'\\\\'", "\\"),
    ('"it\'s"', "it's"),
    ("'say \"hi\"'", 'say "hi"'),
    ('"\\d{6}"', "\\d{6}"),
    ('"a\\nb"', "a\\nb"),
    ('""', ""),
    ("'caf\u00e9 \u2603'", "caf\u00e9 \u2603"),
])
def test_string_escapes(text: str, expected: str) -> None:
    """Backslash escapes only quotes and itself; any other backslash stays, so regex classes read naturally."""
    assert value(text) == expected


def test_regex_backslash_needs_no_doubling() -> None:
    """A pattern written as in a regex tutorial ("^\\d{6}$") works without doubling the backslash."""
    assert value('vars.account matches "^\\d{6}$"') is True
    assert value('vars.account matches "^\\\\d{6}$"') is True
    assert value('"a.b" matches "^a\\.b$"') is True
    assert value('"axb" matches "^a\\.b$"') is False


# ---------------------------------------------------------------- lists, in, not in


def test_lists_and_membership() -> None:
    """List literals hold any expressions and 'in' / 'not in' test membership with strict equality."""
    env = {**ENV, "day": "tue", "digit": "3"}
    assert value('day in ["mon", "tue"]', env) is True
    assert value('day not in ["mon", "tue"]', env) is False
    assert value("digit in [1, 2, 3]", env) is False
    assert value('digit in ["1", "2", "3"]', env) is True
    assert value("vars.tries + 1 in [vars.tries * 1 + 1, 99]", env) is True
    assert value("[[1, 2], [3]] contains [3]", env) is True
    assert value("1 in []", env) is False
    assert value('"gold" in vars.tags', env) is True
    assert value("[vars.tries, lang]", env) == (2, "fr")


@pytest.mark.parametrize("text", ["1 in 5", '"a" in null', '1 in "123"', '"a" not in 3', "1 contains 1",
                                  '"abc" contains 1', "vars.tags < vars.tags", "[1] + [2]"])
def test_membership_type_errors(text: str) -> None:
    """'in' and 'contains' need a list, or two strings; lists have no ordering or concatenation."""
    evaluation_error(text)


# ---------------------------------------------------------------- matches


def test_matches_is_search_semantics() -> None:
    """'matches' is re.search: unanchored patterns match anywhere, ^ and $ make a whole match."""
    assert value('"abc123" matches "[0-9]+"') is True
    assert value('"abc123" matches "^[0-9]+$"') is False
    assert value('"ABC" matches "(?i)^abc$"') is True


def test_literal_pattern_compiled_at_parse_time() -> None:
    """A literal pattern is compiled once when the expression is parsed, not on every evaluation."""
    expression = parse('lang matches "^f"')
    assert isinstance(expression.root, expressions.Match)
    assert expression.root.compiled is not None and expression.root.compiled.pattern == "^f"


def test_pattern_from_a_variable() -> None:
    """A pattern read from a variable is checked and compiled at evaluation; a bad one is an EvaluationError."""
    assert value("vars.account matches p", {**ENV, "p": "^1"}) is True
    error = evaluation_error("vars.account matches p", {**ENV, "p": "(unclosed"})
    assert "invalid regular expression" in str(error)
    assert "exponential" in str(evaluation_error("vars.account matches p", {**ENV, "p": "(a*)*$"}))
    assert "must be a string" in str(evaluation_error("vars.account matches p", {**ENV, "p": 5}))


@pytest.mark.parametrize(("text", "column"), [
    ('x matches "("', 11),
    ('x matches "[a-"', 11),
    ('caller.number matches "a{2,1}"', 23),
    ("x matches 'a)'", 11),
])
def test_invalid_regex_is_a_parse_error(text: str, column: int) -> None:
    """An invalid literal pattern is an ExpressionError pointing at the pattern's string."""
    error = parse_error(text)
    assert error.column == column
    assert error.message.startswith("invalid regular expression")


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a*)*b", "(x+x+)+y", "(\\d{2,3})+$", "^(a|b+)*$", "((ab)*c)*$",
                                     "(a+){4}b", "(a{1,9}){1,9}b", "(?:a|(?:b{1,5}))*"])
def test_nested_quantifiers_are_refused(pattern: str) -> None:
    """A variable repeat inside a repeat (catastrophic backtracking) is refused at parse time."""
    assert "repeats a repetition" in parse_error(f'x matches "{pattern}"').message


@pytest.mark.parametrize("pattern", ["(a++)+$", "(?>a+)+$", "(\\d{3}-)+\\d{4}$", "(a?b)+", "^[0-9]{6}$", "a+b*c?",
                                     "^(\\d{1,3}\\.){3}\\d{1,3}$", "^(0|\\+33)[1-9]( ?[0-9]{2}){4}$"])
def test_safe_repetitions_are_accepted(pattern: str) -> None:
    """Fixed-size, optional, small bounded, possessive and atomic inner repeats are accepted."""
    parse(f'x matches "{pattern}"')


def _nested_by_stdlib_parser(pattern: str) -> bool:
    """The nested-quantifier rule written over the standard library's private regex parser: the reference the
    text scanner of callcontrol.core.expressions.patterns is pinned against (the service never imports it)."""
    from re import _constants as sre  # type: ignore[attr-defined]
    from re import _parser as sre_parser  # type: ignore[attr-defined]

    pending: list[tuple[object, int]] = [(sre_parser.parse(pattern), 0)]
    while pending:
        items, outer = pending.pop()
        for op, av in items:  # type: ignore[attr-defined]
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                low, high, body = av
                if outer > 1 and high > 1 and low != high and max(outer, high) > 4:
                    return True
                pending.append((body, max(outer, high)))
            elif op in (sre.POSSESSIVE_REPEAT, sre.ATOMIC_GROUP):
                pending.append((av[2] if op == sre.POSSESSIVE_REPEAT else av, 0))
            elif op == sre.SUBPATTERN:
                pending.append((av[-1], outer))
            elif op == sre.BRANCH:
                pending.extend((branch, outer) for branch in av[1])
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                pending.append((av[1], outer))
            elif op == sre.GROUPREF_EXISTS:
                pending.extend((branch, outer) for branch in av[1:] if branch is not None)
    return False


def _random_patterns(count: int) -> list[str]:
    """Valid patterns built from atoms, repeats (greedy, lazy, possessive, counted) and every kind of group."""
    atoms = ["a", "\\d", "\\.", "[a-z]", "[]a]", "[^)]", "[\\]]", ".", "\\(", "\\)", "{", "\\{", "(?P=n7)",
             "\\x41"]
    repeats = ["", "", "*", "+", "?", "{2}", "{1,3}", "{4}", "{5}", "{1,9}", "{0,}", "{,3}", "{2,}", "*?", "++",
               "?+", "{1,3}+", "{1,3}?", "{}", "{,}"]
    openers = ["(", "(?:", "(?>", "(?=", "(?!", "(?<=", "(?P<g>", "(?i:", "(?(n7)"]
    generator = random.Random(9)

    def sequence(depth: int) -> str:
        parts = []
        for _ in range(generator.randint(1, 3)):
            if generator.random() < 0.35 and depth < 4:
                inner = sequence(depth + 1)
                if generator.random() < 0.3:
                    inner += "|" + sequence(depth + 1)
                parts.append(generator.choice(openers) + inner + ")" + generator.choice(repeats))
            else:
                parts.append(generator.choice(atoms) + generator.choice(repeats))
        return "".join(parts)

    found = []
    while len(found) < count:
        pattern = "(?P<n7>a)" + sequence(0)
        try:
            re.compile(pattern.replace("(?P<g>", "(?:"))
        except re.error:
            continue
        found.append(pattern.replace("(?P<g>", "(?:"))
    return found


def test_nested_quantifier_check_agrees_with_the_stdlib_regex_parser() -> None:
    """The check reads the pattern's text; on the patterns above and 3,000 random ones it decides as a check over
    the standard library's own regex parser does (skipped on a Python whose private re._parser is gone)."""
    pytest.importorskip("re._parser")
    from callcontrol.core.expressions.patterns import _has_nested_quantifier

    corpus = ["(a+)+$", "(a*)*b", "(x+x+)+y", "(\\d{2,3})+$", "^(a|b+)*$", "((ab)*c)*$", "(a+){4}b",
              "(a{1,9}){1,9}b", "(?:a|(?:b{1,5}))*", "(a++)+$", "(?>a+)+$", "(\\d{3}-)+\\d{4}$", "(a?b)+",
              "^[0-9]{6}$", "a+b*c?", "^(\\d{1,3}\\.){3}\\d{1,3}$", "^(0|\\+33)[1-9]( ?[0-9]{2}){4}$",
              "(?i)(a+)+", "(?#a+ b*)a+", "[(a+)]+", "\\(a+\\)+", "((a{1,3}){2}){3}", "((a{1,3}){2}){5}"]
    for pattern in corpus + _random_patterns(3000):
        assert _has_nested_quantifier(pattern) == _nested_by_stdlib_parser(pattern), pattern


def test_no_module_reaches_into_the_stdlib_regex_internals() -> None:
    """re._parser, re._constants and sre_parse are private to the standard library: the package never imports them,
    so `matches` keeps its checks on a Python that moves them."""
    for module in Path(expressions.__file__).parent.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        assert not {"_parser", "_constants", "sre_parse", "sre_constants"} & set(re.findall(r"\w+", source)), module


def test_regex_size_limits() -> None:
    """Patterns over 200 characters are refused at parse time; subjects over 128 characters fail evaluation."""
    assert parse_error('x matches "' + "a" * 201 + '"').message.startswith("regular expression too long")
    parse('x matches "' + "a" * 200 + '"')
    assert "too long" in str(evaluation_error('x matches "a"', {"x": "b" * 129}))
    assert value('x matches "a$"', {"x": "b" * 127 + "a"}) is True
    assert "too long" in str(evaluation_error('"a" matches p', {"p": "a" * 201}))


def test_non_string_literal_pattern_is_a_parse_error() -> None:
    """'matches' with a literal pattern that is not a string fails at parse time."""
    assert parse_error("x matches 5").column == 11


# ---------------------------------------------------------------- booleans, short-circuit, types


@pytest.mark.parametrize("text", [
    "false and unknown.var", "true or unknown.var", "false and unknown.var == 1", "false and 1 + 'a' == 2",
    "true or (1 / 0 == 1)", "not (false and missing)", "false and 'not a bool'", "true or 5",
])
def test_short_circuit(text: str) -> None:
    """'and' stops at the first false and 'or' at the first true, without evaluating the rest."""
    assert isinstance(value(text), bool)


@pytest.mark.parametrize(("text", "fragment"), [
    ('"a" < 1', "'<' compares two numbers or two strings"),
    ('"a" + 1', "'+' needs two numbers or two strings"),
    ("1 + true", "'+' needs two numbers or two strings"),
    ('"ab" * 2', "'*' needs two numbers"),
    ('"a" - "b"', "'-' needs two numbers"),
    ("null < 1", "'<' compares"),
    ("true < false", "'<' compares"),
    ('-"a"', "'-' needs a number"),
    ("-true", "'-' needs a number"),
    ("1 and true", "'and' needs true or false"),
    ("true and 1", "'and' needs true or false"),
    ('false or "yes"', "'or' needs true or false"),
    ("not 0", "'not' needs true or false"),
    ("vars.nothing and true", "'and' needs true or false"),
    ("lang starts_with 1", "'starts_with' needs two strings"),
    ("vars.tries ends_with '2'", "'ends_with' needs two strings"),
    ('vars.tries matches "2"', "'matches' needs a string"),
    ("1 / 0", "by zero"),
    ("1 % 0", "by zero"),
    ("1.5 / 0.0", "by zero"),
])
def test_type_errors(text: str, fragment: str) -> None:
    """Operands of the wrong kind are an EvaluationError naming the operator and both values."""
    assert fragment in str(evaluation_error(text))


def test_type_error_reports_column() -> None:
    """A runtime error points at the operator that failed."""
    error = evaluation_error('vars.tries + lang')
    assert error.column == 12
    assert str(error) == "'+' needs two numbers or two strings, got number 2 and string 'fr' at column 12"


def test_numbers_stay_bounded() -> None:
    """Integers beyond 64 bits, infinite floats and huge concatenations fail instead of growing."""
    big = 2**62
    assert "out of range" in str(evaluation_error("n * 4", {"n": big}))
    assert "out of range" in str(evaluation_error("f * f", {"f": 1e200}))
    assert "out of range" in str(evaluation_error("n / 0.5 * 1.0", {"n": 10**400}))
    assert "too long" in str(evaluation_error("s + s", {"s": "x" * 6000}))
    assert parse_error("99999999999999999999").message == "number too large"


def test_numbers_stay_bounded_at_every_step() -> None:
    """The 64-bit integer limit applies to each intermediate result."""
    with pytest.raises(EvaluationError):
        parse("n * 2 - 1").evaluate({"n": 2**62})


# ---------------------------------------------------------------- variables


def test_unknown_variable() -> None:
    """Reading a name absent from the environment is an EvaluationError naming it, with its column."""
    error = evaluation_error("lang == 'fr' and vars.missing == 1")
    assert error.message == "unknown variable 'vars.missing'"
    assert error.column == 18


@pytest.mark.parametrize("bad", [object(), {"a": 1}, {1, 2}, [[object()]], [object()], b"bytes"])
def test_unsupported_variable_values(bad: object) -> None:
    """Environment values other than null, booleans, numbers, strings and lists of those are refused."""
    assert str(evaluation_error("x == 1", {"x": bad})).startswith("variable 'x' holds")


@pytest.mark.parametrize(("text", "names"), [
    ("1 + 2", set()),
    ('caller.number starts_with "+33" and not (queue.agents_available == 0)',
     {"caller.number", "queue.agents_available"}),
    ("false and unknown.var or [a, b.c] contains d_e", {"unknown.var", "a", "b.c", "d_e"}),
    ("x matches p and x == x", {"x", "p"}),
    ("vars.in or vars.true", {"vars.in", "vars.true"}),
])
def test_variables(text: str, names: set[str]) -> None:
    """variables() lists every dotted name referenced, including ones a short-circuit would skip."""
    assert parse(text).variables() == frozenset(names)


# ---------------------------------------------------------------- parse errors


@pytest.mark.parametrize(("text", "column", "message"), [
    ("lang == 'fr' and and x", 18, "unexpected 'and'"),
    ("x == 1 and", 11, "unexpected end of expression"),
    ("a = 1", 3, "unknown operator '='"),
    ("a  'oops", 4, "unterminated string starting"),
    ('a == "oops', 6, "unterminated string starting"),
    ("a < b < c", 7, "comparisons cannot be chained ('<' after '<')"),
    ("a == b in c", 8, "comparisons cannot be chained ('in' after '==')"),
    ("(1 + 2", 7, "missing ')'"),
    ("[1, 2", 6, "missing ']'"),
    ("[1 2]", 4, "unexpected '2'"),
    ("[1, 2,]", 7, "unexpected ']'"),
    ("1 +", 4, "unexpected end of expression"),
    ("1 + * 2", 5, "unexpected '*'"),
    ("a not b", 7, "expected 'in' after 'not', got 'b'"),
    ("a b", 3, "unexpected 'b'"),
    ("(a))", 4, "unexpected ')'"),
    ("()", 2, "unexpected ')'"),
    ("1.", 3, "expected digits after the decimal point"),
    ("1.2.3", 1, "invalid number '1.2.3'"),
    ("3abc", 1, "invalid number '3abc'"),
    ("a..b", 3, "expected a name after '.'"),
    ("a.", 3, "expected a name after '.'"),
    (".5", 1, "unexpected character '.'"),
    ("a @ b", 3, "unexpected character '@'"),
    ("a && b", 3, "unknown operator '&&'"),
    ("a || b", 3, "unknown operator '||'"),
    ("a ! b", 3, "unknown operator '!'"),
    ("a => b", 3, "unknown operator '=>'"),
    ("a === b", 3, "unknown operator '==='"),
    ("a <> b", 3, "unknown operator '<>'"),
    ("2 ** 3", 3, "unknown operator '**'"),
    ("True", 1, "unknown name 'True'"),
    ("x == None", 6, "unknown name 'None'"),
    ("a AND b", 3, "unknown name 'AND'"),
    ("", 1, "empty expression"),
    (" \t\n ", 1, "empty expression"),
    ("+1", 1, "unexpected '+'"),
    ("x == not y", 6, "unexpected 'not'"),
    ("x == caf\u00e9", 9, "unexpected character '\u00e9'"),
])
def test_error_columns(text: str, column: int, message: str) -> None:
    """Bad text raises ExpressionError whose column points at the first problem in reading order."""
    error = parse_error(text)
    assert (error.column, error.message) == (column, message)
    assert str(error).startswith(f"{message} at column {column}")


@pytest.mark.parametrize(("text", "expected"), [
    ("a = 1", "unknown operator '=' at column 3 (did you mean '=='?)"),
    ("lang == 'fr' and and x", "unexpected 'and' at column 18 (expected a value)"),
    ("'abc", "unterminated string starting at column 1 (close it with ')"),
    ("(1", "missing ')' at column 3 (to close the '(' at column 1)"),
    ("a < b < c", "comparisons cannot be chained ('<' after '<') at column 7 (combine them with 'and')"),
])
def test_error_messages_read_well(text: str, expected: str) -> None:
    """str() of an ExpressionError is the message, the column and, when useful, a hint in parentheses."""
    assert str(parse_error(text)) == expected


def test_errors_survive_pickling() -> None:
    """Both error types keep message and column through pickle (worker processes, logging handlers)."""
    error = pickle.loads(pickle.dumps(parse_error("a = 1")))
    assert (error.message, error.column, error.hint) == ("unknown operator '='", 3, "did you mean '=='?")
    runtime = pickle.loads(pickle.dumps(EvaluationError("unknown variable 'x'", 1)))
    assert (runtime.message, runtime.column, str(runtime)) == ("unknown variable 'x'", 1,
                                                               "unknown variable 'x' at column 1")


def test_errors_are_value_errors() -> None:
    """Both errors are ValueErrors, so callers validating input can catch them together."""
    assert issubclass(ExpressionError, ValueError) and issubclass(EvaluationError, ValueError)
    assert not issubclass(EvaluationError, ExpressionError)


def test_non_text_is_a_parse_error() -> None:
    """A YAML value that is not a string (true, 3) is an ExpressionError, not a TypeError."""
    for bad in (True, 3, None, ["a"]):
        assert "must be text" in parse_error(bad).message  # type: ignore[arg-type]


# ---------------------------------------------------------------- limits


def test_length_limit() -> None:
    """Text up to 1,000 characters parses; longer text is refused before any tokenizing."""
    longest = "1" + " + 1" * ((MAX_TEXT_LENGTH - 1) // 4)
    assert len(longest) <= MAX_TEXT_LENGTH
    assert value(longest) == 1 + (MAX_TEXT_LENGTH - 1) // 4
    error = parse_error("1" + " " * MAX_TEXT_LENGTH)
    assert error.column == MAX_TEXT_LENGTH + 1
    assert error.message.startswith("expression too long")


@pytest.mark.parametrize(("opening", "closing", "inner"), [
    ("(", ")", "1"), ("[", "]", "1"), ("not ", "", "true"), ("-", "", "1"), ("- ", "", "1"),
])
def test_depth_limit(opening: str, closing: str, inner: str) -> None:
    """32 levels of ( [ not or unary minus parse; the 33rd is an ExpressionError at its column."""
    parse(opening * MAX_DEPTH + inner + closing * MAX_DEPTH).evaluate({})
    error = parse_error(opening * (MAX_DEPTH + 1) + inner + closing * (MAX_DEPTH + 1))
    assert error.message == "expression nested too deeply"
    assert error.column == len(opening) * MAX_DEPTH + 1


def test_mixed_nesting_counts_every_level() -> None:
    """Parentheses, brackets, not and minus share one depth budget."""
    text = "(-[not " * (MAX_DEPTH // 4) + "true" + "])" * (MAX_DEPTH // 4)
    parse(text)
    assert parse_error("-" + text).message == "expression nested too deeply"


def test_deep_and_long_inputs_never_hit_recursion() -> None:
    """Deep nesting and long chains end in a result or an ExpressionError, never a RecursionError."""
    for text in ("(" * 999, "(" * 500 + ")" * 500, "[" * 999, "not " * 250, "-" * 1000, "- " * 500 + "1",
                 "1" + "+1" * 499, "true" + " and true" * 110, "x" + " or x" * 199, "1" + "*1" * 499):
        try:
            expression = parse(text)
        except ExpressionError:
            continue
        expression.evaluate({"x": False})


# ---------------------------------------------------------------- no eval, no escape hatches


@pytest.mark.parametrize("text", [
    "__import__('os')",
    "__import__('os').system('id')",
    "os.system('id')",
    "eval('1')",
    "open('/etc/passwd')",
    "().__class__",
    "''.__class__.__mro__",
    "vars.__class__",
    "x.__globals__",
    "lambda: 1",
    "[x for x in y]",
    "1 if true else 2",
    "x[0]",
    "vars['a']",
    "a; b",
    "a := 1",
    "{'a': 1}",
    "f'{x}'",
    "`id`",
    "$HOME",
    "${HOME}",
    "x.y()",
])
def test_code_is_rejected_at_parse_time(text: str) -> None:
    """Python-looking code (calls, attributes, dunders, indexing, comprehensions) never parses."""
    parse_error(text)


@pytest.mark.parametrize("module", sorted(Path(expressions.__file__).parent.glob("*.py")), ids=lambda path: path.name)
def test_module_never_calls_eval(module: Path) -> None:
    """No module of the package calls eval, exec, compile or __import__ or imports ast/builtins."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"eval", "exec", "compile", "__import__", "getattr", "globals", "vars"}
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            assert not {"ast", "builtins", "importlib", "os", "sys", "asyncio", "logging", "time"} & set(names)


# ---------------------------------------------------------------- the Expression object


def test_expression_is_an_immutable_value() -> None:
    """Expressions are frozen, compare and hash by their text, and Expression(text) is parse(text)."""
    first, second = parse("a == 1"), Expression("a == 1")
    assert first == second and hash(first) == hash(second)
    assert first != parse("a == 2")
    assert repr(first) == "Expression(text='a == 1')"
    with pytest.raises(FrozenInstanceError):
        first.text = "b"  # type: ignore[misc]
    with pytest.raises(ExpressionError):
        Expression("a ==")


def test_evaluation_is_pure() -> None:
    """Evaluating twice gives the same result and never changes the environment."""
    env = {"a": [1, 2], "b": "x"}
    snapshot = {"a": [1, 2], "b": "x"}
    expression = parse("a contains 2 and b + b == 'xx'")
    assert expression.evaluate(env) is True and expression.evaluate(env) is True
    assert env == snapshot


def test_lists_come_back_as_tuples() -> None:
    """A list value (literal or from the environment) is returned as an immutable tuple."""
    assert value("[1, [2, 3]]") == (1, (2, 3))
    assert value("vars.tags") == ("gold", "fr")


def test_set_results_read_back() -> None:
    """Whatever an expression returns (a set node stores it) is accepted when read back as a variable."""
    for text in ("[[1, 'a'], [], [null, [true]]]", "1 / 4", "'x' + 'y'", "null", "-3"):
        stored = value(text)
        assert value("v == w", {"v": stored, "w": stored}) is True


def test_environment_lists_are_bounded() -> None:
    """A list nested deeper than the depth limit in the environment is refused, not recursed into."""
    deep: list[object] = [1]
    for _ in range(1_000):
        deep = [deep]
    assert "holds a value" in str(evaluation_error("v == 1", {"v": deep}))


def test_walk_reads_every_node_in_reading_order() -> None:
    """walk yields each node before its operands, operands left to right, through every kind of node."""
    root = parse("not (a + -1 * 2 > 0) or [x, 'y'] contains z and s matches 'p'").root
    seen = [type(node).__name__ + (f":{node.name}" if isinstance(node, expressions.Name) else "")
            for node in expressions.walk(root)]
    assert seen == [
        "Logical", "Not", "Comparison", "Arithmetic", "Name:a", "Arithmetic", "Negate", "Literal", "Literal",
        "Literal", "Logical", "Comparison", "ListOf", "Name:x", "Literal", "Name:z", "Match", "Name:s", "Literal"]


def test_comparisons_lists_each_comparison_with_its_operands() -> None:
    """comparisons() gives every comparison, nested and short-circuited ones too, an outer one before inner ones."""
    expression = parse("false and vars.a == 1 or (vars.b in [1, 2]) == true")
    found = [(c.op, c.column) for c in expression.comparisons()]
    assert found == [("==", 18), ("==", 45), ("in", 34)]
    assert [c.left for c in expression.comparisons()][0] == expressions.Name("vars.a", 11)
    assert list(parse("vars.a matches '1'").comparisons()) == [] and list(parse("1").comparisons()) == []


def test_walking_does_not_change_evaluation() -> None:
    """Reading the tree leaves the expression as it was: same value before and after."""
    expression = parse("vars.tries + 1 >= 3 and vars.account starts_with '12'")
    before = expression.evaluate(ENV)
    assert len(list(expressions.walk(expression.root))) == 9 and len(list(expression.comparisons())) == 2
    assert expression.evaluate(ENV) is before is True


# ---------------------------------------------------------------- fuzz


_FUZZ_TOKENS = [
    "a", "b.c", "vars.x", "caller.number", "1", "0", "2.5", "-", "'s'", '"t"', "'", '"', "\\", "(", ")", "[",
    "]", ",", "and", "or", "not", "in", "not in", "==", "!=", "<", "<=", ">", ">=", "+", "*", "/", "%",
    "starts_with", "ends_with", "contains", "matches", "true", "false", "null", "=", "!", ".", "@", "\x00",
    "\u00e9", "__import__", '"(a+)+"', '"["', '"^[0-9]+$"', "'\\''", "1e5", "99999999999999999999", "True",
    "&&", "|", ";", ":", "{", "}",
]
_FUZZ_VALUES: list[object] = [0, 1, -3, 2.5, 2**62, 1e308, "", "abc", "+33 1", "x" * 5000, True, False, None,
                               [], [1, "a"], ["gold"], [None, True]]
_FUZZ_NAMES = ["a", "b.c", "vars.x", "caller.number"]


def _random_environment(rng: random.Random) -> dict[str, object]:
    return {name: rng.choice(_FUZZ_VALUES) for name in _FUZZ_NAMES if rng.random() < 0.8}


def _random_expression(rng: random.Random, budget: int) -> str:
    """A syntactically plausible expression (operands parenthesised so comparisons never chain)."""
    roll = rng.random()
    if budget <= 0 or roll < 0.3:
        return rng.choice(["a", "b.c", "vars.x", "caller.number", "1", "2.5", "0", "'s'", '"^a"', "true",
                           "false", "null", "[]", "[1, 'a']"])
    if roll < 0.4:
        return f"not ({_random_expression(rng, budget - 1)})"
    if roll < 0.45:
        return f"-({_random_expression(rng, budget - 1)})"
    if roll < 0.5:
        return "[" + ", ".join(_random_expression(rng, budget - 1) for _ in range(rng.randint(0, 3))) + "]"
    op = rng.choice(["and", "or", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "starts_with", "ends_with",
                     "contains", "matches", "+", "-", "*", "/", "%"])
    return f"({_random_expression(rng, budget - 1)}) {op} ({_random_expression(rng, budget - 1)})"


def _check(text: str, env: dict[str, object]) -> str:
    try:
        expression = parse(text)
    except ExpressionError as error:
        assert 1 <= error.column <= max(len(text), MAX_TEXT_LENGTH) + 1, (text, error)
        return "rejected"
    assert all(name and isinstance(name, str) for name in expression.variables()), text
    try:
        expression.evaluate(env)
    except EvaluationError:
        return "failed"
    return "evaluated"


def test_fuzz_only_documented_errors() -> None:
    """5,000 random inputs: parse raises only ExpressionError and evaluate only EvaluationError."""
    rng = random.Random(20260105)
    outcomes = {"rejected": 0, "failed": 0, "evaluated": 0}
    for case in range(5_000):
        env = _random_environment(rng)
        if case % 2:
            pieces = [rng.choice(_FUZZ_TOKENS) for _ in range(rng.randint(0, 25))]
            text = "".join(piece + rng.choice(["", " ", " ", "  "]) for piece in pieces)
        elif case % 50 == 0:
            depth = rng.randint(1, 600)
            opening = rng.choice(["(", "[", "not ", "-", "(not ", "[-"])
            text = opening * depth + rng.choice(["1", "a", "true"]) + rng.choice([")", "]", ""]) * depth
        else:
            text = _random_expression(rng, rng.randint(0, 6))
        outcomes[_check(text, env)] += 1
    # Every path is exercised: junk is rejected, well-formed text both fails on bad values and evaluates.
    assert min(outcomes.values()) > 300, outcomes
