"""The moments of a call and of an agent that services subscribe to: typed, immutable domain events.

`call_id` is the call key (CallRecord.call_id, Asterisk's linkedid; for an inbound caller's channel it is the
channel's uniqueid). The desk publishes these on the event bus (callcontrol/services/event_bus.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from callcontrol.core.acd.agent_states import Transition
from callcontrol.core.acd.model import BookedCallback
from callcontrol.core.interactions import QueueStint


@dataclass(frozen=True)
class AgentOffered:
    """The Distributor offered a waiting call to an agent (its phone is about to ring)."""

    call_id: str
    agent_id: str
    queue_id: str
    at: datetime


@dataclass(frozen=True)
class AgentAnswered:
    """The agent offered the call answered it."""

    call_id: str
    agent_id: str
    queue_id: str
    at: datetime


@dataclass(frozen=True)
class AgentMissed:
    """The agent rung did not take the call (`status`: Asterisk's DIALSTATUS, lower case)."""

    call_id: str
    agent_id: str
    status: str
    at: datetime


@dataclass(frozen=True)
class ConversationStarted:
    """The caller and the agent are talking."""

    call_id: str
    agent_id: str
    at: datetime


@dataclass(frozen=True)
class ConversationEnded:
    """The caller and the agent stopped talking (whoever hung up first); `talk_s` is how long they talked."""

    call_id: str
    agent_id: str
    at: datetime
    talk_s: float | None


@dataclass(frozen=True)
class QueueStintProgressed:
    """The caller's wait in a queue moved on (queued, offered, answered): the stint so far."""

    call_id: str
    stint: QueueStint


@dataclass(frozen=True)
class QueueStintEnded:
    """The caller's wait in a queue is over (answered, timed out, exited, abandoned, blocked, ...)."""

    call_id: str
    stint: QueueStint


@dataclass(frozen=True)
class CallbackBooked:
    """A caller booked a callback and hung up: it keeps its place until an agent calls back."""

    call_id: str
    callback: BookedCallback


@dataclass(frozen=True)
class CallbackDone:
    """A booked callback is no longer booked (taken by an agent, expired or dropped)."""

    call_id: str
    callback: BookedCallback


@dataclass(frozen=True)
class AgentStateChanged:
    """An agent changed state (the Distributor's transition: cause, pause reason, the call if any)."""

    transition: Transition

    @property
    def call_id(self) -> str | None:
        return self.transition.call_id


@dataclass(frozen=True)
class QueueCallsChanged:
    """A decision touched these calls (queued, offered, withdrawn, timed out, moved, answered or left)."""

    call_ids: frozenset[str]


@dataclass(frozen=True)
class CallStarted:
    """A call entered the service (its FastAGI session began and its record opened)."""

    call_id: str
    caller_number: str
    caller_name: str
    dialed_number: str
    flow_id: str | None
    at: datetime


@dataclass(frozen=True)
class CallEnded:
    """A call's record closed: its IVR part is over and the caller's channel is gone."""

    call_id: str
    at: datetime


@dataclass(frozen=True)
class CallHoldChanged:
    """The call's caller was put on hold (`on_hold`) or taken back. `party`: who held the other: "agent" (its
    phone's re-INVITE, or the hold API) or "caller"; `channel` the channel that did, when known. The agent's holds
    become hold spans of its leg (services/agent_legs.py); the live calls view and the hold API use it too."""

    call_id: str
    on_hold: bool
    at: datetime
    party: str = "agent"
    channel: str = ""


DomainEvent = (AgentOffered | AgentAnswered | AgentMissed
               | ConversationStarted | ConversationEnded | QueueStintProgressed | QueueStintEnded
               | CallbackBooked | CallbackDone | AgentStateChanged | QueueCallsChanged | CallStarted | CallEnded
               | CallHoldChanged)
