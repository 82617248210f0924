"""What a flow's expressions can read: caller facts, the time in the flow's timezone, variables, queue status."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from callcontrol.core.ivr.model import WEEKDAYS, Flow
from callcontrol.core.ivr.state import IvrState


@dataclass(frozen=True)
class QueueStatus:
    """A queue as a branch condition sees it: queue.<id>.agents_available, .callers_waiting, .estimated_wait_s."""

    agents_available: int
    callers_waiting: int
    estimated_wait_s: int


QUEUE_STATUS_FIELDS = ("agents_available", "callers_waiting", "estimated_wait_s")


class _QueueNames(Mapping[str, object]):
    """queue.<id>.<field> read from the queues' status only when an expression reads it (a live status may
    cost a computation: nothing is asked for names no condition uses)."""

    def __init__(self, queues: Mapping[str, QueueStatus]) -> None:
        self._queues = queues

    def __getitem__(self, name: str) -> object:
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "queue" or parts[2] not in QUEUE_STATUS_FIELDS:
            raise KeyError(name)
        return getattr(self._queues[parts[1]], parts[2])  # KeyError: no status for that queue

    def __contains__(self, name: object) -> bool:
        try:
            self[str(name)]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return (f"queue.{queue_id}.{field}" for queue_id in self._queues for field in QUEUE_STATUS_FIELDS)

    def __len__(self) -> int:
        return len(self._queues) * len(QUEUE_STATUS_FIELDS)


def expression_env(flow: Flow, state: IvrState, now: datetime,
                   queues: Mapping[str, QueueStatus] | None = None) -> Mapping[str, object]:
    """What an expression can read: caller facts, call.language, time.* in the flow's timezone, vars.*,
    queue.<id>.* (the queues' status, read when an expression reads it)."""
    local = now.astimezone(ZoneInfo(flow.timezone))
    env: dict[str, object] = dict(state.facts)
    env.update({
        "call.language": state.language, "time.hour": local.hour, "time.minute": local.minute,
        "time.weekday": WEEKDAYS[local.weekday()], "time.date": local.date().isoformat(),
        "time.hhmm": local.strftime("%H:%M"),
    })
    env.update({f"vars.{name}": value for name, value in state.variables.items()})
    return ChainMap(env, _QueueNames(queues)) if queues else env
