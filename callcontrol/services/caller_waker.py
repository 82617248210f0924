"""Wakes the callers the Distributor offered a call: AMI PlayDTMF of WAKE_DIGIT on their channel, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import structlog

from callcontrol.core.acd.errors import AcdError
from callcontrol.core.acd.outcomes import Outcome
from callcontrol.core.acd.router import Distributor
from callcontrol.services.ports import CallerHungUp, Clock, PbxActions
from callcontrol.services.queue_waiter import Waiter

log = structlog.get_logger(__name__)


class CallerWaker:
    """Wakes the callers offered a call (AMI PlayDTMF of WAKE_DIGIT on their channel), one at a time, in order;
    a caller found gone ends its offer at once."""

    def __init__(self, pbx: PbxActions, waiters: Mapping[str, Waiter], distributor: Distributor, clock: Clock,
                 carry_out: Callable[..., Outcome]) -> None:
        self._pbx = pbx
        self._waiters = waiters
        self.distributor = distributor
        self.clock = clock
        self._carry_out = carry_out
        self._to_wake: asyncio.Queue[str] = asyncio.Queue()

    def wake(self, channel: str) -> None:
        self._to_wake.put_nowait(channel)

    async def run(self) -> None:
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
