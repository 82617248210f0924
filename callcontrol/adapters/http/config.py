"""/api/config: admin CRUD of agents and queues, checked by the configuration file codec, saved, applied live."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from callcontrol.adapters.acd_files import AcdConfig, agent_to_data, build_acd_config, queue_to_data
from callcontrol.adapters.http.acd_json import ACD_DESK, refused, request_json
from callcontrol.adapters.http.auth import Handler, Route
from callcontrol.adapters.http.openapi_parts import (
    ERROR_SCHEMA,
    Operations,
    Schema,
    array_of,
    empty_response,
    error_response,
    json_body,
    json_response,
    obj,
    operation,
    path_id,
    ref,
)
from callcontrol.core.acd.model import Strategy
from callcontrol.core.permissions import Permission
from callcontrol.core.acd.errors import AcdError, NotFound, UnknownAgent, UnknownQueue
from callcontrol.core.acd.model import Agent, InvalidConfig, Overflow, Queue
from callcontrol.core.acd.router import QueueIsOverflowTarget
from callcontrol.core.ivr import Problem
from callcontrol.services.ports import AcdStore

NOT_AN_OBJECT = "the body must be a JSON object"
_WHERE = re.compile(r"^(agent|queue) [^:]*: ")  # the codec's "agent ada: " prefix (the path says where)
ACD_STORE = web.AppKey("acd_store", AcdStore)  # where the configuration is kept
CONFIG_WRITING = web.AppKey("config_writing", asyncio.Lock)  # one change at a time (each reads, writes, applies)
_TO_DATA: dict[str, Callable[[Any], dict[str, Any]]] = {"agent": agent_to_data, "queue": queue_to_data}
_UNKNOWN: dict[str, type[NotFound]] = {"agent": UnknownAgent, "queue": UnknownQueue}


def _stored_list(kind: str) -> Handler:
    """GET /api/config/{kind}s: every stored agent or queue."""
    async def handle(request: web.Request) -> web.Response:
        return web.json_response([_TO_DATA[kind](item) for item in await _stored(request, kind)])
    return handle


def _stored_one(kind: str) -> Handler:
    """GET /api/config/{kind}s/{id}: one stored agent or queue."""
    async def handle(request: web.Request) -> web.Response:
        item_id = request.match_info[f"{kind}_id"]
        for item in await _stored(request, kind):
            if item.id == item_id:
                return web.json_response(_TO_DATA[kind](item))
        return refused(_UNKNOWN[kind](f"no {kind} {item_id[:64]}"))
    return handle


async def _stored(request: web.Request, kind: str) -> Sequence[Agent | Queue]:
    agents, queues = await request.app[ACD_STORE].load_config()
    return agents if kind == "agent" else queues


async def put_agent(request: web.Request) -> web.Response:
    desk, store, agent_id = request.app[ACD_DESK], request.app[ACD_STORE], request.match_info["agent_id"]
    config, problems = await _definition(request, "agent", agent_id)
    if config is None:
        return _invalid(problems, 400 if problems == [NOT_AN_OBJECT] else 422)
    agent = config.agents[0]
    async with request.app[CONFIG_WRITING]:
        agents, _queues = await store.load_config()
        existed = any(a.id == agent_id for a in agents) or agent_id in desk.view.agent_ids()
        try:
            await store.save_config([agent], [])
        except InvalidConfig as exc:
            return _invalid([str(exc)])
        desk.define_agent(agent)
    return web.json_response(agent_to_data(agent), status=200 if existed else 201,
                             headers={"Location": f"/api/config/agents/{agent_id}"})


async def delete_agent(request: web.Request) -> web.Response:
    desk, store, agent_id = request.app[ACD_DESK], request.app[ACD_STORE], request.match_info["agent_id"]
    async with request.app[CONFIG_WRITING]:
        live = desk.view.agent(agent_id) if agent_id in desk.view.agent_ids() else None
        try:
            if live is not None:
                desk.remove_agent(agent_id)  # refuses an agent still logged in
        except AcdError as exc:
            return refused(exc)
        try:  # the row goes too when the service refused it at start (an endpoint it cannot dial)
            stored = await store.remove_config(agent_ids=[agent_id])
        except BaseException:
            if live is not None:
                desk.define_agent(live)  # back as it was: logged out
            raise
        if not stored and live is None:
            return refused(UnknownAgent(f"no agent {agent_id[:64]}"))
    return web.Response(status=204)


async def put_queue(request: web.Request) -> web.Response:
    desk, store, queue_id = request.app[ACD_DESK], request.app[ACD_STORE], request.match_info["queue_id"]
    async with request.app[CONFIG_WRITING]:
        _agents, queues = await store.load_config()
        # an overflow may name a queue both saved and live (the running service must know it too)
        known = {q.id for q in queues} & set(desk.view.queue_ids())
        config, problems = await _definition(request, "queue", queue_id, known)
        if config is None:
            return _invalid(problems, 400 if problems == [NOT_AN_OBJECT] else 422)
        queue = config.queues[0]
        existed = any(q.id == queue_id for q in queues) or queue_id in desk.view.queue_ids()
        try:
            await store.save_config([], [queue])
        except InvalidConfig as exc:
            return _invalid([str(exc)])
        try:
            desk.define_queue(queue)
        except AcdError as exc:  # not expected: the overflow target was checked against the live queues
            return refused(exc)
    return web.json_response(queue_to_data(queue), status=200 if existed else 201,
                             headers={"Location": f"/api/config/queues/{queue_id}"})


async def delete_queue(request: web.Request) -> web.Response:
    desk, store, queue_id = request.app[ACD_DESK], request.app[ACD_STORE], request.match_info["queue_id"]
    async with request.app[CONFIG_WRITING]:
        _agents, queues = await store.load_config()
        stored = next((q for q in queues if q.id == queue_id), None)
        live = queue_id in desk.view.queue_ids()
        if stored is None and not live:
            return refused(UnknownQueue(f"no queue {queue_id[:64]}"))
        sources = sorted(q.id for q in queues if q.id != queue_id and q.overflow is not None
                         and isinstance(q.overflow.action, Overflow) and q.overflow.action.queue_id == queue_id)
        if sources:
            return refused(QueueIsOverflowTarget(f"queue(s) {', '.join(sources)} overflow to {queue_id}"))
        try:
            if live:
                desk.remove_queue(queue_id)  # refuses a queue calls are in
        except AcdError as exc:
            return refused(exc)
        if stored is not None:
            try:
                await store.remove_config(queue_ids=[queue_id])
            except BaseException:
                if live:
                    desk.define_queue(stored)
                raise
    return web.Response(status=204)


def _invalid(problems: Sequence[str], status: int = 422) -> web.Response:
    """422: a JSON object the codec refuses (each problem names its field); 400: not a JSON object at all."""
    message = "the body must be a JSON object" if status == 400 else f"{len(problems)} problem(s) in the definition"
    return web.json_response({"error": "invalid", "message": message, "problems": list(problems)}, status=status)


async def _definition(request: web.Request, kind: str, item_id: str,
                      known_queues: set[str] | None = None) -> tuple[AcdConfig | None, list[str]]:
    """The body as one agent or queue, through the configuration file codec; else every problem."""
    try:
        body = await request_json(request)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return None, [NOT_AN_OBJECT]
    problems = []
    if "id" in body and body["id"] != item_id:
        problems.append(f"id: {str(body['id'])[:64]!r} is not the id in the path ({item_id[:64]})")
    config, found = build_acd_config({f"{kind}s": [{**body, "id": item_id}]}, known_queues or ())
    problems += [_problem_text(problem) for problem in found if problem.severity == "error"]
    return (None if problems else config), problems


def _problem_text(problem: Problem) -> str:
    """'skills.english: skills english: level must be an integer 1-10, not 11' (the path inside the body)."""
    path = problem.path[2:] if problem.path[:1] in (("agents",), ("queues",)) else problem.path
    message = _WHERE.sub("", problem.message)
    return f"{'.'.join(str(part) for part in path)}: {message}" if path else message


ROUTES = (
    Route("GET", "/api/config/agents", _stored_list("agent"), Permission.CONFIG_READ),
    Route("GET", "/api/config/agents/{agent_id}", _stored_one("agent"), Permission.CONFIG_READ),
    Route("PUT", "/api/config/agents/{agent_id}", put_agent, Permission.CONFIG_WRITE),
    Route("DELETE", "/api/config/agents/{agent_id}", delete_agent, Permission.CONFIG_WRITE),
    Route("GET", "/api/config/queues", _stored_list("queue"), Permission.CONFIG_READ),
    Route("GET", "/api/config/queues/{queue_id}", _stored_one("queue"), Permission.CONFIG_READ),
    Route("PUT", "/api/config/queues/{queue_id}", put_queue, Permission.CONFIG_WRITE),
    Route("DELETE", "/api/config/queues/{queue_id}", delete_queue, Permission.CONFIG_WRITE),
)


_LEVELS: Schema = {"type": "object", "additionalProperties": {"type": "integer"}, "description": "skill: level"}
_NAMES: Schema = array_of({"type": "string"})
_SECONDS: Schema = {"type": "number"}
SCHEMAS: dict[str, Schema] = {
    "AgentDefinition": obj({
        "id": {"type": "string", "description": "optional: the id in the path"}, "name": {"type": "string"},
        "endpoint": {"type": "string", "description": "what to dial, e.g. PJSIP/agent1001"},
        "teams": _NAMES, "skills": _LEVELS, "wrap_up_s": _SECONDS}, required=("name", "endpoint")),
    "QueueDefinition": obj({
        "id": {"type": "string", "description": "optional: the id in the path"}, "name": {"type": "string"},
        "required_skills": _LEVELS, "preferred_skills": _LEVELS, "strategy": {"enum": [str(s) for s in Strategy]},
        "priority": {"type": "integer"}, "weight": _SECONDS, "ring_timeout_s": _SECONDS, "wrap_up_s": _SECONDS,
        "max_wait_s": {"type": ["number", "null"]}, "max_length": {"type": ["integer", "null"]},
        "service_level_s": _SECONDS, "callback_allowed": {"type": "boolean"}, "short_abandon_s": _SECONDS,
        "teams": _NAMES, "escalations": array_of({"type": "object", "description": "{after_s, one action}"}),
        "expected_handle_s": _SECONDS, "moh_class": {"type": "string"}, "announce_position": {"type": "boolean"},
        "announce_estimated_wait": {"type": "boolean"}, "announce_every_s": _SECONDS,
        "periodic_prompts": _NAMES, "recording": {"type": ["string", "null"]},
        "wrapup": {"type": ["object", "null"], "description": "wrap-up codes {codes: [{id, label}], required}"}},
        required=("name",)),
    "Invalid": {**ERROR_SCHEMA, "required": ["error", "message", "problems"],
                "properties": {**ERROR_SCHEMA["properties"],
                               "problems": array_of({"type": "string", "description": "field: what is wrong"})}},
}


_EXAMPLES = {"agent": {"name": "Ada Lovelace", "endpoint": "PJSIP/agent1001", "teams": ["sales"],
                       "skills": {"english": 9, "sales": 8}},
             "queue": {"name": "Sales", "required_skills": {"sales": 5}, "strategy": "longest_idle",
                       "teams": ["sales"], "max_wait_s": 600}}


def _described(kind: str, example: str) -> Operations:
    """The four operations on /api/config/{kind}s (docs/acd.md, "Configuration file", has each field's rules)."""
    definition, tag, where = ref(f"{kind.capitalize()}Definition"), "configuration", f"/api/config/{kind}s"
    item = path_id(f"{kind}_id", f"the {kind}'s id", example)
    saved = {"Location": {"type": "string"}}
    return {
        ("GET", where): operation(f"Every stored {kind}", tag=tag,
                                  responses={200: json_response(f"Every {kind}", array_of(definition))}),
        ("GET", f"{where}/{{{kind}_id}}"): operation(
            f"One stored {kind}", tag=tag, parameters=[item],
            responses={200: json_response(f"The {kind}", definition), 404: error_response(f"No such {kind}")}),
        ("PUT", f"{where}/{{{kind}_id}}"): operation(
            f"Create or replace a {kind}: saved, then applied to the running ACD", tag=tag, parameters=[item],
            body=json_body(definition, f"the {kind}, as in the configuration file", _EXAMPLES[kind]),
            responses={200: json_response("Replaced", definition, saved),
                       201: json_response("Created", definition, saved),
                       400: json_response("The body is not a JSON object", ref("Invalid")),
                       404: error_response("Not expected: the ACD refused a checked definition"),
                       409: error_response("Not expected: the ACD refused a checked definition"),
                       422: json_response("The definition breaks the rules (every problem named)", ref("Invalid"))}),
        ("DELETE", f"{where}/{{{kind}_id}}"): operation(
            f"Remove a {kind}, from the store and the running ACD", tag=tag, parameters=[item],
            responses={204: empty_response("Removed"), 404: error_response(f"No such {kind}"),
                       409: error_response(f"The {kind} is in use (logged in, calls waiting, an overflow target)")}),
    }


OPERATIONS: Operations = {**_described("agent", "ada"), **_described("queue", "sales")}
