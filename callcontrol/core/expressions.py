r"""The safe expression language of IVR flows (branch and set nodes): tokenizer, parser and evaluator, never eval.

Grammar, lowest precedence first (every binary level is left-associative, comparisons do not chain):

    expression  := or
    or          := and ("or" and)*
    and         := not ("and" not)*
    not         := "not" not | comparison
    comparison  := additive [cmp_op additive]
    cmp_op      := "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in"
                 | "starts_with" | "ends_with" | "contains" | "matches"
    additive    := multiplicative (("+" | "-") multiplicative)*
    multiplicative := unary (("*" | "/" | "%") unary)*
    unary       := "-" unary | primary
    primary     := NUMBER | STRING | "true" | "false" | "null" | NAME
                 | "(" expression ")" | "[" [expression ("," expression)*] "]"

    NUMBER  digits, optionally "." digits (an integer, or a decimal evaluated as a float)
    STRING  '...' or "..."; backslash escapes \\ \' \" only; any other backslash is kept as written,
            so a regular expression such as "^\d{6}$" reads as the author typed it
    NAME    dotted identifiers a.b.c, each part [A-Za-z_][A-Za-z0-9_]* and not starting with "__"

Values are null, booleans, numbers (int or float, never bool), strings and lists (tuples).
The environment is a flat mapping from dotted names to such values; a name that is not in it is an
EvaluationError (there is no "is defined": a flow that needs an optional variable sets it to null first).

Semantics, chosen to be explicit rather than convenient:
- `and`, `or`, `not` take booleans only (no truthiness) and short-circuit: `false and x` never reads x.
- `==` / `!=` never coerce: values of different kinds are simply unequal ("1" != 1, true != 1);
  null equals only null; lists are equal item by item.
- `< <= > >=` compare two numbers or two strings, anything else is an EvaluationError.
- `+` adds two numbers or concatenates two strings; `- * / %` take numbers; `/` is true division.
- `a in b`: b a list (membership with `==`) or b and a strings (substring); `not in` is its negation.
  `a contains b` is `b in a`. `starts_with` / `ends_with` take two strings.
- `s matches p` is re.search(p, s): anchor with ^ and $ for a whole match. A literal pattern is compiled
  once, at parse time; patterns are limited to 200 characters, subjects to 1,000, and a variable
  quantifier nested inside another (the exponential-backtracking shape, e.g. "(a+)+") is refused unless
  both are small (at most 4, as in "(\d{1,3}\.){3}"), or the inner one is possessive ("a++") or in an
  atomic group ("(?>...)"). Not caught: polynomial backtracking from several overlapping quantifiers in
  a row (".*.*.*x" takes tens of seconds on a 1,000-character subject that does not match).
- Integers stay within signed 64 bits, floats stay finite, a concatenation stays within 10,000
  characters: beyond that the evaluation fails instead of growing without bound.

Limits: text at most 1,000 characters; at most 32 nested levels, where each ( [ not and unary - is one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Union

MAX_TEXT_LENGTH = 1_000
MAX_DEPTH = 32
MAX_PATTERN_LENGTH = 200
# What `matches` is applied to comes from callers (digits, caller ids): short. Capping it bounds the
# backtracking of patterns with overlapping quantifiers (.*.*.*x) to well under a second.
MAX_SUBJECT_LENGTH = 128
MAX_STRING_LENGTH = 10_000
MAX_INTEGER = 2**63 - 1

KEYWORDS = frozenset({
    "and", "or", "not", "in", "starts_with", "ends_with", "contains", "matches", "true", "false", "null",
})
_WORD_OPERATORS = frozenset({"in", "starts_with", "ends_with", "contains", "matches"})
_SYMBOL_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ORDERINGS = frozenset({"<", "<=", ">", ">="})


# ---------------------------------------------------------------- errors


class ExpressionError(ValueError):
    """Bad expression text; .column (1-based) points at the problem; str() is a clear message."""

    def __init__(self, message: str, column: int, hint: str | None = None) -> None:
        self.message = message
        self.column = column
        self.hint = hint
        text = f"{message} at column {column}"
        super().__init__(f"{text} ({hint})" if hint else text)

    def __reduce__(self) -> tuple[type, tuple[str, int, str | None]]:
        return type(self), (self.message, self.column, self.hint)


class EvaluationError(ValueError):
    """A well-formed expression that fails on these values: unknown variable, type mismatch, bad regex."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.message = message
        self.column = column
        super().__init__(message if column is None else f"{message} at column {column}")

    def __reduce__(self) -> tuple[type, tuple[str, int | None]]:
        return type(self), (self.message, self.column)


