"""The flow model: a validated flow, its allow list and schedules, and the problems validation reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from callcontrol.core.identifiers import DTMF_KEYS

DIGITS = frozenset(DTMF_KEYS)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Node(Protocol):
    """A flow node: a frozen dataclass with an id; its kind (callcontrol.core.ivr.nodes) says the rest."""

    @property
    def id(self) -> str: ...


@dataclass(frozen=True)
class Schedule:
    """Business hours: open intervals per weekday (minutes from midnight) and closed dates, in a timezone."""

    timezone: str
    weekly: Mapping[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[date]

    def state(self, now: datetime) -> Literal["open", "closed", "holiday"]:
        local = now.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return "holiday"
        minute = local.hour * 60 + local.minute
        intervals = self.weekly.get(local.weekday(), ())
        return "open" if any(start <= minute < end for start, end in intervals) else "closed"


@dataclass(frozen=True)
class Allow:
    """Destinations a flow may send a caller to; nothing else can be dialled (toll-fraud protection)."""

    extensions: frozenset[str] = frozenset()
    numbers: frozenset[str] = frozenset()
    http: tuple[str, ...] = ()  # base URLs an http node's url must start with
    queues: frozenset[str] = frozenset()
    mailboxes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Flow:
    id: str
    version: str
    source: str
    numbers: tuple[str, ...]
    start: str
    nodes: Mapping[str, Node]
    language: str = "en"
    languages: tuple[str, ...] = ("en",)
    timezone: str = "UTC"
    allow: Allow = field(default_factory=Allow)
    record_ivr: bool = False  # the caller's recording starts with the flow, not at the agent's answer


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow, located by its path inside the document."""

    path: tuple[str | int, ...]
    message: str
    severity: Literal["error", "warning"] = "error"
