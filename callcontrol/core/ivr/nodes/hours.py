"""The hours node: a named schedule decides open, closed or holiday, at once, without the caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.model import Schedule
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState
from callcontrol.core.ivr.walking import Continue, Transition, Walk, stepped


@dataclass(frozen=True)
class HoursNode:
    id: str
    schedule: Schedule
    open: str
    closed: str
    holiday: str | None


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> HoursNode:
    name = raw.get("schedule")
    schedule = context.schedules.get(name) if isinstance(name, str) else None
    if schedule is None:
        known = ", ".join(sorted(context.schedules)) or "none defined"
        check.error((*path, "schedule"), f"unknown schedule {name!r} (schedules: {known})")
    return HoursNode(node_id, schedule or Schedule("UTC", MappingProxyType({}), frozenset()),
                     check.exit(raw, "open", path), check.exit(raw, "closed", path),
                     check.exit(raw, "holiday", path, required=False) or None)


def enter(walk: Walk, node: HoursNode, state: IvrState, now: datetime) -> Transition:
    hours = node.schedule.state(now)
    target = {"open": node.open, "closed": node.closed, "holiday": node.holiday or node.closed}[hours]
    return Continue(target, stepped(state, node, hours, now))


def exits(node: HoursNode) -> list[tuple[str, str]]:
    found = [("open", node.open), ("closed", node.closed)]
    return found + ([("holiday", node.holiday)] if node.holiday else [])


KIND = NodeKind("hours", HoursNode, {"schedule": True, "open": True, "closed": True, "holiday": False}, build,
                enter, exits, silent=True)
