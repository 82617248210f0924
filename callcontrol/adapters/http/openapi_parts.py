"""The building blocks of the OpenAPI fragments each route module declares next to its ROUTES (OPERATIONS).

A route module describes each of its routes as one OpenAPI 3.1 Operation Object, keyed by (method, path) exactly
as in its ROUTES, and built with the helpers here so every description shares one error schema and one style:

    OPERATIONS: Operations = {
        ("GET", "/api/queues/{queue_id}"): operation(
            "One queue as it is now", tag="queues", parameters=[path_id("queue_id", "the queue", "sales")],
            responses={200: json_response("The queue", ref("Queue")), 404: error_response("No such queue")}),
    }

The security requirement and the 401/403/429 answers are not written here: openapi.py derives them from the
route's access in the route table, the one thing the middleware checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

Schema = dict[str, Any]
Operation = dict[str, Any]  # an OpenAPI Operation Object without "security" (openapi.py adds it)
Operations = Mapping[tuple[str, str], Operation]  # (method, path as in ROUTES) -> its description

JSON = "application/json"
ERROR_SCHEMA: Schema = {
    "type": "object", "required": ["error", "message"],
    "properties": {"error": {"type": "string", "description": "a stable machine-readable code, e.g. not_found"},
                   "message": {"type": "string", "description": "what went wrong, for people"}},
}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> Schema:
    """A reference to one of the shared schemas (openapi.py's SCHEMAS, components/schemas)."""
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def obj(properties: Mapping[str, Schema], required: Sequence[str] = (), closed: bool = False) -> Schema:
    """A JSON object; `closed`: no other keys (request bodies); answers stay open to fields added later."""
    schema: Schema = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def operation(summary: str, *, tag: str, responses: Mapping[int, Mapping[str, Any]],
              parameters: Sequence[Mapping[str, Any]] = (), body: Mapping[str, Any] | None = None,
              description: str | None = None) -> Operation:
    """One operation: a summary, its tag (the resource), parameters, request body and answers by status."""
    described: Operation = {"summary": summary, "tags": [tag],
                            "responses": {str(status): dict(answer) for status, answer in responses.items()}}
    if description:
        described["description"] = description
    if parameters:
        described["parameters"] = [dict(parameter) for parameter in parameters]
    if body is not None:
        described["requestBody"] = dict(body)
    return described


def json_response(description: str, schema: Schema, headers: Mapping[str, Schema] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        answer["headers"] = {name: {"schema": header} for name, header in headers.items()}
    return answer


def error_response(description: str, headers: Mapping[str, Schema] | None = None) -> dict[str, Any]:
    """An answer with the shared JSON error body {error, message}."""
    return json_response(description, ref("Error"), headers)


def empty_response(description: str) -> dict[str, Any]:
    return {"description": description}


def json_body(schema: Schema, description: str, example: Any) -> dict[str, Any]:
    """A required JSON request body, with an example the service accepts (schemathesis sends it first)."""
    return {"required": True, "description": description, "content": {JSON: {"schema": schema, "example": example}}}


def path_id(name: str, what: str, example: str) -> dict[str, Any]:
    """A path parameter: an id (any text; an unknown one is 404), with an example the service knows."""
    return {"name": name, "in": "path", "required": True, "description": what, "schema": {"type": "string"},
            "example": example}


def json_pattern(grammar: re.Pattern[str]) -> str:
    """One of core/identifiers.py's grammars as a JSON Schema (ECMA-262) pattern: Python's \\Z is $ there."""
    return grammar.pattern.replace("\\Z", "$")


def query(name: str, what: str, schema: Schema, example: Any = None) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": False, "description": what,
                                 "schema": schema}
    if example is not None:
        parameter["example"] = example
    return parameter
