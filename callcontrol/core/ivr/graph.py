"""A flow as a graph: each node's exits, expressions and sounds, and which nodes a caller can reach."""

from __future__ import annotations

from collections.abc import Mapping

from callcontrol.core.expressions import Expression
from callcontrol.core.ivr.checker import DocumentPath
from callcontrol.core.ivr.model import Flow, Node
from callcontrol.core.ivr.nodes import KIND_BY_CLASS

_PROMPT_FIELDS = ("prompts", "no_input_prompts", "invalid_prompts")


def node_exits(node: Node) -> list[tuple[str, str]]:
    """A node's exits as (label, target node id), in a stable order: for graphs, reachability and tests."""
    kind = KIND_BY_CLASS.get(type(node))
    return kind.exits(node) if kind is not None else []


def node_expressions(node: Node) -> list[tuple[DocumentPath, Expression]]:
    """A node's expressions, each with its path inside the node (for checks over names and comparisons)."""
    kind = KIND_BY_CLASS.get(type(node))
    return kind.expressions(node) if kind is not None else []


def prompt_references(flow: Flow) -> list[tuple[DocumentPath, str]]:
    """Every sound a flow can play, with its path in the document (for checks against a sounds directory)."""
    references: list[tuple[DocumentPath, str]] = []
    for node_id, node in flow.nodes.items():
        for key in _PROMPT_FIELDS:
            references.extend((("nodes", node_id, key, index), name)
                              for index, name in enumerate(getattr(node, key, ())))
        kind = KIND_BY_CLASS.get(type(node))
        if kind is not None:
            references.extend((("nodes", node_id, *where), name) for where, name in kind.extra_prompts(node))
    return references


def reachable_nodes(flow: Flow) -> set[str]:
    """Node ids a caller can reach from the start node."""
    return reachable_from(flow.start, {node_id: [target for _, target in node_exits(node)]
                                       for node_id, node in flow.nodes.items()})


def reachable_from(start: str, exits: Mapping[str, list[str]]) -> set[str]:
    """Breadth of a graph given as node -> exit targets (targets that are not nodes are not followed)."""
    seen = {start}
    pending = [start]
    while pending:
        for target in exits.get(pending.pop(), []):
            if target and target in exits and target not in seen:
                seen.add(target)
                pending.append(target)
    return seen
