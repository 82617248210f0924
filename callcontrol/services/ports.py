"""The ports services talk through: an AGI channel, a queue desk, the call-record store, a clock; and their errors."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from callcontrol.core.calls import CallRecord
from callcontrol.core.events import ChannelHungUp
from callcontrol.core.ivr import Enqueue, QueueLeft, QueueStatus
from callcontrol.core.wrapup import Wrapup


class CallerHungUp(Exception):
    """The caller's channel is gone; no further command can reach it."""


class ChannelCommandFailed(Exception):
    """Asterisk refused or failed a command on a live channel."""


class HttpLookupFailed(Exception):
    """A flow's data dip got no usable answer: reason is "timeout" or "error"."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class HttpClient(Protocol):
    async def request(self, method: str, url: str, query: Sequence[tuple[str, str]],
                      body: Mapping[str, object] | None, timeout_s: float) -> tuple[int, object]:
        """Returns (status, decoded JSON or None); raises HttpLookupFailed on timeout or transport errors."""
        ...


@dataclass(frozen=True)
class AgentDialled:
    """How ringing an agent from the caller's session ended: Asterisk's DIALSTATUS (ANSWER when they talked,
    NOANSWER, BUSY, CANCEL, ...; UNKNOWN if it could not be read), and whether the caller hung up (while the
    agent rang, or during the conversation) rather than Dial() returning with the caller still there."""

    status: str
    caller_hung_up: bool = False
    # the caller's channel was blind-transferred away from the agent (the service's BlindTransfer, or a REFER
    # from the agent's phone): it lives on in a transfer context, only this session is over (docs/transfers.md)
    transferred: bool = False


class AgiChannel(Protocol):
    """One call's AGI session, seen as the operations the IVR needs."""

    async def answer(self) -> None: ...

    async def play(self, prompts: Sequence[str], escape_digits: str = "") -> str | None:
        """Play prompts in order; return the digit that interrupted them, or None."""
        ...

    async def wait_for_digit(self, timeout_ms: int) -> str | None: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def collect_digits(self, prompts: Sequence[str], max_digits: int, timeout_ms: int,
                             inter_digit_timeout_ms: int, terminator: str) -> str:
        """Play prompts (barge-in), then gather digits until max_digits, the terminator or a pause; '' if none."""
        ...

    async def say(self, kind: str, value: str) -> None:
        """Say a number ("number") or a digit string ("digits") in the channel's language."""
        ...

    async def set_language(self, language: str) -> None: ...

    async def transfer(self, kind: str, target: str, ring_timeout_s: int) -> str:
        """Connect the caller to an allow-listed destination (kind extension, number or queue);
        returns Asterisk's DIALSTATUS."""
        ...

    async def voicemail(self, mailbox: str, greeting: str) -> str:
        """Let the caller leave a message (greeting unavailable, busy or none); returns VMSTATUS."""
        ...

    async def music_on_hold(self, on: bool, moh_class: str = "default") -> None: ...

    async def dial_agent(self, endpoint: str, ring_timeout_s: float, moh_class: str = "default") -> AgentDialled:
        """Ring an agent's device (PJSIP/...), caller on music on hold; how Dial() ended, also when the caller
        hung up (never CallerHungUp for a hangup during the Dial itself)."""
        ...

    async def hangup(self) -> None: ...

    async def start_mixmonitor(self, file: str, options: str) -> str | None:
        """MixMonitor on this channel into `file` (as Asterisk sees it); its MixMonitorID, None if not given."""


@dataclass(frozen=True)
class CallerRef:
    """Who is queued: the call's key (CallRecord.call_id), the caller's channel as Asterisk knows it (uniqueid,
    as AMI events name it; the name, for AMI actions on it) and its number."""

    call_id: str
    uniqueid: str
    channel: str
    number: str


class AgiRequest(Protocol):
    """What Asterisk says of a call entering AGI(): the script asked for, the channel and the call's numbers."""

    @property
    def script(self) -> str: ...

    @property
    def uniqueid(self) -> str: ...

    @property
    def channel(self) -> str: ...

    @property
    def caller_number(self) -> str: ...

    @property
    def caller_name(self) -> str: ...

    @property
    def dialed_number(self) -> str: ...

    def arg(self, index: int) -> str:
        """The script's argument `index` (from 1); '' when not given."""
        ...


class QueueDesk(Protocol):
    """Where a flow's queue node hands its caller: waits until the caller leaves the queue, and says how."""

    async def wait_in_queue(self, channel: AgiChannel, request: Enqueue, caller: CallerRef) -> QueueLeft: ...

    def queue_status(self, queue_id: str) -> QueueStatus | None:
        """The queue now, for flows' conditions (queue.<id>.*); None when the desk cannot tell."""
        ...


class PbxActions(Protocol):
    """What the services ask of Asterisk outside a call's AGI session (over AMI)."""

    async def wake(self, channel: str) -> None:
        """Make the channel receive WAKE_DIGIT, ending a WAIT FOR DIGIT its AGI session is in; raises
        CallerHungUp when Asterisk has no such channel (the caller hung up)."""
        ...

    async def call_agent_for_callback(self, endpoint: str, ring_timeout_s: float, call_id: str) -> None:
        """Ring an agent's device; when it answers, its channel runs the service's `callback` AGI script with
        call_id (the callback to connect). Raises when Asterisk refuses; an unanswered ring just ends."""
        ...


class TransferActions(Protocol):
    """A blind transfer of an agent's leg (AMI BlindTransfer, adapters/ami_transfer.py): its caller goes to the
    service's transfer context with `token` (docs/transfers.md). Raises CallerHungUp when the channel is gone."""

    async def blind_transfer(self, channel: str, token: str) -> None: ...


