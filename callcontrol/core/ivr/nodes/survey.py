"""The survey node: questions scored 1 to 5 with one key each, the scores kept in variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import CollectDigit, DigitPressed, Outcome
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step
from callcontrol.core.ivr.walking import Continue, Transition, Walk, stepped

SURVEY_SCORES = frozenset("12345")


@dataclass(frozen=True)
class SurveyQuestion:
    prompts: tuple[str, ...]
    variable: str


@dataclass(frozen=True)
class SurveyNode:
    id: str
    questions: tuple[SurveyQuestion, ...]
    timeout_ms: int
    next: str


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> SurveyNode:
    raw_questions = raw.get("questions", [])
    questions = []
    if not isinstance(raw_questions, list) or not raw_questions:
        check.error((*path, "questions"), "must be a list of {prompts, variable}")
        raw_questions = []
    for index, question in enumerate(raw_questions):
        question_path = (*path, "questions", index)
        if not isinstance(question, Mapping):
            check.error(question_path, "a question is {prompts: [...], variable: name}")
            continue
        check.keys(question, {"prompts": True, "variable": True}, question_path)
        question_prompts = check.prompts(question.get("prompts"), (*question_path, "prompts"))
        if not question_prompts:
            check.error((*question_path, "prompts"), "a question needs a prompt")
        questions.append(SurveyQuestion(question_prompts, check.variable(question, "variable", question_path)))
    return SurveyNode(node_id, tuple(questions), int(check.number(raw, "timeout_s", path, 1, 30, 5) * 1000),
                      check.exit(raw, "next", path))


def enter(walk: Walk, node: SurveyNode, state: IvrState, now: datetime) -> Transition:
    return Step(replace(state, question=0), CollectDigit(node.questions[0].prompts, node.timeout_ms))


def advance(walk: Walk, node: SurveyNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    question = node.questions[state.question]
    if isinstance(outcome, DigitPressed) and outcome.digit in SURVEY_SCORES:
        variables = MappingProxyType({**state.variables, question.variable: int(outcome.digit)})
        state = stepped(state, node, "score", now, outcome.digit, variables=variables)
    else:
        state = stepped(state, node, "no_score", now)  # unanswered or out of range: the question is skipped
    if state.question + 1 < len(node.questions):
        following = node.questions[state.question + 1]
        return Step(replace(state, question=state.question + 1), CollectDigit(following.prompts, node.timeout_ms))
    return Continue(node.next, replace(state, question=0))


def question_prompts(node: SurveyNode) -> list[tuple[DocumentPath, str]]:
    return [(("questions", number, "prompts", index), name)
            for number, question in enumerate(node.questions) for index, name in enumerate(question.prompts)]


KIND = NodeKind("survey", SurveyNode, {"questions": True, "timeout_s": False, "next": True}, build, enter,
                lambda node: [("next", node.next)], advance, extra_prompts=question_prompts)
