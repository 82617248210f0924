"""Hold spans of the agent legs: AMI's Hold/Unhold of a call's channels become CallHoldChanged, the legs' spans.

A phone that puts its call on hold (PJSIP re-INVITE a=sendonly or inactive) makes Asterisk raise Hold on that
phone's channel, Unhold when it takes the call back; the channel's linkedid is the call key. The agent's phone
(the device of the call's open agent leg) holding is party "agent", the caller's own channel "caller"; any other
channel of the call is not followed here. Every CallHoldChanged on the bus, whoever published it (this, or the
hold API), with party "agent" opens or closes a hold span of the call's open agent leg (CallLog.hold_changed).
"""

from __future__ import annotations

import structlog

from callcontrol.core.domain_events import CallHoldChanged
from callcontrol.core.events import ChannelHoldChanged, device_of
from callcontrol.services.call_log import CallLog
from callcontrol.services.event_bus import EventBus

log = structlog.get_logger(__name__)

AGENT = "agent"
CALLER = "caller"


class AgentLegHolds:
    """Turns the phones' Hold/Unhold into CallHoldChanged, and keeps the agent's holds on its leg."""

    def __init__(self, calls: CallLog, events: EventBus) -> None:
        self._calls = calls
        self._events = events

    def channel_hold_changed(self, event: ChannelHoldChanged) -> None:
        """AMI Hold/Unhold (routed by services/ami_routing.py): published as CallHoldChanged when the channel is
        the caller's or the agent's of a call in progress."""
        record = self._calls.get(event.linkedid)
        if record is None:
            return
        stint = record.open_stint
        leg = stint.agent_leg if stint is not None else None
        if event.uniqueid == record.uniqueid:
            party = CALLER
        elif leg is not None and leg.endpoint and device_of(event.channel) == leg.endpoint:
            party = AGENT
        else:
            log.info("call.hold_not_followed", call=record.call_id, channel=event.channel, on_hold=event.on_hold)
            return
        self._events.publish(CallHoldChanged(record.call_id, event.on_hold, event.at, party, event.channel))

    def hold_changed(self, event: CallHoldChanged) -> None:
        """An inline subscriber of the bus: the agent's hold (or its end) on the call's open leg."""
        if event.party != AGENT:
            return
        if self._calls.hold_changed(event.call_id, event.on_hold, event.at):
            log.info("call.hold" if event.on_hold else "call.unhold", call=event.call_id, at=event.at.isoformat())
