"""The ACD at work: one `Distributor` (callcontrol/core/acd) decides; this desk carries its decisions out.

The desk is thin; each job has its module:
- acd_queue_wait: a caller's wait in a queue inside its AGI session (announcements, ringing the agent, the stint);
- agent_devices: which agent each device is and the channels on it (AMI), read to know a device busy;
- acd_callbacks: booked callbacks (the agent's ring, the callback leg, restore after a restart);
- acd_feed: the live feed of changes (the API's WebSocket), a bus subscriber.
The desk carries out the Distributor's outcomes (offers, timeouts, overflows, withdrawals), runs the timers
(escalation, wrap-up end, expired offers) in one task it owns, and takes the agent operations and the
configuration changes of the API and the phones. Its domain events go on the event bus.

Every Distributor call happens on the event loop without an await in between, so decisions are serialized:
no agent can be offered two calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime

import structlog

from callcontrol.core.acd.agent_states import AgentState
from callcontrol.core.acd.model import Agent, BookedCallback, Queue
from callcontrol.core.acd.router import Distributor, Outcome
from callcontrol.core.domain_events import AgentOffered, AgentStateChanged, CallbackDone, QueueCallsChanged
from callcontrol.core.events import (
    ChannelCreated,
    ChannelHungUp,
    ChannelsSnapshot,
    DeviceStateChanged,
    DialEnded,
    device_of,
)
from callcontrol.core.ivr import Enqueue, QueueLeft, QueueStatus
from callcontrol.services.acd_callbacks import CallbackLeg, Callbacks
from callcontrol.services.acd_feed import FEED_LIMIT, Feed, LiveFeed
from callcontrol.services.acd_queue_wait import QueueWaits
from callcontrol.services.acd_view import AcdView
from callcontrol.services.agent_devices import AgentDevices
from callcontrol.services.caller_waker import CallerWaker
from callcontrol.services.event_bus import EventBus
from callcontrol.services.ports import AgiChannel, CallerRef, Clock, PbxActions, QueueDesk

log = structlog.get_logger(__name__)

MAX_TIMER_SLEEP_S = 1.0  # the timer task re-reads next_due_at() at least this often
UNREACHABLE = frozenset({"UNAVAILABLE", "INVALID"})


class AcdDesk:
    """The QueueDesk port backed by the ACD, plus the agent operations the API and the phone use."""

    def __init__(self, queues: Iterable[Queue], agents: Iterable[Agent], pbx: PbxActions, clock: Clock, *,
                 events: EventBus | None = None, max_misses: int | None = 3, busy_retry_s: float = 5.0,
                 fallback: QueueDesk | None = None) -> None:
        """`events`: where the desk publishes its domain events (stints, callbacks, agent states, offers);
        `fallback`: where callers of a queue the ACD does not define go (e.g. the dialplan's queues)."""
        agents = list(agents)
        self.distributor = Distributor(queues, agents, max_misses=max_misses, refused_rest_s=busy_retry_s)
        self.clock = clock
        self.events = events if events is not None else EventBus()
        self._timers_changed = asyncio.Event()
        self.devices = AgentDevices()
        for agent in agents:
            self.devices.assign(agent.endpoint, agent.id)
        self.waits = QueueWaits(self.distributor, clock, self.events, self.devices, self._carry_out,
                                self._settle_device, fallback)
        self.waker = CallerWaker(pbx, self.waits.waiters, self.distributor, clock, self._carry_out)
        self.callbacks = Callbacks(self.waits, self.devices, pbx, self._carry_out)
        self.feed = LiveFeed(self.distributor, clock, self.waits.waiters)
        self.view = AcdView(self.distributor, clock)  # what the HTTP API reads
        self.events.subscribe("live-feed", self.feed.on_event, AgentStateChanged, QueueCallsChanged, inline=True)

    def configure(self, queues: Iterable[Queue], agents: Iterable[Agent]) -> None:
        """Add or update queues and agents (from the database at start); their states are kept."""
        now = self.clock.now()
        self._carry_out(self.distributor.set_queues(queues, now), "configure")
        for agent in agents:
            self._carry_out(self.distributor.set_agent(agent, now), "configure")
            self.devices.assign(agent.endpoint, agent.id)

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

    def restore_callbacks(self, callbacks: Iterable[BookedCallback]) -> None:
        """After a restart: booked callbacks take their places again (by their original arrival)."""
        self.callbacks.restore(callbacks)

    # ------------------------------------------------------------------ tasks owned by the service

    async def run(self) -> None:
        """The desk's loops: timers (escalations, wrap-up ends, expired offers), waking callers, ringing callbacks."""
        await asyncio.gather(self._run_timers(), self.waker.run(), self.callbacks.run())

    async def _run_timers(self) -> None:
        while True:
            if self.devices.dialing:
                now = self.clock.now()
                for endpoint in self.devices.drop_overdue_dials(now):
                    self._settle_device(endpoint, now)
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

    # ------------------------------------------------------------------ the QueueDesk port, the callback leg

    async def wait_in_queue(self, channel: AgiChannel, request: Enqueue, caller: CallerRef) -> QueueLeft:
        """Queue the caller and keep them until answered (and the conversation over), timed out, or gone."""
        return await self.waits.wait_in_queue(channel, request, caller)

    def queue_status(self, queue_id: str) -> QueueStatus | None:
        return self.waits.queue_status(queue_id)

    async def run_callback_leg(self, channel: AgiChannel, call_id: str, device: str) -> CallbackLeg:
        return await self.callbacks.run_callback_leg(channel, call_id, device)

    def agent_for_device(self, device: str) -> str | None:
        """The agent whose endpoint this device (PJSIP/agent1001) is."""
        return self.devices.agent_for_device(device)

    # ------------------------------------------------------------------ events from AMI

    def apply(self, event: DialEnded | DeviceStateChanged) -> None:
        now = event.at
        if isinstance(event, DialEnded):
            self.waits.dial_ended(event)
            endpoint = device_of(event.callee_channel)
            self.devices.dial_ended(endpoint, event.caller_uniqueid)
            self._settle_device(endpoint, now)
            return
        agent_id = self.devices.agent_for_device(event.device)
        if agent_id is None:
            return
        self._carry_out(self.distributor.device_reachable(agent_id, event.state not in UNREACHABLE, now),
                        "device_state")

    def channels_resynced(self, snapshot: ChannelsSnapshot) -> None:
        """After an AMI outage: the agent devices' channels are what Asterisk lists now (a Hangup missed while
        AMI was down must not leave an agent busy for ever)."""
        for endpoint in self.devices.resync(snapshot.channels):
            self._settle_device(endpoint, snapshot.at)

    def channel_changed(self, event: ChannelCreated | ChannelHungUp) -> None:
        """Count each agent device's channels: any channel (the ACD's call, a personal call, or the previous
        call's channel not yet gone) makes the device busy; it is free when its last channel is gone."""
        endpoint = self.devices.channel_changed(event.channel, isinstance(event, ChannelCreated))
        if endpoint is not None:
            self._settle_device(endpoint, event.at)

    def _settle_device(self, endpoint: str, now: datetime) -> None:
        """The agent's device is busy while Asterisk has a channel on it or a Dial() of ours to it has not shown
        its end on AMI (AgentDevices.busy); it is offered nothing then."""
        agent_id = self.devices.agent_for_device(endpoint)
        if agent_id is None:
            return
        busy = self.devices.busy(endpoint)
        if self.distributor.agent_status(agent_id).device_busy != busy:
            self._carry_out(self.distributor.device_busy(agent_id, busy, now), "device_state")

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
            waiter = self.waits.waiters.get(offer.call_id)
            if waiter is None:  # cannot happen: a call is in the Distributor only while its session waits
                log.error("acd.offer_without_caller", call=offer.call_id, agent=offer.agent_id)
                continue
            waiter.offer = offer
            self.events.publish(AgentOffered(offer.call_id, offer.agent_id, offer.queue_id, offer.offered_at))
            if waiter.callback_number is not None:
                self.callbacks.ring(offer)
            else:
                self.waker.wake(waiter.caller.channel)
            log.info("acd.offer", call=offer.call_id, agent=offer.agent_id, queue=offer.queue_id, why=why)
        for timed_out in outcome.timed_out:
            waiter = self.waits.waiters.get(timed_out.call_id)
            if waiter is not None and waiter.callback_number is not None:
                self.waits.waiters.pop(timed_out.call_id, None)
                log.warning("acd.callback_expired", call=timed_out.call_id, queue=timed_out.queue_id)
                if waiter.booked is not None:
                    self.events.publish(CallbackDone(timed_out.call_id, waiter.booked))
            elif waiter is not None:
                waiter.timed_out = True
                self.waker.wake(waiter.caller.channel)
        for moved in outcome.overflowed:
            log.info("acd.overflow", call=moved.call_id, from_queue=moved.from_queue, to_queue=moved.to_queue)
            waiter = self.waits.waiters.get(moved.call_id)
            if waiter is not None:
                waiter.queue_id = moved.to_queue
        for withdrawn in outcome.withdrawn:
            log.info("acd.offer_withdrawn", call=withdrawn.call_id, agent=withdrawn.agent_id)
            waiter = self.waits.waiters.get(withdrawn.call_id)
            if waiter is not None and waiter.offer == withdrawn:  # expired: a late wake must not ring that agent
                waiter.offer = None
        self._timers_changed.set()
        named = {*(o.call_id for o in outcome.offers), *(o.call_id for o in outcome.withdrawn),
                 *(t.call_id for t in outcome.timed_out), *(m.call_id for m in outcome.overflowed),
                 *(t.call_id for t in outcome.transitions if t.call_id is not None)}
        if call_id is not None:
            named.add(call_id)
        if named:
            self.events.publish(QueueCallsChanged(frozenset(named)))
        return outcome

    # ------------------------------------------------------------------ configuration changes (admin API)

    def define_agent(self, agent: Agent) -> None:
        """Add or replace one agent live (state kept); its old endpoint stops speaking for it."""
        self.devices.forget(agent.id, keep=agent.endpoint)
        self.configure((), (agent,))
        self.feed.agent_defined(agent.id)

    def define_queue(self, queue: Queue) -> None:
        """Add or replace one queue live; its waiting calls are re-routed under the new rules."""
        self.configure((queue,), ())
        self.feed.queue_defined(queue.id)

    def remove_agent(self, agent_id: str) -> None:
        """Forget a logged-out agent (UnknownAgent, AgentStillLoggedIn otherwise)."""
        self.distributor.remove_agent(agent_id)
        self.devices.forget(agent_id)
        self.feed.removed("agent", agent_id)

    def remove_queue(self, queue_id: str) -> None:
        """Forget a queue (UnknownQueue; QueueNotEmpty while calls are in it; QueueIsOverflowTarget)."""
        self.distributor.remove_queue(queue_id)
        self.feed.removed("queue", queue_id)

    # ------------------------------------------------------------------ change feed (API WebSocket)

    def subscribe(self, limit: int = FEED_LIMIT) -> Feed:
        """A new feed of changes; one that falls `limit` changes behind is cut off, never slowing the desk."""
        return self.feed.subscribe(limit)

    def unsubscribe(self, feed: Feed) -> None:
        self.feed.unsubscribe(feed)

    def close_feeds(self) -> None:
        """End every feed (service shutdown)."""
        self.feed.close_feeds()
