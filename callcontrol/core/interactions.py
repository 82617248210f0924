"""What a call did in the ACD, typed: its waits in queues (stints), the agents offered it, its conversation with one.

A call record holds its QueueStints in order. Each stint holds the OfferAttempts made to agents while the caller
waited and, once an agent answered, the AgentLeg: the conversation. Times are aware datetimes; service level, ASA,
AHT and abandonment are computed from these (stored one row each, joined on the call record's call_id).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from callcontrol.core.wrapup import Wrapup

STINT_IN_PROGRESS = "in_progress"  # the outcome of a queue stint still going on (written as it goes)
STINT_LOST = "failed"  # a stint the service lost (it stopped mid-wait): the dialplan fallback took the caller
STINT_TRANSFERRED = "transferred"  # answered, then the agent (or the service) blind-transferred the caller on
# How a stint ends: answered, abandoned, timed_out, exited_by_key, callback_requested, blocked, overflowed,
# failed (STINT_LOST), transferred (STINT_TRANSFERRED: answered, then transferred on; its agent leg is the talk
# before the transfer, the next stint or transfer leg is where the caller went), or in_progress while it goes on.
# How an offer ends: answered, ringing (still ringing), cancel (the caller hung up), or the agent's Dial()
# status lowercased (noanswer, busy, congestion, chanunavail, ...).
OFFER_RINGING = "ringing"
OFFER_ANSWERED = "answered"


@dataclass(frozen=True)
class OfferAttempt:
    """One agent rung for the caller: who, when the offer was made, and how it ended."""

    agent: str
    offered_at: datetime
    result: str

    def as_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "at": self.offered_at.isoformat(), "result": self.result}


HoldSpan = tuple[datetime, datetime | None]  # the agent put the caller on hold at [0], took them back at [1]


@dataclass(frozen=True)
class AgentLeg:
    """The conversation with the agent who answered: from their answer until it ended (None: still going on).

    `hold_spans`: each time the agent held the caller (the last one open while on hold); `wrapup`: the code the
    agent (or a supervisor) set, during or after the call; `wrapup_required`: the queue required one when the
    caller entered it; `transferred_to`: where the agent transferred the caller (None: not transferred)."""

    agent: str
    endpoint: str | None
    answered_at: datetime
    ended_at: datetime | None = None
    hold_spans: tuple[HoldSpan, ...] = ()
    wrapup: Wrapup | None = None
    wrapup_required: bool = False
    transferred_to: str | None = None

    @property
    def talk_s(self) -> float | None:
        return None if self.ended_at is None else round((self.ended_at - self.answered_at).total_seconds(), 3)

    @property
    def on_hold(self) -> bool:
        return bool(self.hold_spans) and self.hold_spans[-1][1] is None

    @property
    def hold_s(self) -> float:
        """Seconds on hold in the spans that ended."""
        return round(sum((end - start).total_seconds() for start, end in self.hold_spans if end is not None), 3)

    @property
    def wrapup_missing(self) -> bool:
        """The queue required a code, the conversation is over and none was set."""
        return self.wrapup_required and self.ended_at is not None and self.wrapup is None

    def held(self, at: datetime) -> AgentLeg:
        """The caller put on hold at `at` (no change while on hold already or after the end)."""
        if self.on_hold or self.ended_at is not None:
            return self
        return replace(self, hold_spans=(*self.hold_spans, (max(at, self.answered_at), None)))

    def unheld(self, at: datetime) -> AgentLeg:
        """The caller taken back at `at` (no change when not on hold)."""
        if not self.on_hold:
            return self
        start = self.hold_spans[-1][0]
        return replace(self, hold_spans=(*self.hold_spans[:-1], (start, max(start, at))))

    def ended(self, at: datetime) -> AgentLeg:
        """The conversation over at `at`: a hold still open ends with it."""
        return replace(self.unheld(at), ended_at=at)

    def carried_over(self, before: AgentLeg | None) -> AgentLeg:
        """This leg as the ACD rebuilds it (agent, answer, end) keeping what was noted on the same leg before:
        its hold spans, wrap-up and transfer (a hold open at the leg's end ends with it)."""
        if before is None or (before.agent, before.answered_at) != (self.agent, self.answered_at):
            return self
        kept = replace(self, hold_spans=before.hold_spans or self.hold_spans,
                       wrapup=self.wrapup or before.wrapup, wrapup_required=self.wrapup_required
                       or before.wrapup_required, transferred_to=self.transferred_to or before.transferred_to)
        return kept if kept.ended_at is None else kept.unheld(kept.ended_at)

    def as_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "endpoint": self.endpoint, "answered_at": self.answered_at.isoformat(),
                "ended_at": self.ended_at.isoformat() if self.ended_at else None, "talk_s": self.talk_s,
                "hold_spans": [{"start": start.isoformat(), "end": end.isoformat() if end else None}
                               for start, end in self.hold_spans],
                "hold_s": self.hold_s, "wrapup": self.wrapup.as_json() if self.wrapup else None,
                "wrapup_required": self.wrapup_required, "wrapup_missing": self.wrapup_missing,
                "transferred_to": self.transferred_to}


