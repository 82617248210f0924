"""Blind transfers of a caller talking with an agent, and the transfer leg that takes the caller on.

- By the API (transfer()): the destination is checked against the allow lists (core/transfers.py), the service
  makes a one-time token and blind-transfers the agent's leg (AMI BlindTransfer) to [cc-transfer] with it.
- By the agent's phone (SIP REFER): Asterisk looks the keyed number up in [cc-phone-transfer] (the agent's leg has
  TRANSFER_CONTEXT set, adapters/agi.py), which hands it to the service as digits; only an allowed one is used.
Either way the caller's first FastAGI session ends (Asterisk calls the async goto a hangup; the queue wait sees
the channel's CONTEXT and ends its stint "transferred", the agent going to wrap-up as after any call), and the
caller comes back in a new session (run_leg()) that takes it to the destination, its record and recording going
on. docs/transfers.md has what was measured on Asterisk 22.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from callcontrol.core.acd.errors import AcdError
from callcontrol.core.events import BlindTransferSeen, ChannelHungUp
from callcontrol.core.interactions import QueueStint
from callcontrol.core.ivr import Enqueue, QueueAnnouncements
from callcontrol.core.transfers import (
    PHONE_KEYS,
    TRANSFER_TOKEN,
    AllowLists,
    Destination,
    ToAgent,
    ToNumber,
    ToQueue,
    TransferRefused,
    allowed,
    describe,
    destination_from_keys,
)
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.ports import (
    AgiChannel,
    AgiRequest,
    CallerHungUp,
    CallerRef,
    ChannelCommandFailed,
    Clock,
    TransferActions,
)
from callcontrol.services.recording_ports import FlowRecorder

log = structlog.get_logger(__name__)

TOKEN_TTL_S = 30.0  # a token not used by then (the caller never came back) is forgotten
TRANSFER_SCRIPT = "transfer"  # AGI script of [cc-transfer]: the service's own transfer, with its token
PHONE_TRANSFER_SCRIPT = "phone-transfer"  # AGI script of [cc-phone-transfer]: what the agent keyed (digits)
NUMBER_RING_TIMEOUT_S = 30
DEFAULT_QUEUE_WAIT_S = 600  # a transferred caller's wait in a queue that sets no max_wait_s


class TransferFailed(Exception):
    """Asterisk did not carry the transfer out (the API answers 502); the call goes on as it was."""


@dataclass(frozen=True)
class PendingTransfer:
    """A transfer the service asked for, until the caller comes back with its token."""

    token: str
    call_id: str
    caller_uniqueid: str
    destination: Destination
    requested_by: str
    requested_at: datetime


@dataclass(frozen=True)
class TransferStarted:
    """What the API answers: the call, where it goes, and how long Asterisk took to accept it."""

    call_id: str
    destination: Destination
    from_agent: str
    accepted_in_s: float


class TransferDesk:
    """The transfers in flight and the legs that carry them out."""

    def __init__(self, acd: AcdDesk, actions: TransferActions, clock: Clock, allow: Callable[[], AllowLists],
                 stints_of: Callable[[str], Sequence[QueueStint]], note: Callable[[str, dict[str, object]], None],
                 recorder: FlowRecorder | None = None) -> None:
        self._acd = acd
        self._actions = actions
        self._clock = clock
        self._allow = allow  # the allow lists as they are now
        self._stints_of = stints_of  # a call's queue stints so far (its record)
        self._note = note  # adds a step to the call's record (its path)
        self.recorder = recorder
        self._pending: dict[str, PendingTransfer] = {}  # by token
        self._seen: dict[str, BlindTransferSeen] = {}  # AMI BlindTransfer by the transferee (caller) uniqueid
        self.latencies: deque[float] = deque(maxlen=1000)  # request -> BlindTransfer accepted, s (the last ones)

    # ------------------------------------------------------------------ the API

    def talking(self, call_id: str) -> tuple[str, str, str] | None:
        """(queue, agent, agent's channel) of a caller talking with an agent now; None otherwise."""
        waiter = self._acd.waits.waiters.get(call_id)
        if waiter is None or waiter.answered_by is None or waiter.agent_channel is None or waiter.transferred:
            return None
        return waiter.queue_id, waiter.answered_by, waiter.agent_channel

    async def transfer(self, call_id: str, destination: Destination, requested_by: str) -> TransferStarted:
        """Blind-transfer the call's caller away from its agent to an allowed destination. Raises
        TransferRefused (not_talking, unknown_queue, number_not_allowed, agent_not_offered, ...) or TransferFailed."""
        talking = self.talking(call_id)
        if talking is None:
            raise TransferRefused("not_talking", "the call is not in a conversation with an agent now")
        _, agent_id, agent_channel = talking
        self._forget_old()
        if any(pending.call_id == call_id for pending in self._pending.values()):
            raise TransferRefused("transfer_pending", "a transfer of this call is already under way")
        destination = allowed(destination, self._allow())
        if isinstance(destination, ToAgent):
            raise TransferRefused("agent_not_offered", "a transfer to an agent is not offered yet: transfer to one "
                                  "of its queues (docs/transfers.md)")
        token = _new_token(self._pending)
        waiter = self._acd.waits.waiters[call_id]
        self._pending[token] = PendingTransfer(token, call_id, waiter.caller.uniqueid, destination, requested_by,
                                               self._clock.now())
        started = time.perf_counter()
        try:
            await self._actions.blind_transfer(agent_channel, token)
        except CallerHungUp as exc:
            self._pending.pop(token, None)
            raise TransferRefused("not_talking", "the agent's leg is gone: the call ended meanwhile") from exc
        except Exception as exc:  # AMI down or Asterisk refused: nothing moved
            self._pending.pop(token, None)
            log.warning("transfer.failed", call=call_id, error=str(exc)[:200])
            raise TransferFailed(str(exc)[:200]) from exc
        seconds = time.perf_counter() - started
        self.latencies.append(seconds)
        log.info("transfer.requested", call=call_id, agent=agent_id, to=describe(destination), by=requested_by,
                 accepted_in_ms=round(seconds * 1000, 1))
        return TransferStarted(call_id, destination, agent_id, seconds)

    def _forget_old(self) -> None:
        limit = self._clock.now() - timedelta(seconds=TOKEN_TTL_S)
        for token in [token for token, pending in self._pending.items() if pending.requested_at < limit]:
            log.warning("transfer.never_came_back", call=self._pending.pop(token).call_id)

    # ------------------------------------------------------------------ AMI

    def transfer_seen(self, event: BlindTransferSeen) -> None:
        """AMI BlindTransfer (ours or a phone's REFER): kept for the caller's transfer leg, which names who did it."""
        log.info("transfer.seen", transferer=event.transferer_channel[:64], result=event.result,
                 context=event.context[:32], external=event.external)
        if event.result == "Success":
            self._seen[event.transferee_uniqueid] = event

    async def channel_hung_up(self, event: ChannelHungUp) -> None:
        """A transferred caller that hangs up before its transfer leg began (or whose leg never came: the service's
        FastAGI unreachable, the dialplan's fallback took it): its recording is finished now, not left live."""
        if self._seen.pop(event.uniqueid, None) is not None and self.recorder is not None:
            await self.recorder.flow_ended(event.linkedid)

    # ------------------------------------------------------------------ the transfer leg (the caller's next session)

    async def run_leg(self, request: AgiRequest, channel: AgiChannel, call_id: str) -> str:
        """The caller back from [cc-transfer] or [cc-phone-transfer]: take it where its transfer goes. Returns how
        the leg ended (answered, timed_out, no_agents, number:<DIALSTATUS>, unknown_token, not_allowed, ...)."""
        caller = CallerRef(call_id, request.uniqueid, request.channel, request.caller_number)
        seen = self._seen.pop(request.uniqueid, None)
        by = f"phone:{seen.transferer_channel.rsplit('-', 1)[0]}" if seen is not None else "phone"
        if request.script == TRANSFER_SCRIPT:
            pending = self._pending.pop(request.arg(2), None) if TRANSFER_TOKEN.match(request.arg(2)) else None
            if pending is None or pending.call_id != call_id or pending.caller_uniqueid != request.uniqueid:
                log.warning("transfer.unknown_token", call=call_id)
                return "unknown_token"  # not ours: the dialplan's fallback takes the caller (never silence)
            destination, by = pending.destination, pending.requested_by
        else:
            keys = request.arg(2) if PHONE_KEYS.match(request.arg(2)) else ""
            found = destination_from_keys(keys, self._allow())
            if found is None or isinstance(found, ToAgent):
                log.info("transfer.phone_target_refused", call=call_id, keyed=len(keys))
                back = self._last_queue(call_id)
                if back is None:
                    return "not_allowed"
                found = ToQueue(back)  # not an allowed target: the caller goes back to its queue, at its place
            destination = found
        self._note(call_id, {"node": "transfer", "result": _shown(destination), "by": by[:80],
                             "at": self._clock.now().isoformat()})
        log.info("transfer.leg", call=call_id, to=describe(destination), by=by[:80])
        try:
            ended = await self._carry_out(channel, caller, destination)
            await _end_call(channel)
            return ended
        except CallerHungUp:
            return "caller_hangup"
        finally:
            if self.recorder is not None:
                await self.recorder.flow_ended(call_id)

    async def _carry_out(self, channel: AgiChannel, caller: CallerRef, destination: Destination) -> str:
        if isinstance(destination, ToNumber):
            await channel.answer()
            status = await channel.transfer("number", destination.number, NUMBER_RING_TIMEOUT_S)
            return f"number:{status.lower()}"
        assert isinstance(destination, ToQueue)
        try:
            queue = self._acd.distributor.queue(destination.queue)
            max_wait = int(queue.max_wait_s or DEFAULT_QUEUE_WAIT_S)
        except AcdError:
            max_wait = DEFAULT_QUEUE_WAIT_S
        request = Enqueue(destination.queue, {}, None, max_wait, QueueAnnouncements(), frozenset())
        stints = self._stints_of(caller.call_id)
        arrived_at = min((stint.entered_at for stint in stints), default=None)  # the original arrival: its place
        left = await self._acd.waits.wait_in_queue(channel, request, caller, arrived_at=arrived_at)
        if left.result != "answered":
            await channel.play(["vm-goodbye"])
        return left.result

    def _last_queue(self, call_id: str) -> str | None:
        """The queue of the call's last stint, if the ACD still has it."""
        stints = self._stints_of(call_id)
        return stints[-1].queue if stints and stints[-1].queue in self._acd.distributor.queue_ids() else None


def _shown(destination: Destination) -> str:
    ((kind, value),) = describe(destination).items()
    return f"{kind}:{value}"


def _new_token(taken: dict[str, PendingTransfer]) -> str:
    while True:
        token = str(10**15 + secrets.randbelow(9 * 10**15))
        if token not in taken:
            return token


async def _end_call(channel: AgiChannel) -> None:
    """The leg is over: tell the dialplan (no fallback) and hang up, as a flow that ends the call does."""
    try:
        await channel.set_variable("CALLCONTROL_DONE", "1")
        await channel.hangup()
    except (CallerHungUp, ChannelCommandFailed):
        pass
