"""The caller's wait in an ACD queue, inside its own AGI session, and the queue stint that tells how it went.

Music on hold, announcements, waking up for an offer, ringing the agent from the caller's session, leaving.

- The caller waits in a WAIT FOR DIGIT that an exit key ends, or the desk's wake-up (AMI PlayDTMF of WAKE_DIGIT,
  "received" on the caller's channel) when the Distributor offers the call to an agent.
- The offer is dialled from the caller's session (Dial(PJSIP/agent...), the caller on music on hold), so one
  task owns the caller from queue entry to the end of the conversation. Ring-no-answer returns the caller to
  the wait, at their place; the Distributor counts the miss.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from callcontrol.core.acd.caller_prompts import callback_dialog
from callcontrol.core.acd.errors import AcdError, QueueFull
from callcontrol.core.acd.model import BookedCallback, Call
from callcontrol.core.acd.outcomes import Offer, Outcome
from callcontrol.core.acd.router import Distributor
from callcontrol.core.domain_events import (
    AgentAnswered,
    AgentMissed,
    CallbackBooked,
    ConversationEnded,
    ConversationStarted,
    QueueStintEnded,
    QueueStintProgressed,
)
from callcontrol.core.events import DialEnded
from callcontrol.core.interactions import OFFER_ANSWERED, STINT_TRANSFERRED, OfferAttempt
from callcontrol.core.ivr import Enqueue, QueueLeft, QueueStatus
from callcontrol.core.identifiers import WAKE_DIGIT
from callcontrol.services.agent_devices import AgentDevices
from callcontrol.services.event_bus import EventBus
from callcontrol.services.prompt_player import play_script
from callcontrol.services.ports import AgiChannel, CallerHungUp, CallerRef, Clock, QueueDesk
from callcontrol.services.queue_announcements import WaitingExperience, announce
from callcontrol.services.recording_ports import QueueRecorder
from callcontrol.services.queue_waiter import Waiter, endpoint_of, ended_stint, stint_so_far

log = structlog.get_logger(__name__)

# DIALSTATUS values of a phone that refused the offer at once (486 busy, 503, no channel): not re-offered at once
REFUSED = frozenset({"BUSY", "CONGESTION", "CHANUNAVAIL"})
# A Dial() that never shows a DialEnd on AMI (Asterisk could not create or call the agent's channel) stops
# holding the device this long after its ring timeout; any AMI lag shorter than this is covered.
DIAL_END_WAIT_S = 10.0

CarryOut = Callable[..., Outcome]  # the desk's _carry_out(outcome, why, call_id=None)
Settle = Callable[[str, datetime], None]  # the desk's settle_device(endpoint, now)


class QueueWaits:
    """Every caller waiting in an ACD queue (by call key), and what their sessions do while they wait."""

    def __init__(self, distributor: Distributor, clock: Clock, events: EventBus, devices: AgentDevices,
                 carry_out: CarryOut, settle_device: Settle, fallback: QueueDesk | None) -> None:
        self.distributor = distributor
        self.clock = clock
        self.events = events
        self.waiters: dict[str, Waiter] = {}  # by call key
        self._call_of_channel: dict[str, str] = {}  # a waiting caller's channel uniqueid -> its call key (AMI)
        self._devices = devices
        self._carry_out = carry_out
        self._settle_device = settle_device
        self._fallback = fallback
        self.recorder: QueueRecorder | None = None  # starts the call's recording before the agent is rung

    # ------------------------------------------------------------------ the QueueDesk port

    async def wait_in_queue(self, channel: AgiChannel, request: Enqueue, caller: CallerRef,
                            arrived_at: datetime | None = None) -> QueueLeft:
        """Queue the caller and keep them until answered (and the conversation over), timed out, or gone.
        `arrived_at`: a caller transferred here keeps its original arrival for its place (the stint is new)."""
        now = self.clock.now()
        if request.queue not in self.distributor.queue_ids():
            if self._fallback is not None:
                return await self._fallback.wait_in_queue(channel, request, caller)
            log.warning("acd.unknown_queue", queue=request.queue)
            return QueueLeft("no_agents")
        wrapup = self.distributor.queue(request.queue).wrapup
        waiter = Waiter(caller, request.queue, now, recording=request.recording,
                        wrapup_required=wrapup is not None and wrapup.required,
                        arrived_at=min(arrived_at, now) if arrived_at is not None else None)
        if self.distributor.logged_in(request.queue) == 0:
            log.info("acd.blocked", queue=request.queue, reason="no agent logged in")
            self._end_stint(waiter, "blocked")
            return QueueLeft("no_agents")
        call = Call(caller.call_id, request.queue, arrived_at=min(arrived_at or now, now), priority=request.priority,
                    skills=dict(request.skills))
        self.waiters[call.id] = waiter
        self._call_of_channel[caller.uniqueid] = call.id
        try:
            self._carry_out(self.distributor.call_arrived(call, now), "call_arrived", call.id)
        except QueueFull:
            del self.waiters[call.id]
            del self._call_of_channel[caller.uniqueid]
            log.info("acd.blocked", queue=request.queue, reason="queue full")
            self._end_stint(waiter, "blocked")
            return QueueLeft("no_agents")
        estimate = self.distributor.estimated_wait(request.queue, now, call.id)
        waiter.estimated_wait_s = estimate.seconds
        log.info("acd.queued", queue=request.queue, call=call.id, position=estimate.position,
                 estimated_wait_s=None if estimate.seconds is None else round(estimate.seconds, 1))
        self._stint_progress(waiter)
        outcome = "failed"  # a channel command failed: the flow takes the call on (the dialplan fallback)
        try:
            left = await self._wait(channel, request, call.id, waiter, now + timedelta(seconds=request.max_wait_s))
            outcome = "timed_out" if left.result == "timeout" else left.result
            if waiter.transferred:  # the agent (or the service) transferred the caller on: not the call's end
                outcome = STINT_TRANSFERRED
            return left
        except (CallerHungUp, asyncio.CancelledError):
            outcome = "abandoned"
            raise
        finally:
            self._leave(call.id, waiter)
            self._end_stint(waiter, outcome)

    def queue_status(self, queue_id: str) -> QueueStatus | None:
        """Free agents, callers waiting and the estimated wait of a new caller; None for a queue the ACD does not
        define (then the fallback's) or when nobody can take its calls (no estimate)."""
        if queue_id not in self.distributor.queue_ids():
            return self._fallback.queue_status(queue_id) if self._fallback is not None else None
        estimate = self.distributor.estimated_wait(queue_id, self.clock.now())
        if estimate.seconds is None:
            return None
        return QueueStatus(estimate.free, len(self.distributor.waiting(queue_id)), round(estimate.seconds))

    # ------------------------------------------------------------------ the stint, for the call record

    def _end_stint(self, waiter: Waiter, outcome: str) -> None:
        """The caller's wait in this queue is over: its record (KPIs) gets the stint."""
        self.events.publish(QueueStintEnded(waiter.caller.call_id, ended_stint(
            waiter, outcome, self.clock.now(), endpoint_of(self.distributor, waiter.talked_with))))

    def _stint_progress(self, waiter: Waiter) -> None:
        """The stint so far, for the call record while it goes on."""
        endpoint = endpoint_of(self.distributor, waiter.talked_with) if waiter.answered_at is not None else None
        self.events.publish(QueueStintProgressed(waiter.caller.call_id, stint_so_far(waiter, endpoint)))

    # ------------------------------------------------------------------ the wait itself

    async def _wait(self, channel: AgiChannel, request: Enqueue, call_id: str, waiter: Waiter,
                    deadline: datetime) -> QueueLeft:
        callback = request.callback if self._callbacks_allowed(request.queue) else None
        escapes = "".join(sorted(request.exit_keys)) + (callback.key if callback else "") + WAKE_DIGIT
        hold = WaitingExperience.of(request, self.distributor.queue(request.queue))
        next_announcement = self.clock.now() + hold.every
        turn = 0
        await channel.music_on_hold(True, hold.moh_class)
        while True:
            if waiter.offer is not None:
                if await self._ring(channel, call_id, waiter, hold.moh_class):
                    return QueueLeft("answered", caller_hung_up=waiter.caller_hung_up)
                await channel.music_on_hold(True, hold.moh_class)
                continue
            now = self.clock.now()
            if waiter.timed_out or now >= deadline:
                return QueueLeft("timeout")
            if hold.announces and now >= next_announcement:
                digit = await self._announce(channel, request.queue, hold, turn, call_id, escapes)
                turn += 1
                next_announcement = self.clock.now() + hold.every
                await channel.music_on_hold(True, hold.moh_class)
            else:
                until = min(deadline, next_announcement) if hold.announces else deadline
                digit = await channel.wait_for_digit(max(1, int((until - now).total_seconds() * 1000)))
            if digit is not None and digit in request.exit_keys:
                return QueueLeft("exited_by_key", digit)
            if callback is not None and digit == callback.key and waiter.offer is None:
                await channel.music_on_hold(False)
                number = await play_script(channel, callback_dialog(callback.sounds, waiter.caller.number,
                                                                    callback.numbers))
                if number is not None:
                    waiter.callback_number = number
                    waiter.booked = BookedCallback(call_id, waiter.queue_id, number, waiter.entered_at,
                                                   request.priority, dict(request.skills))
                    self.events.publish(CallbackBooked(call_id, waiter.booked))
                    log.info("acd.callback_booked", call=call_id, queue=waiter.queue_id)
                    return QueueLeft("callback_requested")
                await channel.music_on_hold(True, hold.moh_class)

    def _callbacks_allowed(self, queue_id: str) -> bool:
        try:
            return self.distributor.queue(queue_id).callback_allowed
        except AcdError:
            return False

    async def _ring(self, channel: AgiChannel, call_id: str, waiter: Waiter, moh_class: str) -> bool:
        """Dial the offered agent from the caller's session; True when they talked (the conversation is over,
        whoever hung up first). Raises CallerHungUp when the caller hung up before an answer."""
        offer = waiter.offer
        assert offer is not None
        await channel.music_on_hold(False)
        if not self._dial_may_start(call_id, offer):  # the offer ended while the caller was being woken
            if waiter.offer is offer:
                waiter.offer = None
            return False
        log.info("acd.ringing", call=call_id, agent=offer.agent_id, endpoint=offer.endpoint)
        self._stint_progress(waiter)
        if self.recorder is not None:  # before the Dial, on the caller's channel: the conversation is all in it
            await self.recorder.before_dial(channel, waiter.caller, waiter.queue_id, waiter.recording,
                                            offer.agent_id)
        dialled = await channel.dial_agent(offer.endpoint, offer.ring_timeout_s, moh_class)
        now = self.clock.now()
        waiter.offer = None
        # Answered when Dial() says so, or when AMI's DialEnd ANSWER was seen (the caller may hang up first,
        # and then DIALSTATUS may be unreadable)
        answered = dialled.status == "ANSWER" or waiter.answered_by == offer.agent_id or dialled.transferred
        waiter.offers.append(OfferAttempt(offer.agent_id, offer.offered_at,
                                          OFFER_ANSWERED if answered else dialled.status.lower()))
        self._stint_progress(waiter)
        if answered:
            if waiter.answered_by is None:  # DialEnd not seen (AMI down): the answer is known now
                self.answered(call_id, offer.agent_id, now)
            if dialled.transferred:  # the caller lives on in a transfer context; its recording goes with it
                waiter.transferred = True
                log.info("acd.transferred", call=call_id, agent=offer.agent_id)
                if self.recorder is not None:
                    self.recorder.caller_transferred(call_id)
            self.conversation_over(waiter, now)
            # a transferred caller's walk ends here too: this session is over, the transfer leg takes it on
            waiter.caller_hung_up = dialled.caller_hung_up or dialled.transferred
            return True
        if dialled.caller_hung_up:  # hung up while the agent rang: _leave withdraws the offer
            raise CallerHungUp("caller hung up while the agent was ringing")
        log.info("acd.missed", call=call_id, agent=offer.agent_id, status=dialled.status)
        self.events.publish(AgentMissed(call_id, offer.agent_id, dialled.status.lower(), now))
        if self.distributor.offer_of(call_id) == offer:
            self._hold_while_channels_remain(offer.agent_id, now)
            refused = dialled.status in REFUSED
            self._carry_out(self.distributor.offer_missed(call_id, offer.agent_id, now, refused=refused),
                            "offer_missed")
        return False

    def conversation_over(self, waiter: Waiter, now: datetime) -> None:
        agent_id, waiter.answered_by = waiter.answered_by, None
        if agent_id is None:
            return
        if waiter.answered_at is not None:
            waiter.talk_s = round((now - waiter.answered_at).total_seconds(), 3)
            self.events.publish(ConversationEnded(waiter.caller.call_id, agent_id, now, waiter.talk_s))
        self._hold_while_channels_remain(agent_id, now)
        self._carry_out(self.distributor.call_ended(agent_id, now), "call_ended")

    def _hold_while_channels_remain(self, agent_id: str, now: datetime) -> None:
        """Dial() returns before Asterisk has destroyed the agent's channel, and under load before AMI has even
        shown it: the device stays busy (no new call) until AMI shows the dial's end and the Hangup of its last
        channel (_settle_device)."""
        self._settle_device(self.distributor.agent(agent_id).endpoint, now)

    def _dial_may_start(self, call_id: str, offer: Offer) -> bool:
        """Just before Dial(): True when the offer is still this caller's; the device then counts as busy until
        AMI shows this dial's DialEnd and the Hangup of every channel on the device. A phone is never rung for
        a second call while Asterisk may still have the first one's channel, whatever AMI's lag."""
        try:
            still_ours = self.distributor.offer_of(call_id) == offer
        except AcdError:
            still_ours = False
        if not still_ours:
            log.info("acd.offer_gone_before_ringing", call=call_id, agent=offer.agent_id)
            return False
        self._devices.dial_starting(offer.endpoint, self.waiters[call_id].caller.uniqueid,
                                    self.clock.now() + timedelta(seconds=offer.ring_timeout_s + DIAL_END_WAIT_S))
        self._settle_device(offer.endpoint, self.clock.now())
        return True

    def _leave(self, call_id: str, waiter: Waiter) -> None:
        """The caller's session ends its stint (answered, timed out, exited, hung up or failed)."""
        self.waiters.pop(call_id, None)
        self._call_of_channel.pop(waiter.caller.uniqueid, None)
        now = self.clock.now()
        if waiter.callback_number is not None:  # keeps its place; the callback leg takes it from here
            self.waiters[call_id] = waiter
            return
        if waiter.answered_by is not None:  # the caller hung up during the conversation
            self.conversation_over(waiter, now)
        try:
            self.distributor.call_queue(call_id)
        except AcdError:
            return  # answered: already out of the Distributor
        self._carry_out(self.distributor.call_left(call_id, now), "call_left", call_id)

    async def _announce(self, channel: AgiChannel, queue_id: str, announcements: WaitingExperience, turn: int,
                        call_id: str, escapes: str) -> str | None:
        """Position, estimated wait and the periodic message; a key (or the wake-up) cuts it short."""
        await channel.music_on_hold(False)
        try:
            estimate = self.distributor.estimated_wait(queue_id, self.clock.now(), call_id)
        except AcdError:
            return None
        log.info("acd.announced", call=call_id, position=estimate.position,
                 estimated_wait_s=None if estimate.seconds is None else round(estimate.seconds))
        return await announce(channel, announcements, estimate, turn, escapes)

    # ------------------------------------------------------------------ AMI: the agent answered

    def dial_ended(self, event: DialEnded) -> None:
        """AMI's DialEnd of a caller's Dial(), matched by the caller channel's uniqueid: ANSWER starts the talk."""
        call_id = self._call_of_channel.get(event.caller_uniqueid)
        waiter = self.waiters.get(call_id) if call_id is not None else None
        offer = waiter.offer if waiter is not None else None
        if call_id is not None and waiter is not None and offer is not None and event.status == "ANSWER":
            waiter.agent_channel = event.callee_channel  # what a transfer of this conversation moves
            self.answered(call_id, offer.agent_id, event.at)

    def answered(self, call_id: str, agent_id: str, now: datetime) -> None:
        waiter = self.waiters.get(call_id)
        if waiter is None or waiter.answered_by is not None:
            return
        self._carry_out(self.distributor.offer_answered(call_id, agent_id, now), "offer_answered")
        waiter.answered_by = waiter.talked_with = agent_id
        waiter.answered_at = now
        self.events.publish(AgentAnswered(call_id, agent_id, waiter.queue_id, now))
        self.events.publish(ConversationStarted(call_id, agent_id, now))
        self._stint_progress(waiter)
        log.info("acd.answered", call=call_id, agent=agent_id, queue=waiter.queue_id,
                 waited_s=round((now - waiter.entered_at).total_seconds(), 3),
                 estimated_wait_s=None if waiter.estimated_wait_s is None else round(waiter.estimated_wait_s, 1))
