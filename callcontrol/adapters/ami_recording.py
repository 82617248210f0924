"""A live recording's controls over AMI with the `call` class only: MixMonitorMute and StopMixMonitor.

Starting a recording is not here: the AMI MixMonitor action needs the `system` class, which the service's AMI
user does not have; recordings are started from the caller's own FastAGI session (adapters/agi.py).
"""

from __future__ import annotations

from typing import Any

from callcontrol.adapters.ami import NO_SUCH_CHANNEL, AmiClient, AmiError
from callcontrol.core.identifiers import CHANNEL_NAME, MIXMONITOR_ID


class AmiRecordingControls:
    """Implements the RecordingControls port."""

    def __init__(self, client: AmiClient) -> None:
        self._client = client

    async def mute(self, channel: str, mixmonitor_id: str | None, muted: bool) -> None:
        action = self._action("MixMonitorMute", channel, mixmonitor_id) | {"Direction": "both",
                                                                           "State": "1" if muted else "0"}
        reply = await self._client.send(action)
        if reply.get("Response") != "Success":
            raise AmiError(f"MixMonitorMute on {channel}: {reply.get('Message', reply.get('Response'))}")

    async def stop(self, channel: str, mixmonitor_id: str | None) -> bool:
        reply = await self._client.send(self._action("StopMixMonitor", channel, mixmonitor_id))
        if reply.get("Response") == "Success":
            return True
        message = str(reply.get("Message", reply.get("Response")))
        if message.lower() in NO_SUCH_CHANNEL or "no mixmonitor" in message.lower():
            return False
        raise AmiError(f"StopMixMonitor on {channel}: {message}")

    @staticmethod
    def _action(name: str, channel: str, mixmonitor_id: str | None) -> dict[str, Any]:
        if not CHANNEL_NAME.match(channel):
            raise ValueError(f"not a channel name: {channel[:40]!r}")
        action: dict[str, Any] = {"Action": name, "Channel": channel}
        if mixmonitor_id is not None:
            if not MIXMONITOR_ID.match(mixmonitor_id):
                raise ValueError("not a MixMonitorID")
            action["MixMonitorID"] = mixmonitor_id
        return action
