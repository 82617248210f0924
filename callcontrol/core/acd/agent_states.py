"""The agent state machine: pure functions from a status and an input to the next status and its transition.

Each function checks its rule first (raising a rule-named error from callcontrol.core.acd.errors), then
returns a Step: the new AgentStatus and the Transition record to log (None when only a flag or a pending
request changed). `pause_reason` is the agent's wish to be paused: shown as the state when the agent is at
rest, kept while on a call or unreachable, and applied when the call (and wrap-up) ends or the device returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from callcontrol.core.acd.errors import (
    AgentAlreadyLoggedIn,
    AgentAlreadyReserved,
    AgentDeviceBusy,
    AgentNotAvailable,
    AgentNotInWrapUp,
    AgentNotLoggedIn,
    AgentNotOnCall,
    AgentNotPaused,
    AgentNotReserved,
    AgentOnCall,
    AgentRinging,
)

MISSED = "missed"  # the pause reason after too many consecutive unanswered offers


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"  # a call is offered: the agent's device is ringing
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"
    UNAVAILABLE = "unavailable"  # logged in, device unregistered or unreachable


class Cause(StrEnum):
    """What made a transition: an API request, a call event, a device event, or a timer."""

    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    RESUME = "resume"
    OFFERED = "offered"
    ANSWERED = "answered"
    MISSED = "missed"  # ring-no-answer reported by the service
    OFFER_EXPIRED = "offer_expired"  # no answer nor miss reported in time: treated as a miss
    WITHDRAWN = "withdrawn"  # the caller left while the agent was ringing
    CALL_ENDED = "call_ended"
    WRAP_UP_ENDED = "wrap_up_ended"
    DEVICE_UNREACHABLE = "device_unreachable"
    DEVICE_REACHABLE = "device_reachable"


RESTING = frozenset({AgentState.AVAILABLE, AgentState.PAUSED, AgentState.WRAP_UP})
BUSY = frozenset({AgentState.RESERVED, AgentState.ON_CALL})


@dataclass(frozen=True)
class AgentStatus:
    """Where an agent is now; `idle_since` orders longest-idle routing, `misses` counts consecutive misses."""

    agent_id: str
    state: AgentState = AgentState.LOGGED_OUT
    since: datetime | None = None
    pause_reason: str | None = None
    wrap_up_until: datetime | None = None
    call_id: str | None = None  # the call ringing (reserved) or connected (on_call)
    idle_since: datetime | None = None  # when the agent last became available
    misses: int = 0
    reachable: bool = True  # device registered and reachable
    device_busy: bool = False  # device on a call of its own (personal call): no queue call is offered
    resting_until: datetime | None = None  # the device refused an offer (busy): nothing is offered until then

    @property
    def routable(self) -> bool:
        """True when a queue call may be offered now."""
        return self.state is AgentState.AVAILABLE and not self.device_busy and self.resting_until is None


@dataclass(frozen=True)
class Transition:
    """One state change, for the service to log (occupancy, pause-by-reason and missed-offer reports)."""

    agent_id: str
    from_state: AgentState
    to_state: AgentState
    at: datetime
    cause: Cause
    reason: str | None = None  # the pause reason when to_state is paused
    call_id: str | None = None


@dataclass(frozen=True)
class Step:
    status: AgentStatus
    transition: Transition | None


def login(status: AgentStatus, now: datetime) -> Step:
    """Log in: available, or unavailable when the device is unreachable."""
    if status.state is not AgentState.LOGGED_OUT:
        raise AgentAlreadyLoggedIn(f"agent {status.agent_id} is already logged in ({status.state})")
    fresh = replace(status, pause_reason=None, wrap_up_until=None, call_id=None, misses=0)
    return _settle(fresh, now, Cause.LOGIN)


def logout(status: AgentStatus, now: datetime) -> Step:
    """Log out from any state but ringing or on a call."""
    _require_logged_in(status)
    if status.state is AgentState.RESERVED:
        raise AgentRinging(f"agent {status.agent_id} is ringing for call {status.call_id}")
    if status.state is AgentState.ON_CALL:
        raise AgentOnCall(f"agent {status.agent_id} is on call {status.call_id}")
    out = replace(status, pause_reason=None, wrap_up_until=None, call_id=None, idle_since=None, misses=0)
    return _move(out, AgentState.LOGGED_OUT, now, Cause.LOGOUT)


def pause(status: AgentStatus, reason: str, now: datetime) -> Step:
    """Pause with a reason: at once when resting (ends a wrap-up), after the call when ringing or on a call."""
    _require_logged_in(status)
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("a pause needs a reason")
    wish = replace(status, pause_reason=reason)
    if status.state in RESTING:
        return _move(replace(wish, wrap_up_until=None), AgentState.PAUSED, now, Cause.PAUSE, reason=reason)
    return Step(wish, None)  # applied when the call ends (busy) or the device returns (unavailable)


def resume(status: AgentStatus, now: datetime) -> Step:
    """Resume: paused -> available (misses forgotten); ends a wrap-up early; cancels a pending pause."""
    _require_logged_in(status)
    if status.state is AgentState.PAUSED or status.state is AgentState.WRAP_UP:
        return _settle(replace(status, pause_reason=None, wrap_up_until=None, misses=0), now, Cause.RESUME)
    if status.pause_reason is not None:
        return Step(replace(status, pause_reason=None, misses=0), None)
    raise AgentNotPaused(f"agent {status.agent_id} is not paused ({status.state})")


def reserve(status: AgentStatus, call_id: str, now: datetime) -> Step:
    """Offer a call: only an available agent whose device is free; never two calls at once."""
    _require_logged_in(status)
    if status.state is AgentState.RESERVED:
        raise AgentAlreadyReserved(f"agent {status.agent_id} is already ringing for call {status.call_id}")
    if status.state is not AgentState.AVAILABLE:
        raise AgentNotAvailable(f"agent {status.agent_id} is not available ({status.state})")
    if status.device_busy:
        raise AgentDeviceBusy(f"agent {status.agent_id}'s device is busy")
    return _move(replace(status, call_id=call_id), AgentState.RESERVED, now, Cause.OFFERED, call_id=call_id)


def answered(status: AgentStatus, call_id: str, now: datetime) -> Step:
    """The agent answered the offered call: on call, consecutive misses reset."""
    _require_reserved_for(status, call_id)
    return _move(replace(status, misses=0), AgentState.ON_CALL, now, Cause.ANSWERED, call_id=call_id)


def missed(status: AgentStatus, call_id: str, now: datetime, max_misses: int | None,
           cause: Cause = Cause.MISSED, rest_until: datetime | None = None) -> Step:
    """Ring-no-answer: paused 'missed' after `max_misses` consecutive misses (None: never), else available.

    The agent's idle time restarts, so other free agents come before it for the call it missed.
    `rest_until`: the device refused the offer at once (busy): nothing is offered before then (rest_ended).
    """
    _require_reserved_for(status, call_id)
    misses = status.misses + 1
    after = replace(status, call_id=None, misses=misses, idle_since=now, resting_until=rest_until)
    if max_misses is not None and misses >= max_misses and status.pause_reason is None:
        after = replace(after, pause_reason=MISSED)
    return _settle(after, now, cause, call_id=call_id)


def withdrawn(status: AgentStatus, call_id: str, now: datetime) -> Step:
    """The caller left while the agent was ringing: back to rest, idle time and misses unchanged."""
    _require_reserved_for(status, call_id)
    return _settle(replace(status, call_id=None), now, Cause.WITHDRAWN, call_id=call_id, keep_idle=True)


def call_ended(status: AgentStatus, call_id: str, now: datetime, wrap_up_s: float) -> Step:
    """The conversation ended: wrap-up for `wrap_up_s` seconds if > 0, else straight back to rest."""
    if status.state is not AgentState.ON_CALL or status.call_id != call_id:
        raise AgentNotOnCall(f"agent {status.agent_id} is not on call {call_id} ({status.state})")
    after = replace(status, call_id=None)
    if wrap_up_s > 0 and status.reachable:
        until = now + timedelta(seconds=wrap_up_s)
        return _move(replace(after, wrap_up_until=until), AgentState.WRAP_UP, now, Cause.CALL_ENDED,
                     call_id=call_id)
    return _settle(after, now, Cause.CALL_ENDED, call_id=call_id)


def wrap_up_ended(status: AgentStatus, now: datetime) -> Step:
    """The wrap-up timer fired: back to rest (available, or paused if a pause was asked during the call)."""
    if status.state is not AgentState.WRAP_UP:
        raise AgentNotInWrapUp(f"agent {status.agent_id} is not in wrap-up ({status.state})")
    return _settle(replace(status, wrap_up_until=None), now, Cause.WRAP_UP_ENDED)


def device_reachable(status: AgentStatus, reachable: bool, now: datetime) -> Step:
    """Device registered/unregistered: a resting agent becomes unavailable and comes back to its pause or ready.

    A ringing or talking agent only gets the flag; the end of its call settles it.
    """
    after = replace(status, reachable=reachable)
    if not reachable and status.state in RESTING:
        return _move(replace(after, wrap_up_until=None), AgentState.UNAVAILABLE, now, Cause.DEVICE_UNREACHABLE)
    if reachable and status.state is AgentState.UNAVAILABLE:
        return _settle(after, now, Cause.DEVICE_REACHABLE)
    return Step(after, None)


def rest_ended(status: AgentStatus, now: datetime) -> Step:
    """The rest after a refused offer is over: a flag, no state change; the agent may be offered calls again."""
    return Step(replace(status, resting_until=None), None)


def device_busy(status: AgentStatus, busy: bool, now: datetime) -> Step:
    """The device is (not) on a call of its own: a flag, no state change; a busy agent is offered nothing."""
    return Step(replace(status, device_busy=busy), None)


# ---------------------------------------------------------------- helpers


def _settle(status: AgentStatus, now: datetime, cause: Cause, call_id: str | None = None,
            keep_idle: bool = False) -> Step:
    """Where a logged-in agent rests: unavailable (device gone), paused (a pause is wished) or available."""
    if not status.reachable:
        return _move(status, AgentState.UNAVAILABLE, now, cause, call_id=call_id)
    if status.pause_reason is not None:
        return _move(status, AgentState.PAUSED, now, cause, reason=status.pause_reason, call_id=call_id)
    idle = status.idle_since if keep_idle and status.idle_since is not None else now
    return _move(replace(status, idle_since=idle), AgentState.AVAILABLE, now, cause, call_id=call_id)


def _move(status: AgentStatus, to: AgentState, now: datetime, cause: Cause, reason: str | None = None,
          call_id: str | None = None) -> Step:
    transition = Transition(status.agent_id, status.state, to, now, cause, reason, call_id)
    return Step(replace(status, state=to, since=now), transition)


def _require_logged_in(status: AgentStatus) -> None:
    if status.state is AgentState.LOGGED_OUT:
        raise AgentNotLoggedIn(f"agent {status.agent_id} is not logged in")


def _require_reserved_for(status: AgentStatus, call_id: str) -> None:
    if status.state is not AgentState.RESERVED or status.call_id != call_id:
        raise AgentNotReserved(f"agent {status.agent_id} is not ringing for call {call_id} ({status.state})")
