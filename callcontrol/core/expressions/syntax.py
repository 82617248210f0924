"""The syntax tree of an expression, and a read-only walk over it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union


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
