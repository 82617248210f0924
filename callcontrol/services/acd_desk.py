"""The ACD at work: callers waiting in queues over their AGI sessions, agents offered calls, every decision logged.

One `Distributor` (callcontrol/core/acd) decides; this desk carries its decisions out.

- A queue node's caller waits inside its own AGI session: music on hold, announcements, a WAIT FOR DIGIT
  that an exit key ends, or the service's wake-up (AMI PlayDTMF of WAKE_DIGIT, "received" on the caller's
  channel) when the Distributor offers the call to an agent.
- The offer is dialled from the caller's session (Dial(PJSIP/agent...), the caller on music on hold), so one
  task owns the caller from queue entry to the end of the conversation. Ring-no-answer returns the caller
  to the wait, at their place; the Distributor counts the miss.
- AMI tells the answer (DialEnd ANSWER: the agent is on the call) and devices' states (unreachable, busy);
  the end of Dial() tells the end of the conversation (wrap-up starts).
- Timers (escalation, wrap-up end, expired offers) run in one task owned by the desk.

Every Distributor call happens on the event loop without an await in between, so decisions are serialized:
no agent can be offered two calls.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from callcontrol.core.acd.agent_states import AgentState, AgentStatus, Transition
from callcontrol.core.acd.errors import AcdError, QueueFull
from callcontrol.core.acd.model import Agent, BookedCallback, Call, Queue
from callcontrol.core.acd.router import Distributor, Estimate, Offer, Outcome
from callcontrol.core.domain_events import (
    AgentAnswered,
    AgentMissed,
    AgentOffered,
    AgentStateChanged,
    CallbackBooked,
    CallbackDone,
    ConversationEnded,
    ConversationStarted,
    QueueStintEnded,
    QueueStintProgressed,
)
from callcontrol.core.events import (
    ChannelCreated,
    ChannelHungUp,
    ChannelsSnapshot,
    DeviceStateChanged,
    DialEnded,
    device_of,
)
from callcontrol.core.ivr import Enqueue, QueueLeft, QueueStatus
from callcontrol.core.tokens import DIALED_NUMBER, WAKE_DIGIT
from callcontrol.services.event_bus import EventBus
from callcontrol.services.ports import AgiChannel, CallerHungUp, CallerRef, Clock, PbxActions, QueueDesk

log = structlog.get_logger(__name__)

FEED_LIMIT = 1000  # changes a feed subscriber may fall behind before it is cut off
MAX_TIMER_SLEEP_S = 1.0  # the timer task re-reads next_due_at() at least this often
UNREACHABLE = frozenset({"UNAVAILABLE", "INVALID"})
# DIALSTATUS values of a phone that refused the offer at once (486 busy, 503, no channel): not re-offered at once
REFUSED = frozenset({"BUSY", "CONGESTION", "CHANUNAVAIL"})
# A Dial() that never shows a DialEnd on AMI (Asterisk could not create or call the agent's channel) stops
# holding the device this long after its ring timeout; any AMI lag shorter than this is covered.
DIAL_END_WAIT_S = 10.0


@dataclass
class _Waiter:
    """A caller in a queue, as its session and the desk share it."""

    caller: CallerRef
    queue_id: str
    entered_at: datetime
    estimated_wait_s: float | None = None  # told at entry (compared with the actual wait in the logs)
    offer: Offer | None = None
    callback_number: str | None = None  # booked a callback: the caller hung up and keeps its place
    booked: BookedCallback | None = None  # as kept in the database until it is done
    offers: list[dict[str, str]] = field(default_factory=list)  # each agent rung: agent, at, result
    answered_at: datetime | None = None
    talked_with: str | None = None  # the agent who answered (kept after the conversation, for the stint)
    talk_s: float | None = None
    answered_by: str | None = None  # the agent on the call with this caller (DialEnd ANSWER)
    caller_hung_up: bool = False  # the caller ended the conversation with the agent
    timed_out: bool = False


@dataclass(frozen=True)
class CallbackLeg:
    """How a callback went: its outcome, the call that booked it, the agent and the number called."""

    outcome: str
    booked_by: str
    agent: str | None
    number: str | None


@dataclass(frozen=True)
class _WaitingExperience:
    """What a waiting caller hears: the queue node's announcements when it sets any, else its queue's."""

    moh_class: str
    position: bool
    estimated_wait: bool
    every: timedelta
    messages: tuple[tuple[str, ...], ...]  # the periodic message(s), one per announcement, in turn

    @property
    def announces(self) -> bool:
        return self.position or self.estimated_wait or bool(self.messages)

    @classmethod
    def of(cls, request: Enqueue, queue: Queue) -> _WaitingExperience:
        node = request.announcements
        if node.position or node.estimated_wait or node.prompts:  # the flow's node says: one message
            return cls(queue.moh_class, node.position, node.estimated_wait, timedelta(seconds=node.every_s),
                       (node.prompts,) if node.prompts else ())
        return cls(queue.moh_class, queue.announce_position, queue.announce_estimated_wait,
                   timedelta(seconds=queue.announce_every_s), tuple((prompt,) for prompt in queue.periodic_prompts))


class AcdDesk:
    """The QueueDesk port backed by the ACD, plus the agent operations the API and the phone use."""

    def __init__(self, queues: Iterable[Queue], agents: Iterable[Agent], pbx: PbxActions, clock: Clock, *,
                 events: EventBus | None = None, max_misses: int | None = 3, busy_retry_s: float = 5.0,
                 fallback: QueueDesk | None = None) -> None:
        """`events`: where the desk publishes its domain events (stints, callbacks, agent states, offers);
        `fallback`: where callers of a queue the ACD does not define go (e.g. the dialplan's queues)."""
        agents = list(agents)
        self.distributor = Distributor(queues, agents, max_misses=max_misses, refused_rest_s=busy_retry_s)
        self._pbx = pbx
        self.clock = clock
        self.events = events if events is not None else EventBus()
        self._fallback = fallback
        self._waiters: dict[str, _Waiter] = {}  # by call key
        self._call_of_channel: dict[str, str] = {}  # a waiting caller's channel uniqueid -> its call key (AMI)
        self._to_wake: asyncio.Queue[str] = asyncio.Queue()
        self._to_call_back: asyncio.Queue[Offer] = asyncio.Queue()
        self._timers_changed = asyncio.Event()
        self._devices = {agent.endpoint: agent.id for agent in agents}
        self._channels: dict[str, set[str]] = {}  # agent endpoint -> its channels Asterisk has now (AMI)
        # agent endpoint -> {caller uniqueid: (our Dial()s to it whose DialEnd AMI has not shown yet, hold until)}
        self._dialing: dict[str, dict[str, tuple[int, datetime]]] = {}

    def configure(self, queues: Iterable[Queue], agents: Iterable[Agent]) -> None:
        """Add or update queues and agents (from the database at start); their states are kept."""
        now = self.clock.now()
        self._carry_out(self.distributor.set_queues(queues, now), "configure")
        for agent in agents:
            self._carry_out(self.distributor.set_agent(agent, now), "configure")
            self._devices[agent.endpoint] = agent.id

    def restore_callbacks(self, callbacks: Iterable[BookedCallback]) -> None:
        """After a restart: booked callbacks take their places again (by their original arrival)."""
        now = self.clock.now()
        for booked in callbacks:
            waiter = _Waiter(CallerRef(booked.call_id, "", "", ""), booked.queue_id, booked.arrived_at,
                             callback_number=booked.number, booked=booked)
            self._waiters[booked.call_id] = waiter
            try:
                self._carry_out(self.distributor.call_arrived(
                    Call(booked.call_id, booked.queue_id, arrived_at=booked.arrived_at, priority=booked.priority,
                         skills=dict(booked.skills)), now), "callback_restored", booked.call_id)
            except AcdError as exc:  # the queue is gone or full: the callback cannot be kept
                self._waiters.pop(booked.call_id, None)
                self.events.publish(CallbackDone(booked.call_id, booked))
                log.warning("acd.callback_dropped", call=booked.call_id, queue=booked.queue_id, rule=exc.rule)
                continue
            log.info("acd.callback_restored", call=booked.call_id, queue=booked.queue_id)

    def restore(self, states: Mapping[str, tuple[AgentState, str | None]]) -> None:
        """After a restart: agents logged in before are logged in again (paused with their reason); calls they
        were on are gone with the old process, so nobody comes back ringing or on a call."""
        for agent_id, (state, reason) in sorted(states.items()):
            if state is AgentState.LOGGED_OUT or agent_id not in self.distributor.agent_ids():
                continue
            self.login(agent_id)
            if state is AgentState.PAUSED and reason:
                self.pause(agent_id, reason)
            log.info("acd.agent_restored", agent=agent_id, was=state.value, reason=reason)

    # ------------------------------------------------------------------ tasks owned by the service

    async def run(self) -> None:
        """The desk's two loops: timers (escalations, wrap-up ends, expired offers) and waking callers."""
        await asyncio.gather(self._run_timers(), self._run_waker(), self._run_callbacks())

    async def _run_timers(self) -> None:
        while True:
            if self._dialing:
                self._drop_overdue_dials()
            due = self.distributor.next_due_at()
            now = self.clock.now()
            delay = MAX_TIMER_SLEEP_S if due is None else min(MAX_TIMER_SLEEP_S, (due - now).total_seconds())
            if delay > 0:
                self._timers_changed.clear()
                try:
                    await asyncio.wait_for(self._timers_changed.wait(), delay)
                except TimeoutError:
                    pass
                continue
            self._carry_out(self.distributor.advance(self.clock.now()), "timer")

    async def _run_waker(self) -> None:
        while True:
            channel = await self._to_wake.get()
            try:
                await self._pbx.wake(channel)
            except CallerHungUp:  # Asterisk has no such channel: the caller is gone, its session will know soon
                self._caller_gone(channel)
            except Exception as exc:
                log.warning("acd.wake_failed", channel=channel, error=str(exc)[:200])

    def _caller_gone(self, channel: str) -> None:
        """The channel of a caller offered a call is gone: the offer ends now, and the agent (who never rang)
        takes the next caller, rather than waiting for the hangup to reach the caller's AGI session."""
        for call_id, waiter in self._waiters.items():
            if waiter.caller.channel == channel and waiter.offer is not None and waiter.callback_number is None:
                log.info("acd.offered_caller_gone", call=call_id, agent=waiter.offer.agent_id)
                try:
                    self._carry_out(self.distributor.call_left(call_id, self.clock.now()), "caller_gone", call_id)
                except AcdError:
                    pass  # no longer in the Distributor: nothing to end
                return

    async def _run_callbacks(self) -> None:
        """Rings the agent offered a booked callback; the answer arrives as the `callback` AGI session."""
        while True:
            offer = await self._to_call_back.get()
            try:
                await self._pbx.call_agent_for_callback(offer.endpoint, offer.ring_timeout_s, offer.call_id)
            except Exception as exc:
                log.warning("acd.callback_ring_failed", call=offer.call_id, agent=offer.agent_id, error=str(exc)[:200])
                if self.distributor.offer_of(offer.call_id) == offer:
                    self.events.publish(AgentMissed(offer.call_id, offer.agent_id, "failed", self.clock.now()))
                    self._carry_out(self.distributor.offer_missed(offer.call_id, offer.agent_id, self.clock.now()),
                                    "offer_missed")

    # ------------------------------------------------------------------ the QueueDesk port

    async def wait_in_queue(self, channel: AgiChannel, request: Enqueue, caller: CallerRef) -> QueueLeft:
        """Queue the caller and keep them until answered (and the conversation over), timed out, or gone."""
        now = self.clock.now()
        if request.queue not in self.distributor.queue_ids():
            if self._fallback is not None:
                return await self._fallback.wait_in_queue(channel, request, caller)
            log.warning("acd.unknown_queue", queue=request.queue)
            return QueueLeft("no_agents")
        waiter = _Waiter(caller, request.queue, now)
        if self.distributor.logged_in(request.queue) == 0:
            log.info("acd.blocked", queue=request.queue, reason="no agent logged in")
            self._end_stint(waiter, "blocked")
            return QueueLeft("no_agents")
        call = Call(caller.call_id, request.queue, arrived_at=now, priority=request.priority,
                    skills=dict(request.skills))
        self._waiters[call.id] = waiter
        self._call_of_channel[caller.uniqueid] = call.id
        try:
            self._carry_out(self.distributor.call_arrived(call, now), "call_arrived", call.id)
        except QueueFull:
            del self._waiters[call.id]
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
            return left
        except (CallerHungUp, asyncio.CancelledError):
            outcome = "abandoned"
            raise
        finally:
            self._leave(call.id, waiter)
            self._end_stint(waiter, outcome)

    def _end_stint(self, waiter: _Waiter, outcome: str) -> None:
        """The caller's wait in this queue is over: its record (KPIs) gets the stint."""
        now = self.clock.now()
        served_at = waiter.answered_at or now
        stint = {
            "queue": waiter.queue_id, "entered_at": waiter.entered_at.isoformat(), "left_at": now.isoformat(),
            "outcome": outcome, "waited_s": round((served_at - waiter.entered_at).total_seconds(), 3),
            "agent": waiter.talked_with, "talk_s": waiter.talk_s, "offers": list(waiter.offers),
            "estimated_wait_s": None if waiter.estimated_wait_s is None else round(waiter.estimated_wait_s, 1),
        }
        self.events.publish(QueueStintEnded(waiter.caller.call_id, stint))

    def _stint_progress(self, waiter: _Waiter) -> None:
        """The stint so far, for the call record while it goes on: the offers with their results (the one
        ringing now as `ringing`), and once an agent answered, who (and their endpoint) and when."""
        offer = waiter.offer
        ringing = [{"agent": offer.agent_id, "at": offer.offered_at.isoformat(),
                    "result": "answered" if waiter.answered_by == offer.agent_id else "ringing"}] if offer else []
        stint: dict[str, object] = {
            "queue": waiter.queue_id, "entered_at": waiter.entered_at.isoformat(), "agent": waiter.talked_with,
            "offers": [*waiter.offers, *ringing],
            "estimated_wait_s": None if waiter.estimated_wait_s is None else round(waiter.estimated_wait_s, 1)}
        if waiter.answered_at is not None and waiter.talked_with is not None:
            stint.update(answered_at=waiter.answered_at.isoformat(),
                         endpoint=self.distributor.agent(waiter.talked_with).endpoint,
                         waited_s=round((waiter.answered_at - waiter.entered_at).total_seconds(), 3))
        self.events.publish(QueueStintProgressed(waiter.caller.call_id, stint))

    async def _wait(self, channel: AgiChannel, request: Enqueue, call_id: str, waiter: _Waiter,
                    deadline: datetime) -> QueueLeft:
        callback = request.callback if self._callbacks_allowed(request.queue) else None
        escapes = "".join(sorted(request.exit_keys)) + (callback.key if callback else "") + WAKE_DIGIT
        hold = _WaitingExperience.of(request, self.distributor.queue(request.queue))
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
                number = await self._book_callback(channel, callback.numbers, waiter)
                if number is not None:
                    waiter.callback_number = number
                    waiter.booked = BookedCallback(call_id, waiter.queue_id, number, waiter.entered_at,
                                                   request.priority, dict(request.skills))
                    self.events.publish(CallbackBooked(call_id, waiter.booked))
                    log.info("acd.callback_booked", call=call_id, queue=waiter.queue_id)
                    return QueueLeft("callback_requested")
                await channel.music_on_hold(True, hold.moh_class)

    def queue_status(self, queue_id: str) -> QueueStatus | None:
        """Free agents, callers waiting and the estimated wait of a new caller; None for a queue the ACD does not
        define (then the fallback's) or when nobody can take its calls (no estimate)."""
        if queue_id not in self.distributor.queue_ids():
            return self._fallback.queue_status(queue_id) if self._fallback is not None else None
        estimate = self.distributor.estimated_wait(queue_id, self.clock.now())
        if estimate.seconds is None:
            return None
        return QueueStatus(estimate.free, len(self.distributor.waiting(queue_id)), round(estimate.seconds))

    def _callbacks_allowed(self, queue_id: str) -> bool:
        try:
            return self.distributor.queue(queue_id).callback_allowed
        except AcdError:
            return False

    async def _book_callback(self, channel: AgiChannel, numbers: re.Pattern[str], waiter: _Waiter) -> str | None:
        """Confirm the caller's own number (when it may be called back) or take another; None: not booked."""
        await channel.music_on_hold(False)
        own = waiter.caller.number
        if numbers.fullmatch(own) and DIALED_NUMBER.match(own):
            await channel.play(["to-call-this-number"])
            await channel.say("digits", own.lstrip("+"))
            if await channel.play(["if-correct-press", "digits/1"], "12") == "1" \
                    or await channel.wait_for_digit(5000) == "1":
                await channel.play(["auth-thankyou"])
                return own
        entered = await channel.collect_digits(["vm-enter-num-to-call"], 15, 8000, 3000, "#")
        if entered and numbers.fullmatch(entered) and DIALED_NUMBER.match(entered):
            await channel.play(["auth-thankyou"])
            return entered
        await channel.play(["unidentified-no-callback"])
        return None

    async def _ring(self, channel: AgiChannel, call_id: str, waiter: _Waiter, moh_class: str) -> bool:
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
        dialled = await channel.dial_agent(offer.endpoint, offer.ring_timeout_s, moh_class)
        now = self.clock.now()
        waiter.offer = None
        # Answered when Dial() says so, or when AMI's DialEnd ANSWER was seen (the caller may hang up first,
        # and then DIALSTATUS may be unreadable)
        answered = dialled.status == "ANSWER" or waiter.answered_by == offer.agent_id
        waiter.offers.append({"agent": offer.agent_id, "at": offer.offered_at.isoformat(),
                              "result": "answered" if answered else dialled.status.lower()})
        self._stint_progress(waiter)
        if answered:
            if waiter.answered_by is None:  # DialEnd not seen (AMI down): the answer is known now
                self._answered(call_id, offer.agent_id, now)
            self._conversation_over(waiter, now)
            waiter.caller_hung_up = dialled.caller_hung_up
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

    def _conversation_over(self, waiter: _Waiter, now: datetime) -> None:
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
        pending = self._dialing.setdefault(offer.endpoint, {})
        uniqueid = self._waiters[call_id].caller.uniqueid
        count = pending[uniqueid][0] if uniqueid in pending else 0
        pending[uniqueid] = (count + 1, self.clock.now() + timedelta(seconds=offer.ring_timeout_s + DIAL_END_WAIT_S))
        self._settle_device(offer.endpoint, self.clock.now())
        return True

    def _dial_ended(self, endpoint: str, caller_uniqueid: str) -> None:
        """AMI showed the DialEnd of a Dial() we made from this caller to this device."""
        pending = self._dialing.get(endpoint)
        if pending is None or caller_uniqueid not in pending:
            return  # not ours (e.g. a Queue() in the dialplan rings the same phone)
        count, hold_until = pending[caller_uniqueid]
        if count > 1:
            pending[caller_uniqueid] = (count - 1, hold_until)
            return
        del pending[caller_uniqueid]
        if not pending:
            del self._dialing[endpoint]

    def _drop_overdue_dials(self) -> None:
        """Dial()s whose DialEnd never came (no channel was made) stop holding their device."""
        now = self.clock.now()
        for endpoint, pending in list(self._dialing.items()):
            for caller_uniqueid, (_, hold_until) in list(pending.items()):
                if now >= hold_until:
                    log.warning("acd.dial_end_not_seen", endpoint=endpoint, call=caller_uniqueid)
                    del pending[caller_uniqueid]
            if not pending:
                del self._dialing[endpoint]
                self._settle_device(endpoint, now)

    def _settle_device(self, endpoint: str, now: datetime) -> None:
        """The agent's device is busy while Asterisk has a channel on it (Newchannel without its Hangup, ours or
        a personal call) or a Dial() of ours to it has not shown its end on AMI; it is offered nothing then."""
        agent_id = self._devices.get(endpoint)
        if agent_id is None:
            return
        busy = bool(self._channels.get(endpoint)) or endpoint in self._dialing
        if self.distributor.agent_status(agent_id).device_busy != busy:
            self._carry_out(self.distributor.device_busy(agent_id, busy, now), "device_state")

    def agent_for_device(self, device: str) -> str | None:
        """The agent whose endpoint this device (PJSIP/agent1001) is."""
        return self._devices.get(device)

    def _leave(self, call_id: str, waiter: _Waiter) -> None:
        """The caller's session ends its stint (answered, timed out, exited, hung up or failed)."""
        self._waiters.pop(call_id, None)
        self._call_of_channel.pop(waiter.caller.uniqueid, None)
        now = self.clock.now()
        if waiter.callback_number is not None:  # keeps its place; the callback leg takes it from here
            self._waiters[call_id] = waiter
            return
        if waiter.answered_by is not None:  # the caller hung up during the conversation
            self._conversation_over(waiter, now)
        try:
            self.distributor.call_queue(call_id)
        except AcdError:
            return  # answered: already out of the Distributor
        self._carry_out(self.distributor.call_left(call_id, now), "call_left", call_id)

    async def _announce(self, channel: AgiChannel, queue_id: str, announcements: _WaitingExperience, turn: int,
                        call_id: str, escapes: str) -> str | None:
        """Position, estimated wait and the periodic message; a key (or the wake-up) cuts it short."""
        await channel.music_on_hold(False)
        try:
            estimate = self.distributor.estimated_wait(queue_id, self.clock.now(), call_id)
        except AcdError:
            return None
        log.info("acd.announced", call=call_id, position=estimate.position,
                 estimated_wait_s=None if estimate.seconds is None else round(estimate.seconds))
        if announcements.position:
            digit = await channel.play(["queue-youarenext"] if estimate.position == 1 else ["queue-thereare"],
                                       escapes)
            if digit is None and estimate.position > 1:
                await channel.say("number", str(estimate.position - 1))
                digit = await channel.play(["queue-callswaiting"], escapes)
            if digit is not None:
                return digit
        if announcements.estimated_wait and estimate.seconds is not None:
            minutes = max(1, round(estimate.seconds / 60))
            digit = await channel.play(["queue-holdtime"], escapes)
            if digit is None:
                await channel.say("number", str(minutes))
                digit = await channel.play(["queue-minute" if minutes == 1 else "queue-minutes"], escapes)
            if digit is not None:
                return digit
        if not announcements.messages:
            return None
        return await channel.play(list(announcements.messages[turn % len(announcements.messages)]), escapes)

    async def run_callback_leg(self, channel: AgiChannel, call_id: str, device: str) -> CallbackLeg:
        """The agent answered a booked callback (this AGI session is the agent's channel): call the customer
        and connect them; the outcome is connected, customer_busy, customer_noanswer, ..., or stale."""
        waiter = self._waiters.get(call_id)
        offer = waiter.offer if waiter is not None else None
        agent_id = self._devices.get(device)
        if waiter is None or waiter.callback_number is None or offer is None or offer.agent_id != agent_id:
            log.warning("acd.callback_stale", call=call_id, device=device[:64])
            return CallbackLeg("stale", call_id, agent_id, None)  # the offer expired or went to someone else
        now = self.clock.now()
        self._carry_out(self.distributor.offer_answered(call_id, offer.agent_id, now), "offer_answered")
        self.events.publish(AgentAnswered(call_id, offer.agent_id, offer.queue_id, now))
        waiter.offer, waiter.answered_by = None, offer.agent_id
        self._waiters.pop(call_id, None)
        if waiter.booked is not None:  # taken: whatever happens now, it is not booked any more
            self.events.publish(CallbackDone(call_id, waiter.booked))
        outcome = "failed"
        try:
            await channel.answer()
            await channel.play(["pls-hold-while-try"])
            status = await channel.transfer("number", waiter.callback_number, 45)
            outcome = "connected" if status == "ANSWER" else f"customer_{status.lower()}"
            return CallbackLeg(outcome, call_id, offer.agent_id, waiter.callback_number)
        finally:
            log.info("acd.callback_ended", call=call_id, agent=offer.agent_id, outcome=outcome,
                     waited_s=round((self.clock.now() - waiter.entered_at).total_seconds(), 3))
            self._conversation_over(waiter, self.clock.now())

    # ------------------------------------------------------------------ events from AMI

    def apply(self, event: DialEnded | DeviceStateChanged) -> None:
        now = event.at
        if isinstance(event, DialEnded):
            call_id = self._call_of_channel.get(event.caller_uniqueid)
            waiter = self._waiters.get(call_id) if call_id is not None else None
            offer = waiter.offer if waiter is not None else None
            if call_id is not None and waiter is not None and offer is not None and event.status == "ANSWER":
                self._answered(call_id, offer.agent_id, now)
            endpoint = device_of(event.callee_channel)
            self._dial_ended(endpoint, event.caller_uniqueid)
            self._settle_device(endpoint, now)
            return
        agent_id = self._devices.get(event.device)
        if agent_id is None:
            return
        self._carry_out(self.distributor.device_reachable(agent_id, event.state not in UNREACHABLE, now),
                        "device_state")

    def channels_resynced(self, snapshot: ChannelsSnapshot) -> None:
        """After an AMI outage: the agent devices' channels are what Asterisk lists now (a Hangup missed while
        AMI was down must not leave an agent busy for ever)."""
        live: dict[str, set[str]] = {}
        for channel in snapshot.channels:
            live.setdefault(device_of(channel), set()).add(channel)
        for endpoint in list(self._devices):
            self._channels[endpoint] = live.get(endpoint, set())
            self._settle_device(endpoint, snapshot.at)

    def channel_changed(self, event: ChannelCreated | ChannelHungUp) -> None:
        """Count each agent device's channels: any channel (the ACD's call, a personal call, or the previous
        call's channel not yet gone) makes the device busy; it is free when its last channel is gone."""
        endpoint = device_of(event.channel)
        if endpoint not in self._devices:
            return
        channels = self._channels.setdefault(endpoint, set())
        if isinstance(event, ChannelCreated):
            channels.add(event.channel)
        else:
            channels.discard(event.channel)
        self._settle_device(endpoint, event.at)

    def _answered(self, call_id: str, agent_id: str, now: datetime) -> None:
        waiter = self._waiters.get(call_id)
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

    # ------------------------------------------------------------------ agent operations (API, phone)

    def login(self, agent_id: str) -> Outcome:
        return self._carry_out(self.distributor.login(agent_id, self.clock.now()), "login")

    def logout(self, agent_id: str) -> Outcome:
        return self._carry_out(self.distributor.logout(agent_id, self.clock.now()), "logout")

    def pause(self, agent_id: str, reason: str) -> Outcome:
        return self._carry_out(self.distributor.pause(agent_id, reason, self.clock.now()), "pause")

    def resume(self, agent_id: str) -> Outcome:
        return self._carry_out(self.distributor.resume(agent_id, self.clock.now()), "resume")

    # ------------------------------------------------------------------ carrying decisions out

    def _carry_out(self, outcome: Outcome, why: str, call_id: str | None = None) -> Outcome:
        """Log and carry out a decision; `call_id`: a call it queued or removed without naming it (for the feed)."""
        if outcome.transitions:
            for transition in outcome.transitions:
                log.info("agent.state", agent=transition.agent_id, from_state=transition.from_state.value,
                         to_state=transition.to_state.value, cause=transition.cause.value,
                         reason=transition.reason, call=transition.call_id)
                self.events.publish(AgentStateChanged(transition))
        for offer in outcome.offers:
            waiter = self._waiters.get(offer.call_id)
            if waiter is None:  # cannot happen: a call is in the Distributor only while its session waits
                log.error("acd.offer_without_caller", call=offer.call_id, agent=offer.agent_id)
                continue
            waiter.offer = offer
            self.events.publish(AgentOffered(offer.call_id, offer.agent_id, offer.queue_id, offer.offered_at))
            if waiter.callback_number is not None:
                self._to_call_back.put_nowait(offer)
            else:
                self._to_wake.put_nowait(waiter.caller.channel)
            log.info("acd.offer", call=offer.call_id, agent=offer.agent_id, queue=offer.queue_id, why=why)
        for timed_out in outcome.timed_out:
            waiter = self._waiters.get(timed_out.call_id)
            if waiter is not None and waiter.callback_number is not None:
                self._waiters.pop(timed_out.call_id, None)
                log.warning("acd.callback_expired", call=timed_out.call_id, queue=timed_out.queue_id)
                if waiter.booked is not None:
                    self.events.publish(CallbackDone(timed_out.call_id, waiter.booked))
            elif waiter is not None:
                waiter.timed_out = True
                self._to_wake.put_nowait(waiter.caller.channel)
        for moved in outcome.overflowed:
            log.info("acd.overflow", call=moved.call_id, from_queue=moved.from_queue, to_queue=moved.to_queue)
            waiter = self._waiters.get(moved.call_id)
            if waiter is not None:
                waiter.queue_id = moved.to_queue
        for withdrawn in outcome.withdrawn:
            log.info("acd.offer_withdrawn", call=withdrawn.call_id, agent=withdrawn.agent_id)
            waiter = self._waiters.get(withdrawn.call_id)
            if waiter is not None and waiter.offer == withdrawn:  # expired: a late wake must not ring that agent
                waiter.offer = None
        self._timers_changed.set()
        self._publish(outcome, call_id)
        return outcome

    # ------------------------------------------------------------------ configuration changes (admin API)

    def define_agent(self, agent: Agent) -> None:
        """Add or replace one agent live (state kept); its old endpoint stops speaking for it."""
        for endpoint, agent_id in list(self._devices.items()):
            if agent_id == agent.id and endpoint != agent.endpoint:
                del self._devices[endpoint]
        self.configure((), (agent,))
        self._send(self._agent_change(agent.id, None))

    def define_queue(self, queue: Queue) -> None:
        """Add or replace one queue live; its waiting calls are re-routed under the new rules."""
        self.configure((queue,), ())
        self._send(self._queue_change(queue.id))

    def remove_agent(self, agent_id: str) -> None:
        """Forget a logged-out agent (UnknownAgent, AgentStillLoggedIn otherwise)."""
        self.distributor.remove_agent(agent_id)
        for endpoint, owner in list(self._devices.items()):
            if owner == agent_id:
                del self._devices[endpoint]
        self._send(Removed("agent", agent_id))

    def remove_queue(self, queue_id: str) -> None:
        """Forget a queue (UnknownQueue; QueueNotEmpty while calls are in it; QueueIsOverflowTarget)."""
        self.distributor.remove_queue(queue_id)
        self._send(Removed("queue", queue_id))

    # ------------------------------------------------------------------ change feed (API WebSocket)

    def subscribe(self, limit: int = FEED_LIMIT) -> Feed:
        """A new feed of changes; one that falls `limit` changes behind is cut off, never slowing the desk."""
        hub = self._hub()
        if not hub.feeds:
            hub.calls = self._calls_now(hub.calls)
        feed = Feed(limit)
        hub.feeds[feed] = None
        return feed

    def unsubscribe(self, feed: Feed) -> None:
        self._hub().feeds.pop(feed, None)
        feed.end()

    def close_feeds(self) -> None:
        """End every feed (service shutdown)."""
        for feed in list(self._hub().feeds):
            self.unsubscribe(feed)

    def _hub(self) -> _FeedHub:
        hub = self.__dict__.get("_feed_hub")
        if hub is None:  # made on first use: the desk works the same with no feed ever subscribed
            hub = self.__dict__["_feed_hub"] = _FeedHub()
        return hub

    def _publish(self, outcome: Outcome, call_id: str | None = None) -> None:
        """_carry_out's hook: each agent transition, then each queue whose calls changed, to every feed. Only the
        calls the decision names are looked at, so a decision costs the same however many callers wait."""
        hub = self._hub()
        if not hub.feeds:
            return
        for transition in outcome.transitions:
            self._send(self._agent_change(transition.agent_id, transition))
        named = {*(o.call_id for o in outcome.offers), *(o.call_id for o in outcome.withdrawn),
                 *(t.call_id for t in outcome.timed_out), *(m.call_id for m in outcome.overflowed),
                 *(t.call_id for t in outcome.transitions if t.call_id is not None)}
        if call_id is not None:
            named.add(call_id)
        queues: set[str] = set()
        for changed, now_at in self._calls_now(named, only=True).items():
            was_at = hub.calls.get(changed)
            if was_at == now_at:
                continue
            queues.update(where[0] for where in (was_at, now_at) if where is not None)
            if now_at is None:
                hub.calls.pop(changed, None)
            else:
                hub.calls[changed] = now_at
        for queue_id in sorted(queues):
            if queue_id in self.distributor.queue_ids():
                self._send(self._queue_change(queue_id))

    def _calls_now(self, known: Iterable[str], only: bool = False) -> dict[str, tuple[str, str | None] | None]:
        """(queue, agent ringing or None) of each call in the Distributor among the waiting callers and `known`
        (`only`: among `known` alone, with None for a call no longer in it)."""
        calls: dict[str, tuple[str, str | None] | None] = {}
        for call_id in (set(known) if only else {*self._waiters, *known}):
            try:
                queue_id = self.distributor.call_queue(call_id)
                offer = self.distributor.offer_of(call_id)
            except AcdError:
                if only:
                    calls[call_id] = None
                continue  # answered or gone
            calls[call_id] = (queue_id, offer.agent_id if offer is not None else None)
        return calls

    def _agent_change(self, agent_id: str, transition: Transition | None) -> AgentChange:
        calls, talk_s = self.distributor.agent_stats(agent_id)
        return AgentChange(transition, self.distributor.agent_status(agent_id), calls, talk_s)

    def _queue_change(self, queue_id: str) -> QueueChange:
        now = self.clock.now()
        return QueueChange(queue_id, now, tuple(self.distributor.waiting_calls(queue_id)),
                           self.distributor.estimated_wait(queue_id, now), self.distributor.logged_in(queue_id))

    def _send(self, change: Change) -> None:
        hub = self._hub()
        for feed in list(hub.feeds):
            if not feed.put(change):
                del hub.feeds[feed]
                log.warning("acd.feed_cut_off", behind=feed.limit)


# ---------------------------------------------------------------- the change feed


@dataclass(frozen=True)
class AgentChange:
    """An agent as it is after `transition` (None: its definition changed)."""

    transition: Transition | None
    status: AgentStatus
    calls_today: int
    talk_s_today: float


@dataclass(frozen=True)
class QueueChange:
    """A queue's calls after a change (queued, offered, answered, left, moved, timed out) or a new definition."""

    queue_id: str
    at: datetime
    calls: tuple[tuple[Call, datetime, str | None], ...]  # (call, entered the queue, agent ringing or None)
    estimate: Estimate
    logged_in: int


@dataclass(frozen=True)
class Removed:
    """An agent or a queue removed from the configuration."""

    kind: str  # "agent" or "queue"
    id: str


Change = AgentChange | QueueChange | Removed


class Feed:
    """One subscriber's bounded queue of changes. `get()` returns None once the feed ended: unsubscribed, or
    cut off (`cut_off`) for falling `limit` changes behind."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.cut_off = False
        self._changes: asyncio.Queue[Change | None] = asyncio.Queue()
        self._ended = False

    def put(self, change: Change) -> bool:
        """Queue a change without waiting; False (and the feed ended) when it is `limit` behind."""
        if self._ended:
            return False
        if self._changes.qsize() >= self.limit:
            self.cut_off = True
            while not self._changes.empty():  # the backlog is dropped: the subscriber is told to reconnect
                self._changes.get_nowait()
            self.end()
            return False
        self._changes.put_nowait(change)
        return True

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._changes.put_nowait(None)

    async def get(self) -> Change | None:
        if self._ended and self._changes.empty():
            return None
        return await self._changes.get()


@dataclass
class _FeedHub:
    feeds: dict[Feed, None] = field(default_factory=dict)
    calls: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # as the feeds last saw them
