"""The AMI event subscriptions: one table of event type -> handlers, and its single consumer, in order."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import structlog

from callcontrol.core.events import (
    BlindTransferSeen,
    ChannelAnswered,
    ChannelCreated,
    ChannelHangupRequested,
    ChannelHoldChanged,
    ChannelHungUp,
    ChannelsSnapshot,
    DeviceStateChanged,
    DialEnded,
    KeyReceived,
    OriginateFailed,
    SpyStarted,
    SpyStopped,
)
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.agent_calls import AgentCallTracker
from callcontrol.services.agent_legs import AgentLegHolds
from callcontrol.services.call_lifecycle import CallLifecycle
from callcontrol.services.recording_recovery import OpenRecordingRecovery
from callcontrol.services.supervision import Supervision
from callcontrol.services.transfers import TransferDesk

log = structlog.get_logger(__name__)

Message = TypeVar("Message")
Handler = Callable[[Any], Awaitable[None] | None]


def ami_routes(lifecycle: CallLifecycle, acd: AcdDesk, recordings: OpenRecordingRecovery | None = None,
               agent_calls: AgentCallTracker | None = None, supervision: Supervision | None = None,
               holds: AgentLegHolds | None = None, transfers: TransferDesk | None = None
               ) -> dict[type, tuple[Handler, ...]]:
    """Who hears each AMI event, in this order (`recordings`: the previous run's open recordings, after a resync;
    `agent_calls` and `supervision`: the agents' channels in conversation and the sessions spying on them; `holds`:
    the phones' Hold/Unhold, for the agent legs' hold spans; `transfers`: blind transfers seen, for the caller's
    transfer leg)."""
    calls = lifecycle.calls
    recovery: dict[type, tuple[Handler, ...]] = {
        ChannelHungUp: (recordings.channel_hung_up,), ChannelsSnapshot: (recordings.channels_resynced,),
    } if recordings is not None else {}
    tracked: dict[type, tuple[Handler, ...]] = {
        DialEnded: (agent_calls.dial_ended,), ChannelHungUp: (agent_calls.channel_hung_up,),
        ChannelsSnapshot: (agent_calls.channels_resynced,),
    } if agent_calls is not None else {}
    supervised: dict[type, tuple[Handler, ...]] = {
        ChannelAnswered: (supervision.channel_answered,), ChannelHungUp: (supervision.channel_hung_up,),
        ChannelsSnapshot: (supervision.channels_resynced,), SpyStarted: (supervision.spy_started,),
        SpyStopped: (supervision.spy_stopped,), KeyReceived: (supervision.key_received,),
        OriginateFailed: (supervision.originate_failed,),
    } if supervision is not None else {}

    def also(event_type: type) -> tuple[Handler, ...]:
        return (*recovery.get(event_type, ()), *tracked.get(event_type, ()), *supervised.get(event_type, ()))

    async def resync_calls(snapshot: ChannelsSnapshot) -> None:  # calls it finds gone take their end from the log
        calls.apply(snapshot, await lifecycle.hangups_of(calls.gone_in(snapshot)))

    transfer_routes: dict[type, tuple[Handler, ...]] = {
        BlindTransferSeen: (transfers.transfer_seen,), ChannelHungUp: (transfers.channel_hung_up,),
    } if transfers is not None else {}
    return {
        **({BlindTransferSeen: transfer_routes[BlindTransferSeen]} if transfers is not None else {}),
        DialEnded: (acd.apply, *also(DialEnded)),
        DeviceStateChanged: (acd.apply,),
        ChannelCreated: (acd.channel_changed,),
        ChannelAnswered: (calls.apply, *also(ChannelAnswered)),
        ChannelHangupRequested: (calls.apply,),
        # the agent-call tracker before supervision: a session whose target is gone knows it at its own Hangup
        ChannelHungUp: (calls.apply, acd.channel_changed, *also(ChannelHungUp),
                        *transfer_routes.get(ChannelHungUp, ())),
        ChannelsSnapshot: (resync_calls, acd.channels_resynced, *also(ChannelsSnapshot)),
        **{event_type: also(event_type) for event_type in (SpyStarted, SpyStopped, KeyReceived, OriginateFailed)},
        **({ChannelHoldChanged: (holds.channel_hold_changed,)} if holds is not None else {}),
    }


class AmiRouting:
    """The single consumer of AMI events: each one to its handlers, in order; one bad event (or one failing
    handler) never stops the rest."""

    def __init__(self, routes: Mapping[type, Sequence[Handler]]) -> None:
        self._routes = routes

    async def route(self, event: object) -> None:
        for handler in self._routes.get(type(event), ()):
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("ami.event_failed", ami_event=type(event).__name__)

    async def consume(self, messages: asyncio.Queue[Message], translate: Callable[[Message], object | None]) -> None:
        """Route every message `translate` makes an event of, until cancelled."""
        while True:
            message = await messages.get()
            try:
                event = translate(message)
            except Exception:
                log.exception("ami.event_failed", ami_event=getattr(message, "get", lambda *_: "?")("Event"))
                continue
            if event is not None:
                await self.route(event)
