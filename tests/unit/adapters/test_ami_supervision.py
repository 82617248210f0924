"""The supervisor's phone over AMI (adapters/ami_supervision.py): the exact actions sent, every bad token refused
before anything is sent; and the supervision events translate() makes of AMI's (adapters/ami.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from panoramisk.message import Message

from callcontrol.adapters.ami import AmiError, translate
from callcontrol.adapters.ami_supervision import AmiSupervisorPhones, SupervisorPhoneGone
from callcontrol.core.events import DialEnded, KeyReceived, OriginateFailed, SpyStarted, SpyStopped
from callcontrol.core.supervision import Mode

SESSION, ENDPOINT, TARGET, SPYER = "sup_0123456789abcdef", "PJSIP/supervisor1", "1764650000.2", "1764650003.19088743"
NOW = datetime(2030, 1, 1, tzinfo=UTC)


class SentActions:
    """The AmiClient's send(), recording each action and answering with `reply`."""

    def __init__(self, reply: dict[str, str] | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.reply = reply or {"Response": "Success"}

    async def send(self, action: dict[str, Any], **_: Any) -> Message:
        self.sent.append(action)
        return Message(self.reply)


def phones(reply: dict[str, str] | None = None) -> tuple[AmiSupervisorPhones, SentActions]:
    client = SentActions(reply)
    return AmiSupervisorPhones(client), client  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", list(Mode))
async def test_ring_is_a_context_exten_originate_into_cc_supervise(mode: Mode) -> None:
    adapter, client = phones()
    await adapter.ring(SESSION, ENDPOINT, mode, TARGET, SPYER, 20.0, "ada")
    assert client.sent == [{
        "Action": "Originate", "ActionID": f"cc-supervise-{SESSION}", "Channel": ENDPOINT,
        "Context": "cc-supervise", "Exten": mode.value, "Priority": "1", "Timeout": "20000", "ChannelId": SPYER,
        "Variable": f"CC_SPY_TARGET={TARGET}", "CallerID": '"Supervise ada" <supervise>', "Async": "true"}]
    assert "Application" not in client.sent[0] and "Data" not in client.sent[0]  # never an Application originate
    assert AmiSupervisorPhones.originate_action_id(SESSION) == client.sent[0]["ActionID"]


async def test_ring_refused_by_asterisk_raises() -> None:
    adapter, client = phones({"Response": "Error", "Message": "Originate is not allowed"})
    with pytest.raises(AmiError, match="Originate to PJSIP/supervisor1: Originate is not allowed"):
        await adapter.ring(SESSION, ENDPOINT, Mode.LISTEN, TARGET, SPYER, 3.5, "ada")
    assert client.sent[0]["Timeout"] == "3500"


@pytest.mark.parametrize("bad", [
    {"session_id": "sup_0123"}, {"session_id": "sup_0123456789ABCDEF"}, {"session_id": "x" * 20},
    {"endpoint": "PJSIP/supervisor1&PJSIP/agent1002"}, {"endpoint": "SIP/supervisor1"},
    {"endpoint": "PJSIP/supervisor1\r\nAction: Command"}, {"endpoint": "Local/1@cc-supervise"},
    {"target_uniqueid": "PJSIP/agent1001"}, {"target_uniqueid": "1764650000.2,qB"},
    {"target_uniqueid": "1764650000.2\n"}, {"target_uniqueid": ""},
    {"spyer_uniqueid": "1764650003"}, {"spyer_uniqueid": "1764650003.1;x"}, {"spyer_uniqueid": "abc.1"},
    {"agent_id": "Ada"}, {"agent_id": 'ada" <1234>'}, {"agent_id": "ada\r\n"}, {"agent_id": ""},
])
async def test_every_bad_ring_argument_is_refused_before_anything_is_sent(bad: dict[str, str]) -> None:
    adapter, client = phones()
    arguments = {"session_id": SESSION, "endpoint": ENDPOINT, "target_uniqueid": TARGET, "spyer_uniqueid": SPYER,
                 "agent_id": "ada"} | bad
    with pytest.raises(ValueError):
        await adapter.ring(arguments["session_id"], arguments["endpoint"], Mode.LISTEN, arguments["target_uniqueid"],
                           arguments["spyer_uniqueid"], 20.0, arguments["agent_id"])
    assert client.sent == []


async def test_ring_refuses_a_mode_that_is_not_one_of_the_three() -> None:
    adapter, client = phones()
    with pytest.raises(ValueError):
        await adapter.ring(SESSION, ENDPOINT, "spy", TARGET, SPYER, 20.0, "ada")  # type: ignore[arg-type]
    assert client.sent == []


@pytest.mark.parametrize(("mode", "digit"), [(Mode.LISTEN, "4"), (Mode.WHISPER, "5"), (Mode.BARGE, "6")])
async def test_set_mode_plays_the_modes_key_as_received_on_the_supervisors_channel(mode: Mode, digit: str) -> None:
    adapter, client = phones()
    await adapter.set_mode(SPYER, mode)
    assert client.sent == [{"Action": "PlayDTMF", "Channel": SPYER, "Digit": digit, "Duration": "100",
                            "Receive": "yes"}]


async def test_hang_up_hangs_up_the_supervisors_channel_by_its_uniqueid() -> None:
    adapter, client = phones()
    await adapter.hang_up(SPYER)
    assert client.sent == [{"Action": "Hangup", "Channel": SPYER, "Cause": "16"}]


@pytest.mark.parametrize("bad", ["PJSIP/supervisor1-00000001", "1764650003.1\r\nAction: Command", "/.*/", "",
                                 "1.2.3", TARGET + " "])
async def test_set_mode_and_hang_up_refuse_anything_but_a_uniqueid_before_sending(bad: str) -> None:
    adapter, client = phones()
    with pytest.raises(ValueError):
        await adapter.set_mode(bad, Mode.BARGE)
    with pytest.raises(ValueError):
        await adapter.hang_up(bad)
    with pytest.raises(ValueError):
        await adapter.set_mode(SPYER, "7")  # type: ignore[arg-type]
    assert client.sent == []


async def test_a_channel_gone_is_told_apart_from_other_refusals() -> None:
    adapter, _ = phones({"Response": "Error", "Message": "No such channel"})
    with pytest.raises(SupervisorPhoneGone):
        await adapter.set_mode(SPYER, Mode.WHISPER)
    adapter, _ = phones({"Response": "Error", "Message": "Channel not found"})
    with pytest.raises(SupervisorPhoneGone):
        await adapter.hang_up(SPYER)
    adapter, _ = phones({"Response": "Error", "Message": "Permission denied"})
    with pytest.raises(AmiError, match="PlayDTMF on 1764650003.19088743: Permission denied") as raised:
        await adapter.set_mode(SPYER, Mode.WHISPER)
    assert not isinstance(raised.value, SupervisorPhoneGone)


def test_chanspystart_and_chanspystop_translate_with_both_uniqueids() -> None:
    start = Message({"Event": "ChanSpyStart", "SpyerChannel": "PJSIP/supervisor1-00000031", "SpyerUniqueid": SPYER,
                     "SpyeeChannel": "PJSIP/agent1001-0000002a", "SpyeeUniqueid": TARGET,
                     "Timestamp": "1764650004.500000"})
    assert translate(start, NOW) == SpyStarted(SPYER, TARGET, "PJSIP/agent1001-0000002a",
                                               datetime.fromtimestamp(1764650004.5, UTC))
    stop = Message({"Event": "ChanSpyStop", "SpyerChannel": "PJSIP/supervisor1-00000031", "SpyerUniqueid": SPYER})
    assert translate(stop, NOW) == SpyStopped(SPYER, NOW)  # the spyee left out: it may be gone already


def test_dtmfend_translates_only_keys_the_channel_received() -> None:
    received = Message({"Event": "DTMFEnd", "Uniqueid": SPYER, "Digit": "5", "Direction": "Received",
                        "DurationMs": "100"})
    assert translate(received, NOW) == KeyReceived(SPYER, "5", NOW)
    sent = Message({"Event": "DTMFEnd", "Uniqueid": SPYER, "Digit": "5", "Direction": "Sent"})
    assert translate(sent, NOW) is None
    assert translate(Message({"Event": "DTMFBegin", "Uniqueid": SPYER, "Digit": "5", "Direction": "Received"}),
                     NOW) is None


def test_originateresponse_translates_only_failures() -> None:
    failure = Message({"Event": "OriginateResponse", "ActionID": f"cc-supervise-{SESSION}", "Response": "Failure",
                       "Channel": ENDPOINT, "Reason": "3", "Uniqueid": "<null>"})
    assert translate(failure, NOW) == OriginateFailed(f"cc-supervise-{SESSION}", "3", NOW)
    success = Message({"Event": "OriginateResponse", "ActionID": f"cc-supervise-{SESSION}", "Response": "Success",
                       "Reason": "4", "Uniqueid": SPYER})
    assert translate(success, NOW) is None


def test_dialend_carries_the_agent_channels_uniqueid() -> None:
    """What supervision spies on: the answered Dial's DestUniqueid (the agent's channel), beside its name."""
    answered = Message({"Event": "DialEnd", "Uniqueid": "1764650000.1", "DestChannel": "PJSIP/agent1001-0000002a",
                        "DestUniqueid": TARGET, "DialStatus": "ANSWER"})
    assert translate(answered, NOW) == DialEnded("1764650000.1", "PJSIP/agent1001-0000002a", "ANSWER", NOW, TARGET)
