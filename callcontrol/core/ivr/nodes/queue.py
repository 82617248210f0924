"""The queue node: the caller handed to the ACD (allow-listed queue, skills, priority, announcements, callback)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from callcontrol.core.acd.caller_prompts import AnnouncementSounds, CallbackSounds, sounds_from
from callcontrol.core.recording_policy import RecordingOverride, override_from_data
from callcontrol.core.identifiers import CALLBACK_NUMBERS, IDENTIFIER
from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import Callback, Enqueue, Outcome, QueueAnnouncements, QueueLeft
from callcontrol.core.ivr.model import DIGITS, Schedule
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import FlowError, IvrState, Step
from callcontrol.core.ivr.walking import Continue, Transition, Walk, expect, stepped

SKILL_LEVELS = range(1, 11)


@dataclass(frozen=True)
class CallbackOption:
    """Virtual hold: pressing `key` while queued books a call back to a number matching `numbers` (the only
    numbers this queue node may call), while `schedule` (if any) is open; then the flow goes on at `next`."""

    key: str
    numbers: re.Pattern[str]
    schedule: Schedule | None
    next: str
    sounds: CallbackSounds = CallbackSounds()  # the booking dialog's


@dataclass(frozen=True)
class QueueNode:
    """Hand the caller to the ACD: an allow-listed queue, extra skills, a priority, a maximum wait.

    Exits: `answered` (optional: where the caller goes when the agent hangs up first; without it the call
    ends with the conversation), `timeout` (max_wait_s reached), `no_agents` (nobody can take the call),
    and one exit per key in `exit_keys` (the caller chose to leave the queue).
    """

    id: str
    queue: str
    skills: Mapping[str, int]  # extra requirements for this caller: skill -> minimum level (1-10)
    priority: int | None  # None: the queue's default
    max_wait_s: int
    announcements: QueueAnnouncements
    exit_keys: Mapping[str, str]  # digit -> node
    answered: str | None
    timeout: str
    no_agents: str
    callback: CallbackOption | None = None
    recording: RecordingOverride | None = None  # overrides part of the queue's recording policy


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> QueueNode:
    queue = raw.get("queue")
    if not isinstance(queue, str) or queue not in context.allow.queues:
        check.error((*path, "queue"), f"queue {queue!r} is not on the flow's allow list (allow.queues)")
    raw_skills = check.mapping(raw, "skills", path, "must map skill names to minimum levels (1-10)")
    skills: dict[str, int] = {}
    for skill, level in raw_skills.items():
        if not (isinstance(skill, str) and IDENTIFIER.match(skill)):
            check.error((*path, "skills", str(skill)), f"{skill!r} is not a skill name (a lowercase identifier)")
        elif isinstance(level, bool) or not isinstance(level, int) or level not in SKILL_LEVELS:
            check.error((*path, "skills", skill), "must be a minimum level, a whole number from 1 to 10")
        else:
            skills[skill] = level
    priority = int(check.number(raw, "priority", path, 0, 9, 0, whole=True)) if "priority" in raw else None
    announcements = _announcements(check, raw.get("announce", {}), (*path, "announce"))
    raw_keys = check.mapping(raw, "exit_keys", path, 'must map keys to nodes, e.g. {"1": leave_message}')
    exit_keys: dict[str, str] = {}
    for digit in raw_keys:
        if not (isinstance(digit, str) and digit in DIGITS):
            check.error((*path, "exit_keys", str(digit)), f"{digit!r} is not a key (one of 0-9 * #, quoted)")
            continue
        exit_keys[digit] = check.exit(raw_keys, digit, (*path, "exit_keys"))
    callback = _callback(check, raw["callback"], (*path, "callback"), context, exit_keys) if "callback" in raw \
        else None
    recording, problem = override_from_data(raw.get("recording"))
    if problem is not None:
        check.error((*path, "recording"), f"recording: {problem}")
    return QueueNode(node_id, str(queue), MappingProxyType(skills), priority,
                     int(check.number(raw, "max_wait_s", path, 5, 7200, 300, whole=True)), announcements,
                     MappingProxyType(exit_keys), check.exit(raw, "answered", path, required=False) or None,
                     check.exit(raw, "timeout", path), check.exit(raw, "no_agents", path), callback,
                     recording)


def _callback(check: FlowChecker, raw: Any, path: DocumentPath, context: FlowContext,
              exit_keys: Mapping[str, str]) -> CallbackOption | None:
    if not isinstance(raw, Mapping):
        check.error(path, "must be a mapping: key, numbers, schedule (optional), next, sounds (optional)")
        return None
    check.keys(raw, {"key": True, "numbers": True, "schedule": False, "next": True, "sounds": False}, path)
    key = raw.get("key")
    if not (isinstance(key, str) and key in DIGITS):
        check.error((*path, "key"), f"{key!r} is not a key (one of 0-9 * #, quoted)")
    elif key in exit_keys:
        check.error((*path, "key"), f"key {key} is already an exit key of this queue node")
    numbers = raw.get("numbers")
    pattern = None
    if not (isinstance(numbers, str) and CALLBACK_NUMBERS.match(numbers)):
        check.error((*path, "numbers"), "must be a pattern of the numbers that may be called back, made of digits "
                                        "and [] {} () | ? \\d - + , e.g. \"0[1-9][0-9]{8}\"")
    else:
        try:
            pattern = re.compile(numbers)
        except re.error as exc:
            check.error((*path, "numbers"), f"not a valid pattern: {exc}")
        else:
            if pattern.fullmatch(""):
                check.error((*path, "numbers"), "must not match an empty number")
    schedule = None
    if "schedule" in raw:
        schedule = context.schedules.get(raw["schedule"]) if isinstance(raw["schedule"], str) else None
        if schedule is None:
            check.error((*path, "schedule"), f"unknown schedule {raw['schedule']!r}")
    target = check.exit(raw, "next", path)
    sounds = _sounds(check, CallbackSounds(), raw.get("sounds"), (*path, "sounds"))
    if pattern is None or not isinstance(key, str):
        return None
    return CallbackOption(key, pattern, schedule, target, sounds)


def _sounds(check: FlowChecker, defaults: Any, raw: Any, path: DocumentPath) -> Any:
    """The sounds of what the ACD says to the caller, the node's `sounds` overriding the defaults by name."""
    sounds, problems = sounds_from(defaults, raw)
    for where, message in problems:
        check.error((*path, where) if where else path, message)
    return sounds