@dataclass(frozen=True)
class QueueStint:
    """One wait of the caller in an ACD queue: entered, left (None while it goes on) with its outcome, how long the
    caller waited (until answered, or until they left), the wait they were told at entry, the offers and the
    conversation. `recovered`: finished from what was written before the service stopped."""

    queue: str
    entered_at: datetime
    outcome: str
    left_at: datetime | None = None
    waited_s: float | None = None
    estimated_wait_s: float | None = None
    offers: tuple[OfferAttempt, ...] = ()
    agent_leg: AgentLeg | None = None
    recovered: bool = False
    # A transferred caller's original arrival in the ACD (its first stint's entry), which this queue ordered it by;
    # None: the caller arrived with this stint (entered_at). The service level may count from it (docs/transfers.md).
    arrived_at: datetime | None = None

    @property
    def agent(self) -> str | None:
        return self.agent_leg.agent if self.agent_leg else None

    @property
    def endpoint(self) -> str | None:
        return self.agent_leg.endpoint if self.agent_leg else None

    @property
    def answered_at(self) -> datetime | None:
        return self.agent_leg.answered_at if self.agent_leg else None

    @property
    def talk_s(self) -> float | None:
        return self.agent_leg.talk_s if self.agent_leg else None

    @property
    def in_progress(self) -> bool:
        return self.outcome == STINT_IN_PROGRESS

    def lost(self, at: datetime, talk_ended_at: datetime | None = None) -> QueueStint:
        """This stint as the service, having stopped mid-way, finishes it: answered if an agent had answered (the
        conversation went on in Asterisk until `talk_ended_at`, else until `at`), otherwise lost to the fallback."""
        leg = self.agent_leg
        if leg is not None:
            talk_end = min(talk_ended_at or at, at)
            return replace(self, outcome="answered", left_at=talk_end, recovered=True,
                           agent_leg=leg.ended(max(leg.answered_at, talk_end)))
        waited_s = round(max(0.0, (at - self.entered_at).total_seconds()), 3)
        return replace(self, outcome=STINT_LOST, left_at=at, waited_s=waited_s, recovered=True)

    def as_json(self) -> dict[str, Any]:
        """The stint as `calls recent --json` shows it: ISO times; answered_at and endpoint once answered."""
        shown: dict[str, Any] = {
            "queue": self.queue, "entered_at": self.entered_at.isoformat(),
            "left_at": self.left_at.isoformat() if self.left_at else None, "outcome": self.outcome,
            "waited_s": self.waited_s, "agent": self.agent, "talk_s": self.talk_s,
            "offers": [offer.as_json() for offer in self.offers], "estimated_wait_s": self.estimated_wait_s}
        if self.agent_leg is not None:
            leg = self.agent_leg
            shown.update(answered_at=leg.answered_at.isoformat(), endpoint=leg.endpoint)
            if leg.hold_spans or leg.wrapup or leg.wrapup_required or leg.transferred_to:  # in-call control
                shown["agent_leg"] = leg.as_json()
        if self.recovered:
            shown["recovered"] = True
        if self.arrived_at is not None:
            shown["arrived_at"] = self.arrived_at.isoformat()
        return shown
