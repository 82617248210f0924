"""The rules of the ACD's agent and queue fields, written once: each check says what is wrong, or None.

The model (Agent, Queue) raises the first problem when built; the schema reports every problem at its path.
Both word a problem the same way: "<field> <what is wrong>", e.g. "weight must be > 0, not 0".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from callcontrol.core.recording_policy import RecordingPolicy, policy_from_data
from callcontrol.core.identifiers import MOH_CLASS, is_sound_name
from callcontrol.core.wrapup import WrapupPolicy

MIN_LEVEL = 1
MAX_LEVEL = 10
MIN_ANNOUNCE_EVERY_S = 15.0  # bounds of Queue.announce_every_s
MAX_ANNOUNCE_EVERY_S = 600.0
QUEUE_FLAGS = ("callback_allowed", "announce_position", "announce_estimated_wait")


def number_text(value: float) -> str:
    """A bound or a number as people write it: 15, not 15.0."""
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class NumberRule:
    """What a numeric field accepts: its bounds, whether it may be None and whether it must be an integer."""

    minimum: float = -math.inf
    excluded: bool = False  # the minimum itself is refused (> rather than >=)
    nullable: bool = False
    integer: bool = False
    maximum: float = math.inf

    def problem(self, value: object) -> str | None:
        """None when `value` follows the rule; else what it must be, e.g. "must be > 0, not 0"."""
        if value is None:
            return None if self.nullable else "must be a number"
        kind = "an integer" if self.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)) or (
                isinstance(value, float) and not math.isfinite(value)):
            return f"must be {kind}, not {value!r}"
        if math.isfinite(self.minimum) and math.isfinite(self.maximum) and not (
                self.minimum <= value <= self.maximum):
            return f"must be between {number_text(self.minimum)} and {number_text(self.maximum)}, not {value!r}"
        if value < self.minimum or (self.excluded and value == self.minimum):
            return f"must be {'>' if self.excluded else '>='} {number_text(self.minimum)}, not {value!r}"
        if value > self.maximum:
            return f"must be <= {number_text(self.maximum)}, not {value!r}"
        return None


QUEUE_NUMBERS: Mapping[str, NumberRule] = {
    "priority": NumberRule(integer=True),
    "weight": NumberRule(0, excluded=True),
    "ring_timeout_s": NumberRule(0, excluded=True),
    "wrap_up_s": NumberRule(0),
    "max_wait_s": NumberRule(0, excluded=True, nullable=True),
    "max_length": NumberRule(1, nullable=True, integer=True),
    "service_level_s": NumberRule(0),
    "short_abandon_s": NumberRule(0),
    "expected_handle_s": NumberRule(0, excluded=True),
    "announce_every_s": NumberRule(MIN_ANNOUNCE_EVERY_S, maximum=MAX_ANNOUNCE_EVERY_S),
}
AGENT_WRAP_UP = NumberRule(0, nullable=True)  # Agent.wrap_up_s: None takes the queue's
ESCALATION_AFTER = NumberRule(0)  # EscalationRule.after_s


def text_problem(value: object, limit: int | None = None) -> str | None:
    """None for a non-empty string (of at most `limit` characters)."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if limit is not None and len(value) > limit:
        return f"longer than {limit} characters"
    return None


def level_problem(level: object, lowest: int = MIN_LEVEL) -> str | None:
    """None for a skill level `lowest`-10 (0 is a relaxation's "no longer required")."""
    if isinstance(level, bool) or not isinstance(level, int) or not lowest <= level <= MAX_LEVEL:
        return f"level must be an integer {lowest}-{MAX_LEVEL}, not {level!r}"
    return None


def flag_problem(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def moh_class_problem(value: object) -> str | None:
    if isinstance(value, str) and MOH_CLASS.match(value):
        return None
    return f"{value!r} must be a music-on-hold class: 1-64 letters, digits, _ or -"


def recording_problem(value: object) -> str | None:
    """A queue's recording policy as the model holds it: a RecordingPolicy or None (not recorded)."""
    if value is None or isinstance(value, RecordingPolicy):
        return None
    return policy_from_data(value)[1] or "must be a recording policy"


def wrapup_problem(value: object) -> str | None:
    """A queue's wrap-up codes as the model holds them: a WrapupPolicy or None (no codes)."""
    if value is None or isinstance(value, WrapupPolicy):
        return None
    return "must be a wrap-up policy {codes: [{id, label}], required}"


def sound_name_problem(value: object) -> str | None:
    if is_sound_name(value):
        return None
    return f"{value!r} is not an Asterisk sound name (e.g. queue-periodic-announce or custom/welcome)"
