"""Domain events about channels, as the services see them (translated from AMI by the adapter)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Union


def device_of(channel: str) -> str:
    """The device a channel is on: PJSIP/agent1001-0000002a -> PJSIP/agent1001 (Asterisk's name = device-sequence)."""
    return channel.rsplit("-", 1)[0]


@dataclass(frozen=True)
class ChannelAnswered:
    uniqueid: str
    linkedid: str
    at: datetime


@dataclass(frozen=True)
class ChannelHungUp:
    uniqueid: str
    linkedid: str
    cause: int | None
    cause_text: str
    at: datetime
    channel: str = ""  # e.g. PJSIP/agent1001-0000002a: its device is the part before the last '-'


@dataclass(frozen=True)
class ChannelHangupRequested:
    """Someone asked for the channel to end (e.g. the caller's BYE), with the Q.850 cause they gave."""

    uniqueid: str
    cause: int
    at: datetime


@dataclass(frozen=True)
class ChannelsSnapshot:
    """Every channel Asterisk has right now, taken after each AMI login (events missed before it are lost)."""

    uniqueids: frozenset[str]
    at: datetime
    channels: frozenset[str] = frozenset()  # their names (PJSIP/agent1001-0000002a): agent devices in use


@dataclass(frozen=True)
class ChannelHoldChanged:
    """A phone put its call on hold (AMI Hold: a re-INVITE sendonly/inactive) or took it back (Unhold)."""

    uniqueid: str
    linkedid: str
    channel: str  # e.g. PJSIP/agent1001-0000002a
    on_hold: bool
    at: datetime


ChannelEvent = Union[ChannelAnswered, ChannelHangupRequested, ChannelHungUp, ChannelsSnapshot]


@dataclass(frozen=True)
class ChannelCreated:
    """A channel came to be (AMI Newchannel): for agent devices, the start of a call they are on."""

    uniqueid: str
    channel: str
    at: datetime


@dataclass(frozen=True)
class DialEnded:
    """A Dial() from the caller's channel got its answer: ANSWER (the agent picked up), NOANSWER, BUSY, ..."""

    caller_uniqueid: str
    callee_channel: str
    status: str
    at: datetime
    callee_uniqueid: str = ""  # the agent's channel (what supervision spies on)


@dataclass(frozen=True)
class DeviceStateChanged:
    """A device (e.g. PJSIP/agent1001) changed state: NOT_INUSE, INUSE, BUSY, RINGING, UNAVAILABLE, ..."""

    device: str
    state: str
    at: datetime


@dataclass(frozen=True)
class BlindTransferSeen:
    """AMI BlindTransfer (or AttendedTransfer, `attended`): a channel in a bridge was transferred. For a queue
    call, the transferer is the agent's leg and the transferee the caller; `context`/`exten` where the caller
    went (the service's [cc-transfer] with its token, or [cc-phone-transfer] with what a phone's REFER named);
    `external`: asked by a phone (REFER) or by AMI, rather than a DTMF feature."""

    transferer_channel: str
    transferer_uniqueid: str
    transferee_uniqueid: str
    context: str
    exten: str
    result: str
    external: bool
    at: datetime
    attended: bool = False


AcdEvent = Union[DialEnded, DeviceStateChanged, ChannelCreated]


@dataclass(frozen=True)
class SpyStarted:
    """ChanSpy joined a supervisor's channel (the spyer) to the channel it spies on (AMI ChanSpyStart)."""

    spyer_uniqueid: str
    spyee_uniqueid: str
    spyee_channel: str
    at: datetime


@dataclass(frozen=True)
class SpyStopped:
    """ChanSpy let go (AMI ChanSpyStop; the spyee may be missing when it is already gone)."""

    spyer_uniqueid: str
    at: datetime


@dataclass(frozen=True)
class KeyReceived:
    """A DTMF key a channel received (AMI DTMFEnd, Direction Received): a supervisor's mode key."""

    uniqueid: str
    key: str
    at: datetime


@dataclass(frozen=True)
class OriginateFailed:
    """An Originate of ours could not ring its phone (AMI OriginateResponse: Failure), by the ActionID we gave it."""

    action_id: str
    reason: str
    at: datetime


SupervisionEvent = Union[SpyStarted, SpyStopped, KeyReceived, OriginateFailed]