def _announcements(check: FlowChecker, raw: Any, path: DocumentPath) -> QueueAnnouncements:
    if not isinstance(raw, Mapping):
        check.error(path, "must be a mapping: position, estimated_wait, every_s, prompts, sounds")
        return QueueAnnouncements()
    check.keys(raw, {"position": False, "estimated_wait": False, "every_s": False, "prompts": False,
                     "sounds": False}, path)
    flags = {}
    for key in ("position", "estimated_wait"):
        flags[key] = raw.get(key, False)
        if not isinstance(flags[key], bool):
            check.error((*path, key), "must be true or false")
    return QueueAnnouncements(flags["position"] is True, flags["estimated_wait"] is True,
                              int(check.number(raw, "every_s", path, 15, 600, 60, whole=True)),
                              check.prompts(raw.get("prompts"), (*path, "prompts")),
                              _sounds(check, AnnouncementSounds(), raw.get("sounds"), (*path, "sounds")))


def enter(walk: Walk, node: QueueNode, state: IvrState, now: datetime) -> Transition:
    callback = node.callback
    offered = callback is not None and (callback.schedule is None or callback.schedule.state(now) == "open")
    return Step(state, Enqueue(node.queue, node.skills, node.priority, node.max_wait_s, node.announcements,
                               frozenset(node.exit_keys),
                               Callback(callback.key, callback.numbers, callback.sounds) if callback and offered
                               else None, node.recording))


def advance(walk: Walk, node: QueueNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    expect(outcome, QueueLeft, node)
    assert isinstance(outcome, QueueLeft)
    if outcome.result == "answered":
        done = stepped(state, node, "answered", now)
        if node.answered and not outcome.caller_hung_up:
            return Continue(node.answered, done)
        return Step(replace(done, finished=True, end="answered"))
    if outcome.result == "callback_requested":
        if node.callback is None:
            raise FlowError(f"queue node '{node.id}' offers no callback")
        return Continue(node.callback.next, stepped(state, node, "callback_requested", now))
    if outcome.result == "exited_by_key":
        target = node.exit_keys.get(outcome.digit or "")
        if target is None:
            raise FlowError(f"queue node '{node.id}' has no exit key {outcome.digit!r}")
        return Continue(target, stepped(state, node, "exited_by_key", now, outcome.digit))
    target = node.timeout if outcome.result == "timeout" else node.no_agents
    return Continue(target, stepped(state, node, outcome.result, now))


def exits(node: QueueNode) -> list[tuple[str, str]]:
    return [*([("answered", node.answered)] if node.answered else []), ("timeout", node.timeout),
            ("no_agents", node.no_agents), *((f"key {digit}", target) for digit, target in node.exit_keys.items()),
            *([("callback", node.callback.next)] if node.callback else [])]


def announcement_prompts(node: QueueNode) -> list[tuple[DocumentPath, str]]:
    """The node's periodic message and the sounds it sets (checked against the sounds directory like prompts)."""
    found: list[tuple[DocumentPath, str]] = [(("announce", "prompts", index), name)
                                             for index, name in enumerate(node.announcements.prompts)]
    found += _sounds_set(("announce", "sounds"), node.announcements.sounds, AnnouncementSounds())
    if node.callback is not None:
        found += _sounds_set(("callback", "sounds"), node.callback.sounds, CallbackSounds())
    return found


def _sounds_set(path: DocumentPath, sounds: Any, defaults: Any) -> list[tuple[DocumentPath, str]]:
    return [((*path, name, index), sound) for name, chosen in vars(sounds).items()
            if chosen != getattr(defaults, name) for index, sound in enumerate(chosen)]


KIND = NodeKind(
    "queue", QueueNode,
    {"queue": True, "skills": False, "priority": False, "max_wait_s": True, "announce": False, "exit_keys": False,
     "callback": False, "recording": False, "answered": False, "timeout": True, "no_agents": True},
    build, enter, exits, advance, extra_prompts=announcement_prompts)
