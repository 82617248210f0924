"""The directory of agent devices: which agent each device is and the channels on it now.

It also holds the Dial()s of ours to each device whose end AMI has not shown yet. The ACD reads it to know a
device busy; supervision will read it to find an agent's current channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import structlog

from callcontrol.core.events import device_of

log = structlog.get_logger(__name__)


class AgentDevices:
    def __init__(self) -> None:
        self._agents: dict[str, str] = {}  # agent endpoint -> agent id
        self._channels: dict[str, set[str]] = {}  # agent endpoint -> its channels Asterisk has now (AMI)
        # agent endpoint -> {caller uniqueid: (our Dial()s to it whose DialEnd AMI has not shown yet, hold until)}
        self._dialing: dict[str, dict[str, tuple[int, datetime]]] = {}

    def agent_for_device(self, device: str) -> str | None:
        """The agent whose endpoint this device (PJSIP/agent1001) is."""
        return self._agents.get(device)

    def endpoints(self) -> list[str]:
        return list(self._agents)

    def channels_on(self, endpoint: str) -> frozenset[str]:
        """The channels Asterisk has on this device now, as AMI showed them."""
        return frozenset(self._channels.get(endpoint, ()))

    def assign(self, endpoint: str, agent_id: str) -> None:
        self._agents[endpoint] = agent_id

    def forget(self, agent_id: str, keep: str | None = None) -> None:
        """The agent's endpoints stop speaking for it (all but `keep`)."""
        for endpoint, owner in list(self._agents.items()):
            if owner == agent_id and endpoint != keep:
                del self._agents[endpoint]

    def busy(self, endpoint: str) -> bool:
        """Busy while Asterisk has a channel on the device (ours or a personal call) or a Dial() of ours to it has
        not shown its end on AMI."""
        return bool(self._channels.get(endpoint)) or endpoint in self._dialing

    def channel_changed(self, channel: str, exists: bool) -> str | None:
        """A channel appeared (`exists`) or hung up; the agent endpoint it is on (None: not an agent device)."""
        endpoint = device_of(channel)
        if endpoint not in self._agents:
            return None
        channels = self._channels.setdefault(endpoint, set())
        if exists:
            channels.add(channel)
        else:
            channels.discard(channel)
        return endpoint

    def resync(self, channels: Iterable[str]) -> list[str]:
        """After an AMI outage: the agent devices' channels are these (Asterisk's list now); every agent endpoint."""
        live: dict[str, set[str]] = {}
        for channel in channels:
            live.setdefault(device_of(channel), set()).add(channel)
        for endpoint in self._agents:
            self._channels[endpoint] = live.get(endpoint, set())
        return list(self._agents)

    @property
    def dialing(self) -> bool:
        return bool(self._dialing)

    def dial_starting(self, endpoint: str, caller_uniqueid: str, hold_until: datetime) -> None:
        """A Dial() from this caller to this device is about to start: the device is busy until its DialEnd."""
        pending = self._dialing.setdefault(endpoint, {})
        count = pending[caller_uniqueid][0] if caller_uniqueid in pending else 0
        pending[caller_uniqueid] = (count + 1, hold_until)

    def dial_ended(self, endpoint: str, caller_uniqueid: str) -> None:
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

    def drop_overdue_dials(self, now: datetime) -> list[str]:
        """Dial()s whose DialEnd never came (no channel was made) stop holding their device; the devices freed."""
        freed = []
        for endpoint, pending in list(self._dialing.items()):
            for caller_uniqueid, (_, hold_until) in list(pending.items()):
                if now >= hold_until:
                    log.warning("acd.dial_end_not_seen", endpoint=endpoint, call=caller_uniqueid)
                    del pending[caller_uniqueid]
            if not pending:
                del self._dialing[endpoint]
                freed.append(endpoint)
        return freed
