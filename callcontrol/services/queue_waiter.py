"""A caller in an ACD queue as its session and the desk share it (Waiter), and the queue stint it leaves."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from callcontrol.core.recording_policy import RecordingOverride
from callcontrol.core.acd.errors import UnknownAgent
from callcontrol.core.acd.model import BookedCallback
from callcontrol.core.acd.outcomes import Offer
from callcontrol.core.acd.router import Distributor
from callcontrol.core.interactions import (
    OFFER_ANSWERED,
    OFFER_RINGING,
    STINT_IN_PROGRESS,
    AgentLeg,
    OfferAttempt,
    QueueStint,
)
from callcontrol.services.ports import CallerRef


@dataclass
class Waiter:
    """A caller in a queue, as its session and the desk share it."""

    caller: CallerRef
    queue_id: str
    entered_at: datetime
    estimated_wait_s: float | None = None  # told at entry (compared with the actual wait in the logs)
    offer: Offer | None = None
    callback_number: str | None = None  # booked a callback: the caller hung up and keeps its place
    booked: BookedCallback | None = None  # as kept in the database until it is done
    offers: list[OfferAttempt] = field(default_factory=list)  # each agent rung
    answered_at: datetime | None = None
    talked_with: str | None = None  # the agent who answered (kept after the conversation, for the stint)
    talk_s: float | None = None
    answered_by: str | None = None  # the agent on the call with this caller (DialEnd ANSWER)
    caller_hung_up: bool = False  # the caller ended the conversation with the agent
    timed_out: bool = False
    recording: RecordingOverride | None = None  # the flow's change to the queue's recording policy
    wrapup_required: bool = False  # the queue requires a wrap-up code of the agent who answers
    agent_channel: str | None = None  # the answering agent's channel (DialEnd), what a transfer moves
    transferred: bool = False  # blind-transferred on from the conversation (docs/transfers.md)
    arrived_at: datetime | None = None  # a transferred caller's original arrival (its place in this queue)


def ended_stint(waiter: Waiter, outcome: str, now: datetime, endpoint: str | None) -> QueueStint:
    """The caller's wait in a queue, once over: the stint its record (KPIs) gets."""
    served_at = waiter.answered_at or now
    leg = agent_leg(waiter, endpoint)
    if leg is not None and waiter.talk_s is not None:
        leg = replace(leg, ended_at=leg.answered_at + timedelta(seconds=waiter.talk_s))
    return QueueStint(waiter.queue_id, waiter.entered_at, outcome, left_at=now,
                      waited_s=round((served_at - waiter.entered_at).total_seconds(), 3),
                      estimated_wait_s=None if waiter.estimated_wait_s is None else round(waiter.estimated_wait_s, 1),
                      offers=tuple(waiter.offers), agent_leg=leg, arrived_at=waiter.arrived_at)


def stint_so_far(waiter: Waiter, endpoint: str | None) -> QueueStint:
    """The stint while it goes on: the offers with their results (the one ringing now as `ringing`), and once
    an agent answered, who (and their `endpoint`) and when."""
    offer = waiter.offer
    ringing = [OfferAttempt(offer.agent_id, offer.offered_at, OFFER_ANSWERED
                            if waiter.answered_by == offer.agent_id else OFFER_RINGING)] if offer else []
    leg = agent_leg(waiter, endpoint)
    return QueueStint(waiter.queue_id, waiter.entered_at, STINT_IN_PROGRESS,
                      waited_s=None if leg is None else round((leg.answered_at - waiter.entered_at).total_seconds(), 3),
                      estimated_wait_s=None if waiter.estimated_wait_s is None else round(waiter.estimated_wait_s, 1),
                      offers=(*waiter.offers, *ringing), agent_leg=leg, arrived_at=waiter.arrived_at)


def agent_leg(waiter: Waiter, endpoint: str | None) -> AgentLeg | None:
    """The caller's conversation with the agent who answered (its end is the stint's business)."""
    if waiter.answered_at is None or waiter.talked_with is None:
        return None
    return AgentLeg(waiter.talked_with, endpoint, waiter.answered_at, wrapup_required=waiter.wrapup_required)


def endpoint_of(distributor: Distributor, agent_id: str | None) -> str | None:
    """The device of the agent the caller talked with; None if none, or removed since (logged out during the
    conversation)."""
    if agent_id is None:
        return None
    try:
        return distributor.agent(agent_id).endpoint
    except UnknownAgent:
        return None
