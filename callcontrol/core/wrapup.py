"""Wrap-up codes (dispositions): a queue's list of codes and whether one is required, and the code an agent sets.

Pure. A queue carries a WrapupPolicy (the ACD schema reads it from `wrapup: {codes: [{id, label}], required}`);
the agent's leg of a call carries the Wrapup set on it (code, note, when, by whom). A code id is a token
(WRAPUP_CODE: it may reach reports, logs and filters, never free text); a label and a note are free text with a
length limit. `required`: a call of the queue that ended without a code shows `wrapup_missing` on its agent leg
(docs/wrapup.md); the ACD's own wrap-up time is not changed by a code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

WRAPUP_CODE = re.compile(r"^[a-z][a-z0-9_-]{0,31}\Z")
WRAPUP_CODE_RULE = "a lowercase token (a-z, 0-9, '_', '-'; starting with a letter; at most 32)"
MAX_LABEL = 80
MAX_NOTE = 500
MAX_CODES = 100
MAX_SET_BY = 64
POLICY_KEYS = ("codes", "required")
CODE_KEYS = ("id", "label")

SubPath = tuple[str | int, ...]  # where in the `wrapup` value a problem is


@dataclass(frozen=True)
class WrapupCode:
    """One disposition an agent may choose: its token and the label people read."""

    id: str
    label: str


@dataclass(frozen=True)
class WrapupPolicy:
    """A queue's wrap-up codes, in the order shown, and whether a call of the queue must get one."""

    codes: tuple[WrapupCode, ...] = ()
    required: bool = False

    def __post_init__(self) -> None:
        problems = _policy_problems(self)
        if problems:
            raise ValueError(problems[0][1])

    @property
    def code_ids(self) -> tuple[str, ...]:
        return tuple(code.id for code in self.codes)


@dataclass(frozen=True)
class Wrapup:
    """The code set on an agent leg: which, an optional note, when and by whom (a user name, or cli:...)."""

    code: str
    set_at: datetime
    set_by: str
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "note": self.note, "set_at": self.set_at.isoformat(), "set_by": self.set_by}


# ---------------------------------------------------------------- plain data <-> policy


def policy_to_data(policy: WrapupPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {"codes": [{"id": code.id, "label": code.label} for code in policy.codes], "required": policy.required}


def policy_from_data(value: Any) -> tuple[WrapupPolicy | None, list[tuple[SubPath, str]]]:
    """A policy from plain data (None: the queue has no wrap-up codes); every problem with its path inside."""
    if value is None:
        return None, []
    if not isinstance(value, Mapping):
        return None, [((), "must be a mapping {codes: [{id, label}], required: true|false}")]
    problems: list[tuple[SubPath, str]] = [((str(key),), f"unknown key {str(key)!r} (allowed: "
                                                          f"{', '.join(POLICY_KEYS)})")
                                           for key in value if key not in POLICY_KEYS]
    required = value.get("required", False)
    if not isinstance(required, bool):
        problems.append((("required",), "required must be true or false"))
    raw = value.get("codes", [])
    codes: list[WrapupCode] = []
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        problems.append((("codes",), "must be a list of {id, label}"))
        raw = []
    if len(raw) > MAX_CODES:
        problems.append((("codes",), f"at most {MAX_CODES} codes, not {len(raw)}"))
    seen: set[str] = set()
    for index, item in enumerate(raw):
        code, found = _code_from_data(item, ("codes", index), seen)
        problems.extend(found)
        if code is not None:
            codes.append(code)
    if required is True and not raw and not problems:
        problems.append((("codes",), "required needs at least one code"))
    if problems:
        return None, problems
    return WrapupPolicy(tuple(codes), required), []


def _code_from_data(item: Any, at: SubPath, seen: set[str]) -> tuple[WrapupCode | None, list[tuple[SubPath, str]]]:
    if not isinstance(item, Mapping):
        return None, [(at, "each code is a mapping {id, label}")]
    problems = [((*at, str(key)), f"unknown key {str(key)!r} (allowed: {', '.join(CODE_KEYS)})")
                for key in item if key not in CODE_KEYS]
    code_id, label = item.get("id"), item.get("label")
    if code_id is None:
        problems.append((at, "missing required key 'id'"))
    elif (problem := code_problem(code_id)) is not None:
        problems.append(((*at, "id"), problem))
    elif code_id in seen:
        problems.append(((*at, "id"), f"duplicate code {code_id!r}"))
    else:
        seen.add(code_id)
    if label is None:
        label = code_id
    if (problem := text_problem(label, MAX_LABEL, "label")) is not None:
        problems.append(((*at, "label"), problem))
    if problems:
        return None, problems
    return WrapupCode(code_id, label), []


def code_problem(value: object) -> str | None:
    """None for a well-formed code id."""
    if isinstance(value, str) and WRAPUP_CODE.match(value):
        return None
    return f"code {str(value)[:40]!r} must be {WRAPUP_CODE_RULE}"


def text_problem(value: object, limit: int, what: str) -> str | None:
    """None for a non-empty string of at most `limit` characters with no control characters."""
    if not isinstance(value, str) or not value.strip():
        return f"{what} must be a non-empty string"
    if len(value) > limit:
        return f"{what} is longer than {limit} characters"
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return f"{what} must not hold control characters"
    return None


def _policy_problems(policy: WrapupPolicy) -> list[tuple[SubPath, str]]:
    """The problems of a policy built in code (the model's check; plain data goes through policy_from_data)."""
    problems: list[tuple[SubPath, str]] = []
    if not isinstance(policy.required, bool):
        problems.append((("required",), "required must be true or false"))
    if not isinstance(policy.codes, tuple) or not all(isinstance(code, WrapupCode) for code in policy.codes):
        return [*problems, (("codes",), "must be a tuple of WrapupCode")]
    if len(policy.codes) > MAX_CODES:
        problems.append((("codes",), f"at most {MAX_CODES} codes, not {len(policy.codes)}"))
    seen: set[str] = set()
    for index, code in enumerate(policy.codes):
        if (problem := code_problem(code.id)) is not None:
            problems.append((("codes", index, "id"), problem))
        elif code.id in seen:
            problems.append((("codes", index, "id"), f"duplicate code {code.id!r}"))
        seen.add(code.id)
        if (problem := text_problem(code.label, MAX_LABEL, "label")) is not None:
            problems.append((("codes", index, "label"), problem))
    if policy.required is True and not policy.codes and not problems:
        problems.append((("codes",), "required needs at least one code"))
    return problems


# ---------------------------------------------------------------- setting a code


def choice_problem(policy: WrapupPolicy | None, code: object, note: object) -> str | None:
    """What is wrong with setting `code` (and `note`) on a leg of a call of a queue with this policy."""
    allowed = policy.code_ids if policy is not None else ()
    if not isinstance(code, str) or code not in allowed:
        shown = ", ".join(allowed) if allowed else "none: the queue has no wrap-up codes"
        return f"code {str(code)[:40]!r} is not one of the queue's wrap-up codes ({shown})"
    if note is not None and (problem := text_problem(note, MAX_NOTE, "note")) is not None:
        return problem
    return None


def too_late(ended_at: datetime | None, now: datetime, window_s: float) -> bool:
    """True when the leg ended more than `window_s` seconds before `now` (a leg going on is never too late)."""
    return ended_at is not None and now - ended_at > timedelta(seconds=window_s)
