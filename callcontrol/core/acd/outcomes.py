"""What a Distributor call decided: offers to dial, offers withdrawn, overflows, time-outs and agent transitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from callcontrol.core.acd.agent_states import Transition


@dataclass(frozen=True)
class Offer:
    """Ring `endpoint` for `call_id` for ring_timeout_s; the agent stays reserved until answer, miss or leave.

    Should neither answer nor miss be reported by `expires_at` (ring timeout + grace), advance() counts a miss.
    """

    call_id: str
    agent_id: str
    queue_id: str
    endpoint: str
    ring_timeout_s: float
    offered_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Overflowed:
    """An escalation rule moved the call to another queue (the stint in `from_queue` ends 'overflowed')."""

    call_id: str
    from_queue: str
    to_queue: str
    at: datetime


@dataclass(frozen=True)
class TimedOut:
    """The call waited the queue's max_wait_s and left the queue; the flow sends it on."""

    call_id: str
    queue_id: str
    at: datetime


@dataclass(frozen=True)
class Outcome:
    """What a Distributor call decided: log the transitions, dial the offers, hang up the withdrawn offers."""

    transitions: tuple[Transition, ...] = ()
    offers: tuple[Offer, ...] = ()
    withdrawn: tuple[Offer, ...] = ()  # stop ringing: the caller left, or the offer expired
    overflowed: tuple[Overflowed, ...] = ()
    timed_out: tuple[TimedOut, ...] = ()


class OutcomeBuilder:
    """The decisions of one Distributor call, collected in order, then frozen into an Outcome."""

    __slots__ = ("transitions", "offers", "withdrawn", "overflowed", "timed_out")

    def __init__(self) -> None:
        self.transitions: list[Transition] = []
        self.offers: list[Offer] = []
        self.withdrawn: list[Offer] = []
        self.overflowed: list[Overflowed] = []
        self.timed_out: list[TimedOut] = []

    def outcome(self) -> Outcome:
        return Outcome(tuple(self.transitions), tuple(self.offers), tuple(self.withdrawn),
                       tuple(self.overflowed), tuple(self.timed_out))
