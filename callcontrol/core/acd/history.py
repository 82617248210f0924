"""The ACD's history rebuilt from stored call records at start: who handled which call, for how long.

After a restart the Distributor's counters (agents' calls and talk today, used by fewest_calls and
least_talk_time) and each queue's recent handle times (behind estimated waits) would start from zero;
handled_calls() reads them back from the records' queue stints and callback legs, and
Distributor.restore_history() replays them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from callcontrol.core.calls import CallRecord


@dataclass(frozen=True)
class HandledCall:
    """A conversation an agent had: its queue (None when unknown), when it ended, and its talk time."""

    agent_id: str
    queue_id: str | None
    ended_at: datetime
    talk_s: float


def day_start(now: datetime) -> datetime:
    """The start (UTC midnight) of the day `now` is in: "today" for the agents' counters."""
    now = now.astimezone(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def handled_calls(records: Iterable[CallRecord]) -> list[HandledCall]:
    """Every conversation these records tell of, oldest first: each stint an agent answered (it has an agent
    and a talk time), and each booked callback an agent took (its leg's record)."""
    records = list(records)
    booked_in = {record.call_id: stint.get("queue") for record in records for stint in record.queue_stints
                 if stint.get("outcome") == "callback_requested"}
    handled = []
    for record in records:
        for stint in record.queue_stints:
            agent, talk_s, entered_at = stint.get("agent"), stint.get("talk_s"), _time(stint.get("entered_at"))
            if not isinstance(agent, str) or not isinstance(talk_s, (int, float)) or entered_at is None:
                continue
            waited_s = stint.get("waited_s")
            waited = float(waited_s) if isinstance(waited_s, (int, float)) else 0.0
            handled.append(HandledCall(agent, _str(stint.get("queue")),
                                       entered_at + timedelta(seconds=waited + float(talk_s)), float(talk_s)))
        stale = bool(record.ivr_path) and record.ivr_path[0].get("result") == "stale"  # never offer_answered
        agent = record.variables.get("agent") if "callback_for" in record.variables and not stale else None
        leg_end = record.ivr_ended_at or record.ended_at
        if isinstance(agent, str) and leg_end is not None:
            handled.append(HandledCall(agent, _str(booked_in.get(str(record.variables["callback_for"]))),
                                       leg_end, max(0.0, (leg_end - record.started_at).total_seconds())))
    return sorted(handled, key=lambda call: call.ended_at)


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
