"""The language node: the prompts' language from here on, one of the flow's languages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import Done, Outcome, SetLanguage
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step
from callcontrol.core.ivr.walking import Continue, Transition, Walk, expect, stepped


@dataclass(frozen=True)
class LanguageNode:
    id: str
    language: str
    next: str


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> LanguageNode:
    language = raw.get("language")
    if language not in context.languages:
        check.error((*path, "language"), f"language {language!r} is not in the flow's languages "
                                         f"{list(context.languages)}")
    return LanguageNode(node_id, str(language), check.exit(raw, "next", path))


def enter(walk: Walk, node: LanguageNode, state: IvrState, now: datetime) -> Transition:
    return Step(replace(state, language=node.language), SetLanguage(node.language))


def advance(walk: Walk, node: LanguageNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    expect(outcome, Done, node)
    return Continue(node.next, stepped(state, node, "language", now))


KIND = NodeKind("language", LanguageNode, {"language": True, "next": True}, build, enter,
                lambda node: [("next", node.next)], advance, silent=True)