# ---------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Literal:
    value: None | bool | int | float | str
    column: int


@dataclass(frozen=True)
class Name:
    name: str
    column: int


@dataclass(frozen=True)
class ListOf:
    items: tuple[Node, ...]
    column: int


@dataclass(frozen=True)
class Not:
    operand: Node
    column: int


@dataclass(frozen=True)
class Negate:
    operand: Node
    column: int


@dataclass(frozen=True)
class Logical:
    """`a and b and c` (or `or`) as one node: operator columns[i] stands between operands[i] and [i+1]."""

    op: str
    operands: tuple[Node, ...]
    columns: tuple[int, ...]


@dataclass(frozen=True)
class Arithmetic:
    """A left-associative chain `first op1 x1 op2 x2 ...` of + - or * / %, each step with its column."""

    first: Node
    rest: tuple[tuple[str, int, Node], ...]


@dataclass(frozen=True)
class Comparison:
    op: str
    left: Node
    right: Node
    column: int


@dataclass(frozen=True)
class Match:
    """`subject matches pattern`; compiled is set when the pattern is a literal (compiled at parse time)."""

    subject: Node
    pattern: Node
    column: int
    compiled: re.Pattern[str] | None = None


Node = Union[Literal, Name, ListOf, Not, Negate, Logical, Arithmetic, Comparison, Match]


