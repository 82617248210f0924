"""The ACD's history rebuilt from stored call records at start: who handled which call, for how long.

After a restart the Distributor's counters (agents' calls and talk today, used by fewest_calls and
least_talk_time) and each queue's recent handle times (behind estimated waits) would start from zero;
handled_calls() reads them back from the records' queue stints and callback legs, and
Distributor.restore_history() replays them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

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
    booked_in = {record.call_id: stint.queue for record in records for stint in record.queue_stints
                 if stint.outcome == "callback_requested"}
    handled = []
    for record in records:
        for stint in record.queue_stints:
            leg = stint.agent_leg
            if leg is not None and leg.ended_at is not None and leg.talk_s is not None:
                handled.append(HandledCall(leg.agent, stint.queue, leg.ended_at, leg.talk_s))
        stale = bool(record.ivr_path) and record.ivr_path[0].get("result") == "stale"  # never offer_answered
        agent = record.variables.get("agent") if "callback_for" in record.variables and not stale else None
        leg_end = record.ivr_ended_at or record.ended_at
        if isinstance(agent, str) and leg_end is not None:
            handled.append(HandledCall(agent, booked_in.get(str(record.variables["callback_for"])),
                                       leg_end, max(0.0, (leg_end - record.started_at).total_seconds())))
    return sorted(handled, key=lambda call: call.ended_at)

