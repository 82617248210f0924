"""The calls in progress as the live view shows them: each call's states, its caller masked per role, its scope.

Pure: times are arguments, nothing here publishes or awaits. `LiveCallBoard` holds one `LiveCall` per call key and
changes it on what the service learns (its start, a queue wait, an offer, an answer, a hold, a wrap-up, a recording,
a supervisor, its end); each change returns the call as it is now, or None when nothing a viewer sees changed.

States: ivr -> waiting -> ringing -> talking <-> on_hold -> wrap_up; a missed offer goes back to waiting, a wait
that ends without an answer back to ivr (the flow goes on), a conversation that ends without a wrap-up back to
ivr. A call whose caller is gone while its agent wraps it up stays shown in wrap_up until the wrap-up ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from callcontrol.core.permissions import Principal, Role, sees_call


class CallState(StrEnum):
    IVR = "ivr"
    WAITING = "waiting"
    RINGING = "ringing"
    TALKING = "talking"
    ON_HOLD = "on_hold"
    WRAP_UP = "wrap_up"


class RecordingState(StrEnum):
    NONE = "none"
    RECORDING = "recording"
    PAUSED = "paused"


SHOWN_DIGITS = 4  # a masked caller number keeps its last four digits


@dataclass(frozen=True)
class LiveCall:
    """One call in progress. `spent_s`: seconds spent in each state already left (the current one is counted by
    `durations_s`); `caller_gone`: the caller hung up, the call is only shown for its agent's wrap-up."""

    call_id: str
    caller_number: str
    caller_name: str
    dialed_number: str
    flow_id: str | None
    started_at: datetime
    state: CallState = CallState.IVR
    state_since: datetime | None = None
    queue: str | None = None
    agent: str | None = None
    recording: RecordingState = RecordingState.NONE
    supervisors: tuple[str, ...] = ()
    spent_s: tuple[tuple[str, float], ...] = ()
    caller_gone: bool = False

    def __post_init__(self) -> None:
        if self.state_since is None:
            object.__setattr__(self, "state_since", self.started_at)

    def total_s(self, now: datetime) -> float:
        return round(max(0.0, (now - self.started_at).total_seconds()), 3)

    def state_s(self, now: datetime) -> float:
        assert self.state_since is not None
        return round(max(0.0, (now - self.state_since).total_seconds()), 3)

    def durations_s(self, now: datetime) -> dict[str, float]:
        """Seconds in each state the call has been in, the current one up to `now`."""
        spent = dict(self.spent_s)
        spent[self.state.value] = round(spent.get(self.state.value, 0.0) + self.state_s(now), 3)
        return spent

    def moved_to(self, state: CallState, at: datetime, **changes: object) -> LiveCall:
        """This call in `state` from `at` (the time in the state it leaves is kept in spent_s)."""
        if state is self.state:
            return replace(self, **changes)  # type: ignore[arg-type]
        spent = dict(self.spent_s)
        spent[self.state.value] = round(spent.get(self.state.value, 0.0) + self.state_s(at), 3)
        return replace(self, state=state, state_since=max(at, self.state_since or at),  # type: ignore[arg-type]
                       spent_s=tuple(spent.items()), **changes)