class CallRecordStore(Protocol):
    async def save(self, records: Sequence[CallRecord]) -> None:
        """Insert or update each record by call_id (idempotent: replays never duplicate rows)."""
        ...

    async def load_active(self) -> list[CallRecord]:
        """Records a previous run left active (the service stopped before they ended)."""
        ...

    async def started_since(self, since: datetime) -> list[CallRecord]:
        """Every record of a call that started at or after `since` (ended or not): today's history."""
        ...


class LegStore(Protocol):
    """The stored records an agent leg's wrap-up code is read from and, once the call is over, written to."""

    async def by_call_id(self, call_id: str) -> CallRecord | None: ...

    async def set_wrapup(self, call_id: str, stint_position: int, wrapup: Wrapup) -> bool:
        """Write the code on the stored leg; False when that leg has no row (yet)."""
        ...


class HangupLog(Protocol):
    """Asterisk's own persistent log of channel hangups (CEL), for calls whose end AMI did not tell."""

    async def hangups(self, call_ids: Collection[str], since: datetime) -> list[ChannelHungUp]:
        """The logged hangups of these calls' channels (by linkedid), none older than `since`."""
        ...


class NoHangupLog:
    """No hangup log configured: ends unseen by AMI fall back to the snapshot's time."""

    async def hangups(self, call_ids: Collection[str], since: datetime) -> list[ChannelHungUp]:
        return []


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# What the AcdStore port below speaks of (imported beside it).
from collections.abc import Iterable  # noqa: E402

from callcontrol.core.acd.agent_states import AgentState, Transition  # noqa: E402
from callcontrol.core.acd.model import Agent, BookedCallback, Queue  # noqa: E402


class AcdStore(Protocol):
    """Where the ACD keeps its configuration, agent PIN hashes and the log of agent state transitions."""

    async def load_config(self) -> tuple[list[Agent], list[Queue]]:
        """Every agent and queue."""
        ...

    async def save_config(self, agents: Sequence[Agent], queues: Sequence[Queue], replace: bool = False) -> None:
        """Insert or update these (PINs kept); with replace, delete the agents and queues not given."""
        ...

    async def remove_config(self, agent_ids: Sequence[str] = (), queue_ids: Sequence[str] = ()) -> bool:
        """Delete these agents and queues; True when one existed (InvalidConfig if an overflow would dangle)."""
        ...

    async def set_agent_pin(self, agent_id: str, pin: str) -> None:
        """Store a salted hash of a 4-12 digit PIN; raises UnknownAgent, or ValueError for a malformed PIN."""
        ...

    async def verify_agent_pin(self, agent_id: str, pin: str) -> bool:
        """True when the agent exists, has a PIN and this is it (constant-time)."""
        ...

    async def append_transitions(self, transitions: Iterable[Transition]) -> None:
        """Log agent state changes, in order."""
        ...

    async def callbacks_changed(self, changes: Sequence[tuple[str, BookedCallback]]) -> None:
        """Keep booked callbacks: ("booked", callback) stores one, ("done", callback) forgets it; in order."""
        ...

    async def booked_callbacks(self) -> list[BookedCallback]:
        """The callbacks still waiting, oldest first (restored after a restart)."""
        ...

    async def latest_states(self) -> dict[str, tuple[AgentState, str | None, datetime]]:
        """Each agent's last logged (state, pause reason, at): the states to rebuild after a restart."""
        ...


from callcontrol.core.audit import AuditEntry  # noqa: E402


class AuditTrail(Protocol):
    """Where audited acts are kept (the audit log table); recording never raises into the request it audits."""

    async def record(self, entry: AuditEntry) -> None: ...


from callcontrol.core.people import StoredToken, User  # noqa: E402


class UserExists(ValueError):
    """A user of that name exists already (revoked ones too: names are never reused, so the audit stays clear)."""


class UnknownUser(LookupError):
    """No user of that name."""


class PeopleStore(Protocol):
    """Where users, their scopes, their password hashes and their API tokens (digests only) are kept."""

    async def add_user(self, user: User, password_hash: str | None) -> None:
        """Insert a new user (UserExists when the name is taken)."""
        ...

    async def user(self, name: str) -> User | None: ...

    async def users(self) -> list[User]:
        """Every user, revoked ones included, by name."""
        ...

    async def update_user(self, user: User) -> None:
        """Replace a user's role, scope and agent link (UnknownUser when there is none)."""
        ...

    async def set_password_hash(self, name: str, password_hash: str | None) -> None: ...

    async def password_hash(self, name: str) -> str | None:
        """The user's password hash; None when it has none, is revoked or does not exist."""
        ...

    async def set_phone_pin_hash(self, name: str, pin_hash: str | None) -> None: ...

    async def phone_pin_hash(self, name: str) -> str | None:
        """The user's phone PIN hash; None when it has none, is revoked or does not exist."""
        ...

    async def revoke_user(self, name: str, at: datetime) -> bool:
        """Revoke the user and every token of it; False when there is no such user."""
        ...

    async def add_token(self, token: StoredToken) -> None: ...

    async def token(self, lookup_id: str) -> StoredToken | None: ...

    async def tokens(self, user: str) -> list[StoredToken]: ...

    async def touch_token(self, lookup_id: str, at: datetime) -> None:
        """Note the token's last use."""
        ...


class AuditReader(Protocol):
    """The audit trail read back (GET /api/audit), newest first."""

    async def entries(self, actor: str | None = None, action: str | None = None, since: datetime | None = None,
                      until: datetime | None = None, limit: int = 100) -> list[AuditEntry]: ...