# ---------------------------------------------------------------- the public object


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source text, syntax tree and the variables it reads."""

    text: str
    root: Node = field(init=False, repr=False, compare=False)
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parser = _Parser(self.text)
        object.__setattr__(self, "root", parser.parse())
        object.__setattr__(self, "_names", frozenset(parser.names))

    def variables(self) -> frozenset[str]:
        """The dotted names the expression references (all of them, short-circuited or not)."""
        return self._names

    def evaluate(self, env: Mapping[str, object]) -> object:
        """The value of the expression with names read from env; lists come back as tuples."""
        return _evaluate(self.root, env)

    def comparisons(self) -> Iterator[Comparison]:
        """Every comparison in the tree (== != < <= > >= in, not in, starts_with, ends_with, contains), short-circuited
        or not, each before those inside it (walk's order): for checks that read expressions without evaluating."""
        return (node for node in walk(self.root) if isinstance(node, Comparison))


def parse(text: str) -> Expression:
    """Parse expression text; raises ExpressionError with the column of the first problem."""
    return Expression(text)


def walk(node: Node) -> Iterator[Node]:
    """A syntax tree's nodes, read-only: node first, then each operand's subtree from left to right."""
    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        pending.extend(reversed(_operands(current)))


def _operands(node: Node) -> tuple[Node, ...]:
    if isinstance(node, ListOf):
        return node.items
    if isinstance(node, (Not, Negate)):
        return (node.operand,)
    if isinstance(node, Logical):
        return node.operands
    if isinstance(node, Arithmetic):
        return (node.first, *(operand for _, _, operand in node.rest))
    if isinstance(node, Comparison):
        return (node.left, node.right)
    if isinstance(node, Match):
        return (node.subject, node.pattern)
    return ()  # Literal, Name


# ---------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "string", "name", "keyword", "op", "end"
    value: object
    column: int
    source: str

    def describe(self) -> str:
        if self.kind == "end":
            return "end of expression"
        source = self.source if len(self.source) <= 24 else self.source[:21] + "..."
        return f"'{source}'" if self.kind != "string" else f"string {source}"


_SPACE = frozenset(" \t\r\n")
_DIGITS = frozenset("0123456789")
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_PART = _IDENT_START | _DIGITS
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",")
_FOREIGN_OPERATORS = {  # longest first
    "===": "did you mean '=='?", "!==": "did you mean '!='?",
    "&&": "did you mean 'and'?", "||": "did you mean 'or'?", "<>": "did you mean '!='?",
    "=<": "did you mean '<='?", "=>": "did you mean '>='?", "**": "there is no power operator",
    "//": "use '/' for division", "=": "did you mean '=='?", "!": "did you mean 'not' or '!='?",
    "&": "did you mean 'and'?", "|": "did you mean 'or'?",
}
_KEYWORD_LOOKALIKES = {"none": "null", "nil": "null"} | {word: word for word in ("and", "or", "not", "in", "true",
                                                                                 "false", "null")}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"'}


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def next(self) -> _Token:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
        self.pos = pos
        if pos >= len(text):
            return _Token("end", None, len(text) + 1, "")
        char = text[pos]
        if char in _DIGITS:
            return self._number()
        if char in _IDENT_START:
            return self._name()
        if char in "'\"":
            return self._string()
        for foreign, hint in _FOREIGN_OPERATORS.items():
            if text.startswith(foreign, pos) and not any(text.startswith(op, pos) and len(op) >= len(foreign)
                                                         for op in _OPERATORS):
                raise ExpressionError(f"unknown operator '{foreign}'", pos + 1, hint)
        for op in _OPERATORS:
            if text.startswith(op, pos):
                self.pos = pos + len(op)
                return _Token("op", op, pos + 1, op)
        if char == ".":
            hint: str | None = "a '.' only joins the parts of a name or a decimal number"
        elif not char.isascii():
            hint = "names use ASCII letters, digits and _"
        else:
            hint = None
        raise ExpressionError(f"unexpected character {char!r}", pos + 1, hint)

    def _number(self) -> _Token:
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and text[pos] in _DIGITS:
            pos += 1
        decimal = False
        if pos < len(text) and text[pos] == ".":
            if pos + 1 >= len(text) or text[pos + 1] not in _DIGITS:
                raise ExpressionError("expected digits after the decimal point", pos + 2)
            decimal = True
            pos += 1
            while pos < len(text) and text[pos] in _DIGITS:
                pos += 1
        if pos < len(text) and (text[pos] in _IDENT_PART or text[pos] == "."):
            end = pos
            while end < len(text) and (text[end] in _IDENT_PART or text[end] == "."):
                end += 1
            raise ExpressionError(f"invalid number '{text[start:end][:24]}'", start + 1,
                                  "names cannot start with a digit")
        source = text[start:pos]
        self.pos = pos
        if decimal:
            number = float(source)
            if not math.isfinite(number):
                raise ExpressionError("number too large", start + 1)
            return _Token("number", number, start + 1, source)
        value = int(source)
        if value > MAX_INTEGER:
            raise ExpressionError("number too large", start + 1, f"at most {MAX_INTEGER}")
        return _Token("number", value, start + 1, source)

    def _identifier(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in _IDENT_PART:
            pos += 1
        return pos

    def _name(self) -> _Token:
        text, start = self.text, self.pos
        pos = self._identifier(start)
        word = text[start:pos]
        if word in KEYWORDS:
            self.pos = pos
            return _Token("keyword", word, start + 1, word)
        if word.lower() in _KEYWORD_LOOKALIKES:
            raise ExpressionError(f"unknown name '{word}'", start + 1,
                                  f"keywords are lowercase: did you mean '{_KEYWORD_LOOKALIKES[word.lower()]}'?")
        self._check_part(word, start)
        while pos < len(text) and text[pos] == ".":
            part_start = pos + 1
            if part_start >= len(text) or text[part_start] not in _IDENT_START:
                raise ExpressionError("expected a name after '.'", part_start + 1)
            pos = self._identifier(part_start)
            self._check_part(text[part_start:pos], part_start)
        self.pos = pos
        return _Token("name", text[start:pos], start + 1, text[start:pos])

    @staticmethod
    def _check_part(part: str, start: int) -> None:
        if part.startswith("__"):
            raise ExpressionError(f"invalid name '{part[:24]}'", start + 1, "names may not start with '__'")

    def _string(self) -> _Token:
        text, start = self.text, self.pos
        quote = text[start]
        pos = start + 1
        chunks: list[str] = []
        while True:
            end = pos
            while end < len(text) and text[end] not in (quote, "\\"):
                end += 1
            chunks.append(text[pos:end])
            if end >= len(text):
                raise ExpressionError("unterminated string starting", start + 1, f"close it with {quote}")
            if text[end] == quote:
                self.pos = end + 1
                return _Token("string", "".join(chunks), start + 1, text[start:end + 1])
            following = text[end + 1] if end + 1 < len(text) else ""
            if following in _ESCAPES:
                chunks.append(_ESCAPES[following])
                pos = end + 2
            else:  # not an escape: the backslash stays, as in "^\d+$"
                chunks.append("\\")
                pos = end + 1


# ---------------------------------------------------------------- parser


class _Parser:
    """Recursive descent with an explicit depth budget: every nesting ( [ not - costs one level."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ExpressionError(f"an expression must be text, got {type(text).__name__}", 1,
                                  "quote it in the flow file")
        if len(text) > MAX_TEXT_LENGTH:
            raise ExpressionError(f"expression too long ({len(text)} characters)", MAX_TEXT_LENGTH + 1,
                                  f"at most {MAX_TEXT_LENGTH}")
        self.text = text
        self.lexer = _Lexer(text)
        self.ahead: list[_Token] = []
        self.depth = 0
        self.names: set[str] = set()

    # -- token stream (lazy, so the first problem in reading order is the one reported)

    def peek(self, offset: int = 0) -> _Token:
        while len(self.ahead) <= offset:
            if self.ahead and self.ahead[-1].kind == "end":
                return self.ahead[-1]
            self.ahead.append(self.lexer.next())
        return self.ahead[offset]

    def take(self) -> _Token:
        token = self.peek()
        if token.kind != "end":
            self.ahead.pop(0)
        return token

    def at(self, kind: str, value: object, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind == kind and token.value == value

    def unexpected(self, token: _Token, hint: str | None = None) -> ExpressionError:
        return ExpressionError(f"unexpected {token.describe()}", token.column, hint)

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("expression nested too deeply", token.column, f"at most {MAX_DEPTH} levels")

    # -- grammar

    def parse(self) -> Node:
        if not self.text.strip():
            raise ExpressionError("empty expression", 1)
        node = self.expression()
        token = self.peek()
        if token.kind != "end":
            raise self.unexpected(token, self._leftover_hint(token))
        return node

    @staticmethod
    def _leftover_hint(token: _Token) -> str | None:
        if token.kind == "op" and token.value == "(":
            return "function calls are not supported"
        if token.kind == "op" and token.value == ")":
            return "no '(' is open"
        if token.kind == "op" and token.value == "[":
            return "indexing is not supported"
        if token.kind in ("name", "number", "string") or token.value in ("true", "false", "null"):
            return "expected an operator between two values"
        return None

    def expression(self) -> Node:
        return self.logical("or", self.conjunction)

    def conjunction(self) -> Node:
        return self.logical("and", self.negation)

    def logical(self, word: str, operand: Callable[[], Node]) -> Node:
        first = operand()
        operands, columns = [first], []
        while self.at("keyword", word):
            columns.append(self.take().column)
            operands.append(operand())
        if not columns:
            return first
        return Logical(word, tuple(operands), tuple(columns))

    def negation(self) -> Node:
        if self.at("keyword", "not"):
            token = self.take()
            self.enter(token)
            operand = self.negation()
            self.depth -= 1
            return Not(operand, token.column)
        return self.comparison()

    def comparison_operator(self) -> tuple[str, _Token] | None:
        token = self.peek()
        if token.kind == "op" and token.value in _SYMBOL_COMPARISONS:
            return str(token.value), token
        if token.kind == "keyword" and token.value in _WORD_OPERATORS:
            return str(token.value), token
        if token.kind == "keyword" and token.value == "not":
            if self.at("keyword", "in", 1):
                return "not in", token
            following = self.peek(1)
            raise ExpressionError(f"expected 'in' after 'not', got {following.describe()}", following.column)
        return None

    def comparison(self) -> Node:
        left = self.additive()
        found = self.comparison_operator()
        if found is None:
            return left
        op, token = found
        self.take()
        if op == "not in":
            self.take()
        right = self.additive()
        chained = self.comparison_operator()
        if chained is not None:
            raise ExpressionError(f"comparisons cannot be chained ('{chained[0]}' after '{op}')",
                                  chained[1].column, "combine them with 'and'")
        if op == "matches":
            compiled = None
            if isinstance(right, Literal):
                if not isinstance(right.value, str):
                    raise ExpressionError("the pattern of 'matches' must be a string", right.column)
                try:
                    compiled = compile_pattern(right.value)
                except _PatternProblem as problem:
                    raise ExpressionError(problem.message, right.column, problem.hint) from None
            return Match(left, right, token.column, compiled)
        return Comparison(op, left, right, token.column)

    def additive(self) -> Node:
        return self.arithmetic(("+", "-"), self.multiplicative)

    def multiplicative(self) -> Node:
        return self.arithmetic(("*", "/", "%"), self.unary)

    def arithmetic(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        first = operand()
        rest: list[tuple[str, int, Node]] = []
        while self.peek().kind == "op" and self.peek().value in ops:
            token = self.take()
            rest.append((str(token.value), token.column, operand()))
        return Arithmetic(first, tuple(rest)) if rest else first

    def unary(self) -> Node:
        if self.at("op", "-"):
            token = self.take()
            self.enter(token)
            operand = self.unary()
            self.depth -= 1
            return Negate(operand, token.column)
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token.kind in ("number", "string"):
            return Literal(token.value, token.column)  # type: ignore[arg-type]
        if token.kind == "keyword" and token.value in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[str(token.value)], token.column)
        if token.kind == "name":
            name = str(token.value)
            if self.at("op", "("):
                raise self.unexpected(self.peek(), "function calls are not supported")
            if self.at("op", "["):
                raise self.unexpected(self.peek(), "indexing is not supported")
            self.names.add(name)
            return Name(name, token.column)
        if token.kind == "op" and token.value == "(":
            self.enter(token)
            if self.at("op", ")"):
                raise self.unexpected(self.peek(), "empty parentheses")
            node = self.expression()
            self.close(")", token)
            self.depth -= 1
            return node
        if token.kind == "op" and token.value == "[":
            self.enter(token)
            items: list[Node] = []
            if not self.at("op", "]"):
                items.append(self.expression())
                while self.at("op", ","):
                    self.take()
                    items.append(self.expression())
            self.close("]", token)
            self.depth -= 1
            return ListOf(tuple(items), token.column)
        hint = "'+' is only for adding two values" if token.kind == "op" and token.value == "+" else "expected a value"
        raise self.unexpected(token, hint)

    def close(self, closing: str, opening: _Token) -> None:
        token = self.peek()
        if token.kind == "op" and token.value == closing:
            self.take()
            return
        if token.kind == "end":
            raise ExpressionError(f"missing '{closing}'", token.column,
                                  f"to close the '{opening.value}' at column {opening.column}")
        expected = "',' or ']'" if closing == "]" else "')'"
        raise self.unexpected(token, f"expected {expected}")


# ---------------------------------------------------------------- regular expressions


class _PatternProblem(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a `matches` pattern under the length and nested-quantifier rules (cached)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise _PatternProblem(f"regular expression too long ({len(pattern)} characters)",
                              f"at most {MAX_PATTERN_LENGTH}")
    try:
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        reason, position = (error.msg, error.pos) if isinstance(error, re.error) else (str(error), None)
        raise _PatternProblem(f"invalid regular expression: {reason}",
                              None if position is None else f"at position {position} of the pattern") from None
    if _has_nested_quantifier(pattern):
        raise _PatternProblem("regular expression repeats a repetition (like '(a+)+')",
                              "that can take exponential time: make the inner quantifier possessive ('a++') "
                              "or use an atomic group '(?>...)'")
    return compiled


try:  # the structure check reads the stdlib's own regex parser; without it only the length limits apply
    from re import _constants as _sre
    from re import _parser as _sre_parser
except ImportError:  # pragma: no cover - Python < 3.11 layouts
    _sre = _sre_parser = None  # type: ignore[assignment]


_SMALL_REPEAT = 4  # (x{1,3}){3} tries at most 3**3 splits per position: harmless; (x+)+ or (x{1,9}){1,9} is not


def _has_nested_quantifier(pattern: str) -> bool:
    """True when a variable-length repeat sits inside a repeat that can run more than once, unless both are small."""
    if _sre_parser is None:  # pragma: no cover
        return False
    # Each pending entry: a sequence of regex items and the largest count of the repeat around it (0: none).
    pending: list[tuple[object, int]] = [(_sre_parser.parse(pattern), 0)]
    while pending:
        items, outer = pending.pop()
        for op, av in items:  # type: ignore[attr-defined]
            if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
                low, high, body = av
                if outer > 1 and high > 1 and low != high and max(outer, high) > _SMALL_REPEAT:
                    return True
                pending.append((body, max(outer, high)))
            elif op in (_sre.POSSESSIVE_REPEAT, _sre.ATOMIC_GROUP):  # never backtracked into
                pending.append((av[2] if op == _sre.POSSESSIVE_REPEAT else av, 0))
            elif op == _sre.SUBPATTERN:
                pending.append((av[-1], outer))
            elif op == _sre.BRANCH:
                pending.extend((branch, outer) for branch in av[1])
            elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
                pending.append((av[1], outer))
            elif op == _sre.GROUPREF_EXISTS:
                pending.extend((branch, outer) for branch in av[1:] if branch is not None)
    return False


# ---------------------------------------------------------------- evaluation


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


def _evaluate(node: Node, env: Mapping[str, object]) -> object:
    # Recursion is bounded: the parser caps nesting at MAX_DEPTH and chains are flat n-ary nodes.
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        return _read(node, env)
    if isinstance(node, Logical):
        stop = node.op == "or"  # `or` stops at the first true, `and` at the first false
        for index, operand in enumerate(node.operands):
            column = node.columns[max(index - 1, 0)]
            if _boolean(_evaluate(operand, env), node.op, column) is stop:
                return stop
        return not stop
    if isinstance(node, Not):
        return not _boolean(_evaluate(node.operand, env), "not", node.column)
    if isinstance(node, Comparison):
        return _compare(node, _evaluate(node.left, env), _evaluate(node.right, env))
    if isinstance(node, Arithmetic):
        value = _evaluate(node.first, env)
        for op, column, operand in node.rest:
            value = _arithmetic(op, value, _evaluate(operand, env), column)
        return value
    if isinstance(node, Negate):
        value = _evaluate(node.operand, env)
        if not _is_number(value):
            raise EvaluationError(f"'-' needs a number, got {_describe(value)}", node.column)
        return _checked_number(-value, node.column)  # type: ignore[operator]
    if isinstance(node, ListOf):
        return tuple(_evaluate(item, env) for item in node.items)
    return _match(node, env)


def _match(node: Match, env: Mapping[str, object]) -> bool:
    subject = _evaluate(node.subject, env)
    compiled = node.compiled
    if compiled is None:
        pattern = _evaluate(node.pattern, env)
        if not isinstance(pattern, str):
            raise EvaluationError(f"the pattern of 'matches' must be a string, got {_describe(pattern)}",
                                  node.column)
        try:
            compiled = compile_pattern(pattern)
        except _PatternProblem as problem:
            raise EvaluationError(str(problem), node.column) from None
    if not isinstance(subject, str):
        raise EvaluationError(f"'matches' needs a string on the left, got {_describe(subject)}", node.column)
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise EvaluationError(f"text too long for 'matches' ({len(subject)} characters, at most "
                              f"{MAX_SUBJECT_LENGTH})", node.column)
    return compiled.search(subject) is not None
