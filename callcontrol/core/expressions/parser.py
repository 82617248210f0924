"""The expression parser: recursive descent over the tokens into a syntax tree, with a nesting budget."""

from __future__ import annotations

from collections.abc import Callable

from callcontrol.core.expressions.errors import ExpressionError
from callcontrol.core.expressions.lexer import Lexer, Token
from callcontrol.core.expressions.limits import MAX_DEPTH, MAX_TEXT_LENGTH
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

_WORD_OPERATORS = frozenset({"in", "starts_with", "ends_with", "contains", "matches"})
_SYMBOL_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


class Parser:
    """Recursive descent with an explicit depth budget: every nesting ( [ not - costs one level."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ExpressionError(f"an expression must be text, got {type(text).__name__}", 1,
                                  "quote it in the flow file")
        if len(text) > MAX_TEXT_LENGTH:
            raise ExpressionError(f"expression too long ({len(text)} characters)", MAX_TEXT_LENGTH + 1,
                                  f"at most {MAX_TEXT_LENGTH}")
        self.text = text
        self.lexer = Lexer(text)
        self.ahead: list[Token] = []
        self.depth = 0
        self.names: set[str] = set()

    # -- token stream (lazy, so the first problem in reading order is the one reported)

    def peek(self, offset: int = 0) -> Token:
        while len(self.ahead) <= offset:
            if self.ahead and self.ahead[-1].kind == "end":
                return self.ahead[-1]
            self.ahead.append(self.lexer.next())
        return self.ahead[offset]

    def take(self) -> Token:
        token = self.peek()
        if token.kind != "end":
            self.ahead.pop(0)
        return token

    def at(self, kind: str, value: object, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind == kind and token.value == value

    def unexpected(self, token: Token, hint: str | None = None) -> ExpressionError:
        return ExpressionError(f"unexpected {token.describe()}", token.column, hint)

    def enter(self, token: Token) -> None:
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
    def _leftover_hint(token: Token) -> str | None:
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

    def comparison_operator(self) -> tuple[str, Token] | None:
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
                except PatternProblem as problem:
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

    def close(self, closing: str, opening: Token) -> None:
        token = self.peek()
        if token.kind == "op" and token.value == closing:
            self.take()
            return
        if token.kind == "end":
            raise ExpressionError(f"missing '{closing}'", token.column,
                                  f"to close the '{opening.value}' at column {opening.column}")
        expected = "',' or ']'" if closing == "]" else "')'"
        raise self.unexpected(token, f"expected {expected}")
