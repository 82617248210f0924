"""Blind transfers over AMI (the `call` class): BlindTransfer of an agent's leg to the service's transfer context.

Context and extension are the service's own (core/transfers.py: [cc-transfer] and a one-time token of digits);
the channel is the one Asterisk named in the agent's DialEnd. Nothing a user typed is in the action.
"""

from __future__ import annotations

from callcontrol.adapters.ami import NO_SUCH_CHANNEL, AmiClient, AmiError
from callcontrol.core.identifiers import CHANNEL_NAME
from callcontrol.core.transfers import TRANSFER_CONTEXT, TRANSFER_TOKEN
from callcontrol.services.ports import CallerHungUp


class AmiTransfers:
    """Implements the TransferActions port."""

    def __init__(self, client: AmiClient) -> None:
        self._client = client

    async def blind_transfer(self, channel: str, token: str) -> None:
        if not CHANNEL_NAME.match(channel):
            raise ValueError(f"not a channel name: {channel[:40]!r}")
        if not TRANSFER_TOKEN.match(token):
            raise ValueError("not a transfer token")
        reply = await self._client.send({"Action": "BlindTransfer", "Channel": channel,
                                         "Context": TRANSFER_CONTEXT, "Exten": token})
        if reply.get("Response") == "Success":
            return
        message = str(reply.get("Message", reply.get("Response")))
        if message.lower() in NO_SUCH_CHANNEL:
            raise CallerHungUp(f"BlindTransfer of {channel}: {message}")
        raise AmiError(f"BlindTransfer of {channel}: {message}")