@dataclass
class LiveCallBoard:
    """Every call in progress by call key, and the agents wrapping up a call whose caller is gone."""

    calls: dict[str, LiveCall] = field(default_factory=dict)
    _wrapping: dict[str, str] = field(default_factory=dict)  # agent -> the call it wraps up

    def get(self, call_id: str) -> LiveCall | None:
        return self.calls.get(call_id)

    def started(self, call: LiveCall) -> LiveCall:
        """A call entered the service (its FastAGI session began): in the IVR from its start."""
        self.calls[call.call_id] = call
        return call

    def queued(self, call_id: str, queue: str, at: datetime) -> LiveCall | None:
        """The caller's wait in `queue` began or moved on: waiting, unless an agent already rings or talks (a caller
        queued again while its last agent wraps up is waiting: the wrap-up is that agent's, not the call's)."""
        call = self.calls.get(call_id)
        if call is None:
            return None
        if call.state in (CallState.IVR, CallState.WRAP_UP) and not call.caller_gone:
            return self._put(call.moved_to(CallState.WAITING, at, queue=queue, agent=None))
        return self._put(replace(call, queue=queue)) if call.queue != queue else None

    def offered(self, call_id: str, agent: str, queue: str, at: datetime) -> LiveCall | None:
        call = self.calls.get(call_id)
        if call is None or call.state not in (CallState.IVR, CallState.WAITING):
            return None
        return self._put(call.moved_to(CallState.RINGING, at, queue=queue, agent=agent))

    def missed(self, call_id: str, agent: str, at: datetime) -> LiveCall | None:
        """The agent rung did not answer: back to waiting, no agent."""
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.RINGING or call.agent != agent:
            return None
        return self._put(call.moved_to(CallState.WAITING, at, agent=None))

    def answered(self, call_id: str, agent: str, at: datetime) -> LiveCall | None:
        call = self.calls.get(call_id)
        if call is None or (call.state in (CallState.TALKING, CallState.ON_HOLD) and call.agent == agent):
            return None
        return self._put(call.moved_to(CallState.TALKING, at, agent=agent))

    def hold_changed(self, call_id: str, on_hold: bool, at: datetime) -> LiveCall | None:
        """The agent put the caller on hold (True) or took it back (False); only during a conversation."""
        call = self.calls.get(call_id)
        if call is None:
            return None
        if on_hold and call.state is CallState.TALKING:
            return self._put(call.moved_to(CallState.ON_HOLD, at))
        if not on_hold and call.state is CallState.ON_HOLD:
            return self._put(call.moved_to(CallState.TALKING, at))
        return None

    def conversation_ended(self, call_id: str, at: datetime) -> LiveCall | None:
        """The conversation is over; the caller is back in the flow (or about to be gone) until a wrap-up."""
        call = self.calls.get(call_id)
        if call is None or call.state not in (CallState.TALKING, CallState.ON_HOLD):
            return None
        return self._put(call.moved_to(CallState.IVR, at))

    def wait_ended(self, call_id: str, at: datetime) -> LiveCall | None:
        """The caller's queue wait is over: one still waiting or ringing is back in the flow."""
        call = self.calls.get(call_id)
        if call is None or call.state not in (CallState.WAITING, CallState.RINGING):
            return None
        return self._put(call.moved_to(CallState.IVR, at, agent=None))

    def wrap_up_started(self, agent: str, call_id: str, at: datetime) -> LiveCall | None:
        """The agent wraps the call up (its state machine's wrap_up after this call); not when the call has moved on
        meanwhile (queued again, or with another agent)."""
        call = self.calls.get(call_id)
        if call is None or call.agent not in (agent, None) or call.state in (CallState.WAITING, CallState.RINGING):
            return None
        self._wrapping[agent] = call_id
        return self._put(call.moved_to(CallState.WRAP_UP, at, agent=agent))

    def wrap_up_ended(self, agent: str, at: datetime) -> tuple[LiveCall | None, str | None]:
        """The agent's wrap-up is over: (the call back in the flow, None), or (None, the call's id) when its
        caller is gone and the call leaves the view; (None, None) when the agent wrapped up nothing shown."""
        call_id = self._wrapping.pop(agent, None)
        call = self.calls.get(call_id) if call_id is not None else None
        if call is None or call.state is not CallState.WRAP_UP:
            return None, None
        if call.caller_gone:
            del self.calls[call.call_id]
            return None, call.call_id
        return self._put(call.moved_to(CallState.IVR, at)), None

    def recording_changed(self, call_id: str, recording: RecordingState) -> LiveCall | None:
        call = self.calls.get(call_id)
        if call is None or call.recording is recording:
            return None
        return self._put(replace(call, recording=recording))

    def supervision_changed(self, call_id: str, supervisors: Iterable[str]) -> LiveCall | None:
        call = self.calls.get(call_id)
        wanted = tuple(dict.fromkeys(supervisors))
        if call is None or call.supervisors == wanted:
            return None
        return self._put(replace(call, supervisors=wanted))

    def ended(self, call_id: str) -> tuple[LiveCall | None, bool]:
        """The caller's call is over: (None, True) when it left the view, (the call, False) when it stays for its
        agent's wrap-up, (None, False) for a call the board does not have."""
        call = self.calls.get(call_id)
        if call is None:
            return None, False
        if call.state is CallState.WRAP_UP:
            return self._put(replace(call, caller_gone=True, recording=RecordingState.NONE)), False
        del self.calls[call_id]
        for agent, wrapped in list(self._wrapping.items()):
            if wrapped == call_id:
                del self._wrapping[agent]
        return None, True

    def _put(self, call: LiveCall) -> LiveCall:
        self.calls[call.call_id] = call
        return call


