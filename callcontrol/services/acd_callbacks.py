"""Booked callbacks: the agent's ring, the callback leg that calls the customer, and their return after a restart.

The caller who booked one hung up and keeps its place; its offer rings the agent (AMI), whose answer arrives as
the `callback` AGI session that calls the customer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from callcontrol.core.acd.errors import AcdError
from callcontrol.core.acd.model import BookedCallback, Call
from callcontrol.core.acd.outcomes import Offer
from callcontrol.core.domain_events import AgentAnswered, AgentMissed, CallbackDone
from callcontrol.services.acd_queue_wait import CarryOut, QueueWaits
from callcontrol.services.queue_waiter import Waiter
from callcontrol.services.agent_devices import AgentDevices
from callcontrol.services.ports import AgiChannel, CallerRef, PbxActions

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CallbackLeg:
    """How a callback went: its outcome, the call that booked it, the agent and the number called."""

    outcome: str
    booked_by: str
    agent: str | None
    number: str | None


class Callbacks:
    """The booked callbacks among the queues' waiting calls (QueueWaits holds them as waiters with a number)."""

    def __init__(self, waits: QueueWaits, devices: AgentDevices, pbx: PbxActions, carry_out: CarryOut) -> None:
        self._waits = waits
        self.distributor = waits.distributor
        self.clock = waits.clock
        self.events = waits.events
        self._devices = devices
        self._pbx = pbx
        self._carry_out = carry_out
        self._to_call_back: asyncio.Queue[Offer] = asyncio.Queue()

    def ring(self, offer: Offer) -> None:
        """The Distributor offered a booked callback: ring its agent (from run())."""
        self._to_call_back.put_nowait(offer)

    def restore(self, callbacks: Iterable[BookedCallback]) -> None:
        """After a restart: booked callbacks take their places again (by their original arrival)."""
        now = self.clock.now()
        for booked in callbacks:
            waiter = Waiter(CallerRef(booked.call_id, "", "", ""), booked.queue_id, booked.arrived_at,
                            callback_number=booked.number, booked=booked)
            self._waits.waiters[booked.call_id] = waiter
            try:
                self._carry_out(self.distributor.call_arrived(
                    Call(booked.call_id, booked.queue_id, arrived_at=booked.arrived_at, priority=booked.priority,
                         skills=dict(booked.skills)), now), "callback_restored", booked.call_id)
            except AcdError as exc:  # the queue is gone or full: the callback cannot be kept
                self._waits.waiters.pop(booked.call_id, None)
                self.events.publish(CallbackDone(booked.call_id, booked))
                log.warning("acd.callback_dropped", call=booked.call_id, queue=booked.queue_id, rule=exc.rule)
                continue
            log.info("acd.callback_restored", call=booked.call_id, queue=booked.queue_id)

    async def run(self) -> None:
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

    async def run_callback_leg(self, channel: AgiChannel, call_id: str, device: str) -> CallbackLeg:
        """The agent answered a booked callback (this AGI session is the agent's channel): call the customer
        and connect them; the outcome is connected, customer_busy, customer_noanswer, ..., or stale."""
        waiter = self._waits.waiters.get(call_id)
        offer = waiter.offer if waiter is not None else None
        agent_id = self._devices.agent_for_device(device)
        if waiter is None or waiter.callback_number is None or offer is None or offer.agent_id != agent_id:
            log.warning("acd.callback_stale", call=call_id, device=device[:64])
            return CallbackLeg("stale", call_id, agent_id, None)  # the offer expired or went to someone else
        now = self.clock.now()
        self._carry_out(self.distributor.offer_answered(call_id, offer.agent_id, now), "offer_answered")
        self.events.publish(AgentAnswered(call_id, offer.agent_id, offer.queue_id, now))
        waiter.offer, waiter.answered_by = None, offer.agent_id
        self._waits.waiters.pop(call_id, None)
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
            self._waits.conversation_over(waiter, self.clock.now())
