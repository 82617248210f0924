"""The http node: a data dip to an allow-listed URL, fields of the JSON answer mapped into variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from callcontrol.core.expressions import EvaluationError, Expression
from callcontrol.core.identifiers import HTTP_PATH, IDENTIFIER, JSON_PATH
from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import HttpAnswered, HttpFailed, HttpRequest, Outcome
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step
from callcontrol.core.ivr.walking import Continue, Transition, Walk, expect, stepped



@dataclass(frozen=True)
class HttpNode:
    """A data dip: a request to an allow-listed URL; answer fields mapped into variables."""

    id: str
    method: Literal["GET", "POST"]
    url: str
    query: tuple[tuple[str, Expression], ...]
    body: tuple[tuple[str, Expression], ...]
    timeout_s: float
    result: tuple[tuple[str, tuple[str, ...]], ...]  # variable <- path of keys into the JSON answer
    ok: str
    error: str
    timeout: str


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> HttpNode:
    method = raw.get("method", "GET")
    if method not in ("GET", "POST"):
        check.error((*path, "method"), "must be GET or POST")
        method = "GET"
    url = raw.get("url")
    base = next((b for b in context.allow.http if isinstance(url, str) and url.startswith(b)), None)
    if base is None:
        check.error((*path, "url"), f"{url!r} is not under an allow-listed base URL (allow.http): a flow can "
                                    "only call allow-listed services")
    elif not HTTP_PATH.match(str(url)[len(base):]):
        check.error((*path, "url"), "the path after the base URL may only hold letters, digits and . _ ~ / - "
                                    "(caller data goes in query or body, never in the URL)")
    fields = {}
    for key in ("query", "body"):
        raw_fields = check.mapping(raw, key, path, "must map field names to expressions")
        parsed = []
        for name, text in raw_fields.items():
            if not (isinstance(name, str) and JSON_PATH.match(name) and "." not in name):
                check.error((*path, key, str(name)), f"{name!r} is not a field name")
                continue
            expression = check.expression(text, (*path, key, name))
            if expression is not None:
                parsed.append((name, expression))
        fields[key] = tuple(parsed)
    if fields["body"] and method != "POST":
        check.error((*path, "body"), "a body needs method: POST")
    raw_result = check.mapping(raw, "result", path, "must map variable names to paths in the JSON answer "
                                                    "(customer.tier)")
    result = []
    for name, json_path in raw_result.items():
        if not (isinstance(name, str) and IDENTIFIER.match(name)):
            check.error((*path, "result", str(name)), f"{name!r} is not a variable name")
        elif not (isinstance(json_path, str) and JSON_PATH.match(json_path)):
            check.error((*path, "result", name), f"{json_path!r} is not a path into the answer (a.b.c)")
        else:
            result.append((name, tuple(json_path.split("."))))
    return HttpNode(node_id, method, str(url), fields["query"], fields["body"],  # type: ignore[arg-type]
                    check.number(raw, "timeout_s", path, 0.1, 10, 2), tuple(result), check.exit(raw, "ok", path),
                    check.exit(raw, "error", path), check.exit(raw, "timeout", path))


def _scalar_text(value: object) -> str:
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int, float)):
        raise TypeError(f"{value!r} cannot go in a query string")
    return str(value)


def _request(walk: Walk, node: HttpNode, state: IvrState, now: datetime) -> HttpRequest | None:
    env = walk.env(state, now)
    try:
        query = tuple((name, _scalar_text(expression.evaluate(env))) for name, expression in node.query)
        body = {name: expression.evaluate(env) for name, expression in node.body}
    except (EvaluationError, TypeError):
        return None
    return HttpRequest(node.method, node.url, query, MappingProxyType(body) if node.method == "POST" else None,
                       node.timeout_s)


def enter(walk: Walk, node: HttpNode, state: IvrState, now: datetime) -> Transition:
    request = _request(walk, node, state, now)
    if request is not None:
        return Step(state, request)
    return Continue(node.error, stepped(state, node, "error", now))


def advance(walk: Walk, node: HttpNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    if isinstance(outcome, HttpFailed):
        target = node.timeout if outcome.reason == "timeout" else node.error
        return Continue(target, stepped(state, node, outcome.reason, now))
    expect(outcome, HttpAnswered, node)
    assert isinstance(outcome, HttpAnswered)
    if not 200 <= outcome.status < 300:
        return Continue(node.error, stepped(state, node, "error", now, str(outcome.status)))
    variables = dict(state.variables)
    for name, json_path in node.result:
        value: object = outcome.body
        for key in json_path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None or isinstance(value, (dict, list)):
            return Continue(node.error, stepped(state, node, "error", now, "answer"))
        variables[name] = value
    return Continue(node.ok, stepped(state, node, "ok", now, variables=MappingProxyType(variables)))


def expressions(node: HttpNode) -> list[tuple[DocumentPath, Expression]]:
    return [*((("query", name), expression) for name, expression in node.query),
            *((("body", name), expression) for name, expression in node.body)]


KIND = NodeKind(
    "http", HttpNode,
    {"method": False, "url": True, "query": False, "body": False, "timeout_s": False, "result": False, "ok": True,
     "error": True, "timeout": True},
    build, enter, lambda node: [("ok", node.ok), ("error", node.error), ("timeout", node.timeout)], advance,
    expressions=expressions)