# ---------------------------------------------------------------- who sees what


def masked_number(number: str) -> str:
    """The caller's number with all but its last SHOWN_DIGITS characters as '*' (all of it when that short)."""
    if len(number) <= SHOWN_DIGITS:
        return "*" * len(number)
    return "*" * (len(number) - SHOWN_DIGITS) + number[-SHOWN_DIGITS:]


def masks_caller(principal: Principal, masked_roles: frozenset[Role]) -> bool:
    """True when this principal's role sees callers masked (CALLCONTROL_MASK_CALLER_FOR); never the admin."""
    return principal.role is not Role.ADMIN and principal.role in masked_roles


Teams = Callable[[str], Iterable[str]]


def sees_live_call(principal: Principal, call: LiveCall, queue_teams: Teams, agent_teams: Teams) -> bool:
    """A live call: the admin every one; a supervisor those of its queues and teams (through the call's queue or
    its agent); an agent only the calls it is on (ringing, talking, holding, wrapping up). A call still in the
    IVR (no queue, no agent) is the admin's alone."""
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.AGENT:
        return call.agent is not None and call.agent == principal.agent_id
    if principal.role is not Role.SUPERVISOR:
        return False
    queues = [(call.queue, queue_teams(call.queue))] if call.queue else []
    agents = [(call.agent, agent_teams(call.agent))] if call.agent else []
    return sees_call(principal, queues, agents)


@dataclass(frozen=True)
class LiveCallFilter:
    """The list's filter (?state=&queue=&team=): each None matches every call."""

    state: CallState | None = None
    queue: str | None = None
    team: str | None = None

    def matches(self, call: LiveCall, queue_teams: Teams, agent_teams: Teams) -> bool:
        if self.state is not None and call.state is not self.state:
            return False
        if self.queue is not None and call.queue != self.queue:
            return False
        if self.team is not None:
            teams = {*(queue_teams(call.queue) if call.queue else ()), *(agent_teams(call.agent) if call.agent
                                                                         else ())}
            return self.team in teams
        return True


def live_call_view(call: LiveCall, now: datetime, masked: bool) -> Mapping[str, object]:
    """The call as the API and the feed show it to one viewer (`masked`: its caller's number masked, no name)."""
    return {"call_id": call.call_id,
            "caller_number": masked_number(call.caller_number) if masked else call.caller_number,
            "caller_name": None if masked else (call.caller_name or None),
            "caller_masked": masked, "dnis": call.dialed_number, "flow_id": call.flow_id,
            "queue": call.queue, "agent": call.agent, "state": call.state.value,
            "state_since": call.state_since.isoformat() if call.state_since else None,
            "state_s": call.state_s(now), "started_at": call.started_at.isoformat(), "total_s": call.total_s(now),
            "durations_s": call.durations_s(now), "recording": call.recording.value,
            "supervisors": list(call.supervisors), "caller_gone": call.caller_gone}
