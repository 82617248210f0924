"""The public object of the expression language: an Expression parsed from text, evaluated over names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from callcontrol.core.expressions.evaluator import evaluate
from callcontrol.core.expressions.parser import Parser
from callcontrol.core.expressions.syntax import Comparison, Node, walk


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source text, syntax tree and the variables it reads."""

    text: str
    root: Node = field(init=False, repr=False, compare=False)
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parser = Parser(self.text)
        object.__setattr__(self, "root", parser.parse())
        object.__setattr__(self, "_names", frozenset(parser.names))

    def variables(self) -> frozenset[str]:
        """The dotted names the expression references (all of them, short-circuited or not)."""
        return self._names

    def evaluate(self, env: Mapping[str, object]) -> object:
        """The value of the expression with names read from env; lists come back as tuples."""
        return evaluate(self.root, env)

    def comparisons(self) -> Iterator[Comparison]:
        """Every comparison in the tree (== != < <= > >= in, not in, starts_with, ends_with, contains), short-circuited
        or not, each before those inside it (walk's order): for checks that read expressions without evaluating."""
        return (node for node in walk(self.root) if isinstance(node, Comparison))


def parse(text: str) -> Expression:
    """Parse expression text; raises ExpressionError with the column of the first problem."""
    return Expression(text)
