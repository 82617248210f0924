"""Live supervision sessions: listen, whisper, barge; their life from the request to the end, and its audit facts.

Pure: no I/O, no clock (times are arguments). A session is one supervisor's phone joined to one agent's call by
ChanSpy in the dialplan's [cc-supervise] context (dialplan/extensions.conf). The mode is the extension the
supervisor's phone is sent to and maps there to fixed ChanSpy options; mid-session it changes with the keys of
ChanSpy's `d` option (4 listen, 5 whisper, 6 barge), which the service plays to the supervisor's channel and
which the supervisor may press too: every change is seen as a DTMF event on the supervisor's channel.

The supervisor's channel gets a uniqueid the service chooses (Originate's ChannelId), so every AMI event of the
session (ChanSpyStart, DTMFEnd, Hangup) is found by it, and ChanSpyStop (which may omit the spyee) needs nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class Mode(StrEnum):
    """What the supervisor does: hears both sides; talks to the agent only; talks to both."""

    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


MODE_KEYS = {Mode.LISTEN: "4", Mode.WHISPER: "5", Mode.BARGE: "6"}  # ChanSpy's `d` option
MODE_OF_KEY = {key: mode for mode, key in MODE_KEYS.items()}


class State(StrEnum):
    RINGING = "ringing"  # the supervisor's phone is rung
    ACTIVE = "active"  # ChanSpy is joined to the agent's channel
    ENDED = "ended"


class EndReason(StrEnum):
    SUPERVISOR_HUNG_UP = "supervisor_hung_up"
    ENDED_BY_REQUEST = "ended_by_request"  # DELETE /api/supervision/{id}
    AGENT_CALL_ENDED = "agent_call_ended"  # the agent's call ended first (ChanSpy's E option)
    NOT_ANSWERED = "not_answered"  # the supervisor's phone did not answer (or was busy, or unreachable)
    TARGET_GONE = "target_gone"  # the phone answered but the agent's channel was gone: ChanSpy found nothing
    ENDED_WHILE_DOWN = "ended_while_service_down"  # the service restarted; Asterisk no longer had the session


SESSION_ID = re.compile(r"^sup_[0-9a-f]{16}\Z")
# the supervisor channel's uniqueid: <digits>.<digits> like Asterisk's own, so [cc-supervise] and ChanSpy take it
SPYER_UNIQUEID = re.compile(r"^[0-9]{1,20}\.[0-9]{1,10}\Z")
TARGET_UNIQUEID = SPYER_UNIQUEID  # an agent channel's uniqueid (Asterisk's form: epoch seconds '.' sequence)


def spyer_uniqueid(session_id: str, epoch_s: int) -> str:
    """The supervisor channel's uniqueid for a session: unique per session, in Asterisk's own form."""
    return f"{epoch_s}.{int(session_id[4:12], 16)}"


@dataclass(frozen=True)
class ModeChange:
    at: datetime
    old: Mode
    new: Mode
    by: str  # "api:<user>" when the service asked for it, "phone" when the supervisor pressed the key

    def as_json(self) -> dict[str, str]:
        return {"at": self.at.isoformat(), "from": self.old.value, "to": self.new.value, "by": self.by}


@dataclass(frozen=True)
class Session:
    """One supervision session as it stands."""

    id: str
    supervisor: str  # the user name
    endpoint: str  # the supervisor's phone (PJSIP/<device>)
    call_id: str
    agent_id: str
    queue_id: str | None
    target_uniqueid: str  # the agent's channel
    target_channel: str
    spyer_uniqueid: str  # the supervisor's channel
    mode: Mode
    requested_at: datetime
    state: State = State.RINGING
    started_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: EndReason | None = None
    changes: tuple[ModeChange, ...] = ()
    pending_mode: Mode | None = None  # asked for by the API, not yet seen on the channel
    pending_by: str = ""  # who asked for pending_mode
    end_requested_by: str | None = None
    phone_answered: bool = False  # the supervisor's phone answered (its channel went Up)

    @property
    def live(self) -> bool:
        return self.state is not State.ENDED

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return round((self.ended_at - self.started_at).total_seconds(), 3)

    def as_json(self) -> dict[str, object]:
        def at(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None
        return {"id": self.id, "supervisor": self.supervisor, "endpoint": self.endpoint, "call_id": self.call_id,
                "agent": self.agent_id, "queue": self.queue_id, "mode": self.mode.value, "state": self.state.value,
                "requested_at": at(self.requested_at), "started_at": at(self.started_at),
                "ended_at": at(self.ended_at), "end_reason": self.end_reason.value if self.end_reason else None,
                "duration_s": self.duration_s, "mode_changes": [change.as_json() for change in self.changes]}

    # -- what Asterisk showed (each returns the session as it is after it) ------------------------------------

    def spy_started(self, at: datetime) -> Session:
        """ChanSpyStart: the supervisor's channel is joined to the agent's."""
        if not self.live or self.state is State.ACTIVE:
            return self
        return replace(self, state=State.ACTIVE, started_at=at)

    def key_pressed(self, key: str, at: datetime) -> tuple[Session, ModeChange | None]:
        """A DTMF key received on the supervisor's channel: 4/5/6 change the mode (others do nothing)."""
        new = MODE_OF_KEY.get(key)
        if new is None or not self.live:
            return self, None
        by = f"api:{self.pending_by}" if self.pending_mode is new else "phone"
        moved = replace(self, pending_mode=None if self.pending_mode is new else self.pending_mode)
        if new is self.mode:
            return moved, None
        change = ModeChange(at, self.mode, new, by)
        return replace(moved, mode=new, changes=(*self.changes, change)), change

    def mode_requested(self, mode: Mode, by: str) -> Session:
        """The API asked for `mode` (its key is about to be played to the supervisor's channel)."""
        return replace(self, pending_mode=mode, pending_by=by)

    def end_requested(self, by: str) -> Session:
        return replace(self, end_requested_by=by)

    def hung_up(self, at: datetime, target_gone: bool) -> Session:
        """The supervisor's channel hung up: why, from what was seen before."""
        if not self.live:
            return self
        if self.end_requested_by is not None:  # DELETE came first, even while the phone still rang
            reason = EndReason.ENDED_BY_REQUEST
        elif self.state is State.RINGING:
            # answered but never joined: ChanSpy (option u) found no such channel and returned at once
            reason = EndReason.TARGET_GONE if self.phone_answered else EndReason.NOT_ANSWERED
        elif target_gone:
            reason = EndReason.AGENT_CALL_ENDED
        else:
            reason = EndReason.SUPERVISOR_HUNG_UP
        return replace(self, state=State.ENDED, ended_at=at, end_reason=reason)

    def originate_failed(self, at: datetime) -> Session:
        """Asterisk could not ring the supervisor's phone (no answer, busy, unreachable)."""
        if not self.live or self.state is not State.RINGING:
            return self
        reason = EndReason.NOT_ANSWERED if self.end_requested_by is None else EndReason.ENDED_BY_REQUEST
        return replace(self, state=State.ENDED, ended_at=at, end_reason=reason)

    def answered(self) -> Session:
        """The supervisor's phone answered (ChanSpy starts next, unless the agent's channel is gone)."""
        return self if not self.live else replace(self, phone_answered=True)

    def ended_while_down(self, at: datetime) -> Session:
        """The service found after a restart or an AMI outage that Asterisk no longer has the session's channel."""
        if not self.live:
            return self
        return replace(self, state=State.ENDED, ended_at=at, end_reason=EndReason.ENDED_WHILE_DOWN)
