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
    ChannelHungUp,
    ChannelsSnapshot,
    DeviceStateChanged,
    DialEnded,
)
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.call_lifecycle import CallLifecycle
from callcontrol.services.recording_recovery import OpenRecordingRecovery
from callcontrol.services.transfers import TransferDesk

log = structlog.get_logger(__name__)

Message = TypeVar("Message")
Handler = Callable[[Any], Awaitable[None] | None]


def ami_routes(lifecycle: CallLifecycle, acd: AcdDesk, recordings: OpenRecordingRecovery | None = None,
               transfers: TransferDesk | None = None) -> dict[type, tuple[Handler, ...]]:
    """Who hears each AMI event, in this order (`recordings`: the previous run's open recordings, after a resync;
    `transfers`: blind transfers seen, for the caller's transfer leg)."""
    calls = lifecycle.calls
    recovery: dict[type, tuple[Handler, ...]] = {
        ChannelHungUp: (recordings.channel_hung_up,), ChannelsSnapshot: (recordings.channels_resynced,),
    } if recordings is not None else {}

    async def resync_calls(snapshot: ChannelsSnapshot) -> None:  # calls it finds gone take their end from the log
        calls.apply(snapshot, await lifecycle.hangups_of(calls.gone_in(snapshot)))

    transfer_routes: dict[type, tuple[Handler, ...]] = {
        BlindTransferSeen: (transfers.transfer_seen,), ChannelHungUp: (transfers.channel_hung_up,),
    } if transfers is not None else {}
    return {
        **({BlindTransferSeen: transfer_routes[BlindTransferSeen]} if transfers is not None else {}),
        DialEnded: (acd.apply,),
        DeviceStateChanged: (acd.apply,),
        ChannelCreated: (acd.channel_changed,),
        ChannelAnswered: (calls.apply,),
        ChannelHangupRequested: (calls.apply,),
        ChannelHungUp: (calls.apply, acd.channel_changed, *recovery.get(ChannelHungUp, ()),
                        *transfer_routes.get(ChannelHungUp, ())),
        ChannelsSnapshot: (resync_calls, acd.channels_resynced, *recovery.get(ChannelsSnapshot, ())),
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
