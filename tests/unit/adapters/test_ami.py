"""The AMI client over a fake Asterisk speaking AMI on real TCP: each panoramisk 1.4 defect we work around."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from panoramisk.message import Message

from callcontrol.adapters.ami import AmiClient, AmiConnectionLost, AmiNotConnected, translate
from callcontrol.core.events import (
    BlindTransferSeen,
    ChannelAnswered,
    ChannelHangupRequested,
    ChannelHungUp,
    ChannelsSnapshot,
)
from tests.support.ami_server import FakeAmiServer


async def eventually(condition, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    fake = await FakeAmiServer(channels=["1700000000.1"]).start()
    yield fake
    await fake.close()


def make_client(server: FakeAmiServer, **options) -> AmiClient:
    defaults = dict(ping_interval_s=60, ping_timeout_s=1, action_timeout_s=1, reconnect_min_s=0.05,
                    reconnect_max_s=0.2)
    return AmiClient("127.0.0.1", server.port, "callcontrol", options.pop("secret", "s3cret"), **(defaults | options))


@pytest.fixture
async def running(server: FakeAmiServer):
    client = make_client(server)
    task = asyncio.create_task(client.run())
    await eventually(lambda: client.ready)
    yield client
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def drain(client: AmiClient) -> list:
    items = []
    while not client.events.empty():
        items.append(client.events.get_nowait())
    return items


async def test_login_is_followed_by_a_channel_snapshot_in_the_event_queue(server, running):
    """After login the first thing in the event queue is the snapshot of live channels (CoreShowChannels)."""
    first = await asyncio.wait_for(running.events.get(), 1)
    assert isinstance(first, ChannelsSnapshot)
    assert first.uniqueids == {"1700000000.1"}


async def test_events_in_one_tcp_chunk_all_arrive_in_order(server, running):
    """A hundred events in one TCP write are all queued, in order (no callback can break the chunk)."""
    await drain(running)
    server.push(*({"Event": "Newexten", "Uniqueid": "1.1", "Priority": str(i)} for i in range(100)))
    await eventually(lambda: running.events.qsize() >= 100)
    priorities = [int(m["Priority"]) for m in await drain(running)]
    assert priorities == list(range(100))


async def test_unanswered_ping_drops_the_connection_and_reconnects(server):
    """The watchdog closes a session whose Ping goes unanswered, and the client logs in again."""
    server.answer_pings = False
    client = make_client(server, ping_interval_s=0.05, ping_timeout_s=0.1)
    task = asyncio.create_task(client.run())
    try:
        await eventually(lambda: client.logins >= 2)
        assert server.connections >= 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_ping_reply_late_behind_a_flow_of_events_keeps_the_connection(server):
    """Under load the Ping reply waits behind queued events: while events keep arriving the session is alive and
    is not dropped (dropping it would lose every wake-up sent meanwhile); once they stop, it is."""
    server.answer_pings = False
    client = make_client(server, ping_interval_s=0.05, ping_timeout_s=0.1)
    task = asyncio.create_task(client.run())
    try:
        await eventually(lambda: client.ready)
        for index in range(40):  # 0.8 s of events, every 20 ms: several pings go unanswered meanwhile
            server.push({"Event": "Newchannel", "Uniqueid": f"1.{index}", "Channel": "PJSIP/trunk-1"})
            await asyncio.sleep(0.02)
        assert client.logins == 1 and server.connections == 1
        await eventually(lambda: client.logins >= 2)  # silence and no Pong: now it is dropped
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_cancelling_during_reconnect_backoff_stops_all_reconnects(server):
    """Cancelling the session loop while it waits to reconnect leaves no reconnect behind."""
    client = make_client(server, secret="wrong", reconnect_min_s=0.05, reconnect_max_s=0.05)
    task = asyncio.create_task(client.run())
    await eventually(lambda: server.connections >= 2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    seen = server.connections
    await asyncio.sleep(0.3)
    assert server.connections == seen


async def test_unanswered_action_fails_on_disconnect_and_is_never_resent(server, running):
    """An Originate pending when the connection drops fails, and is not re-sent after FullyBooted."""
    originate = asyncio.create_task(running.send({"Action": "Originate", "Channel": "PJSIP/agent1001"}, timeout=5))
    await eventually(lambda: len(server.actions("Originate")) == 1)
    server.drop_all()
    with pytest.raises(AmiConnectionLost):
        await originate
    await eventually(lambda: running.ready and running.logins >= 2)
    server.push({"Event": "FullyBooted", "Status": "Fully Booted"})
    await asyncio.sleep(0.2)
    assert len(server.actions("Originate")) == 1


async def test_actions_are_bounded_by_a_timeout(server, running):
    """An action Asterisk never answers raises TimeoutError instead of hanging."""
    with pytest.raises(TimeoutError):
        await running.send({"Action": "Originate", "Channel": "PJSIP/agent1001"}, timeout=0.1)


async def test_queue_add_reply_resolves(server, running):
    """QueueAdd's 'Added ... to queue' reply resolves the future (panoramisk 1.4 waits forever on it)."""
    reply = await running.send({"Action": "QueueAdd", "Queue": "support", "Interface": "PJSIP/agent1001"})
    assert reply.success


async def test_every_login_resyncs(server, running):
    """Each new session sends CoreShowChannels again and queues a fresh snapshot."""
    server.channels = ["1700000000.7"]
    server.drop_all()
    await eventually(lambda: running.ready and running.logins >= 2)
    snapshots = [item for item in await drain(running) if isinstance(item, ChannelsSnapshot)]
    assert snapshots[-1].uniqueids == {"1700000000.7"}
    assert len(server.actions("CoreShowChannels")) == 2


async def test_wrong_secret_is_reported_and_retried_without_leaking_it(server):
    """A rejected login says so in `problem`, keeps retrying, and the secret appears nowhere."""
    client = make_client(server, secret="wrong-secret-value")
    task = asyncio.create_task(client.run())
    try:
        await eventually(lambda: server.connections >= 2)
        assert "login rejected" in (client.problem or "")
        assert not client.ready
        assert "wrong-secret-value" not in client.problem and "wrong-secret-value" not in repr(client)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_closed_port_is_reported():
    """With nothing listening, the problem names the address and the client is not ready."""
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    client = AmiClient("127.0.0.1", port, "callcontrol", "x", reconnect_min_s=0.05, reconnect_max_s=0.05)
    task = asyncio.create_task(client.run())
    try:
        await eventually(lambda: "failed" in (client.problem or ""))
        assert f"127.0.0.1:{port}" in client.problem
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_sending_while_disconnected_fails_fast():
    """An action with no session raises AmiNotConnected at once."""
    client = AmiClient("127.0.0.1", 1, "callcontrol", "x")
    with pytest.raises(AmiNotConnected):
        await client.send({"Action": "Ping"})


async def test_asterisk_shutdown_event_leads_to_a_new_session(server, running):
    """A Shutdown event from Asterisk ends the session; the client reconnects and logs in again."""
    server.push({"Event": "Shutdown", "Shutdown": "Cleanly", "Restart": "True"})
    await eventually(lambda: running.logins >= 2 and running.ready)


def test_hangup_event_becomes_channel_hung_up_with_asterisk_time():
    """Hangup carries the event's own Timestamp, the cause as a number and its text."""
    message = Message({"Event": "Hangup", "Uniqueid": "17.1", "Linkedid": "17.1", "Cause": "16",
                       "Cause-txt": "Normal Clearing", "Timestamp": "1700000000.250000"})
    event = translate(message, datetime(2030, 1, 1, tzinfo=UTC))
    assert event == ChannelHungUp("17.1", "17.1", 16, "Normal Clearing", datetime.fromtimestamp(1700000000.25, UTC))


def test_newstate_up_becomes_answered_and_other_events_are_ignored():
    """Newstate with ChannelState 6 (Up) is an answer; ringing states and unknown events give None."""
    now = datetime(2030, 1, 1, tzinfo=UTC)
    up = Message({"Event": "Newstate", "Uniqueid": "17.1", "Linkedid": "17.1", "ChannelState": "6"})
    assert translate(up, now) == ChannelAnswered("17.1", "17.1", now)
    assert translate(Message({"Event": "Newstate", "ChannelState": "5"}), now) is None
    assert translate(Message({"Event": "VarSet"}), now) is None


def test_hangup_request_cause_is_translated_and_zero_causes_are_dropped():
    """SoftHangupRequest/HangupRequest with a cause become ChannelHangupRequested; cause 0 or none is ignored."""
    now = datetime(2030, 1, 1, tzinfo=UTC)
    soft = Message({"Event": "SoftHangupRequest", "Uniqueid": "17.1", "Cause": "16"})
    assert translate(soft, now) == ChannelHangupRequested("17.1", 16, now)
    assert translate(Message({"Event": "HangupRequest", "Uniqueid": "17.1"}), now) is None
    assert translate(Message({"Event": "SoftHangupRequest", "Uniqueid": "17.1", "Cause": "0"}), now) is None


def test_a_blind_transfer_event_names_the_agent_s_leg_the_caller_and_where_it_went():
    """The fields as Asterisk 22 sent them on the sandbox after a REFER from agent1001 (docs/transfers.md)."""
    message = Message({"Event": "BlindTransfer", "Timestamp": "1796217645.434890", "Result": "Success",
                       "TransfererChannel": "PJSIP/agent1001-00000001", "TransfererUniqueid": "1796217641.1",
                       "TransfereeChannel": "PJSIP/trunk-00000000", "TransfereeUniqueid": "1796217641.0",
                       "IsExternal": "Yes", "Context": "cc-phone-transfer", "Extension": "2001"})
    event = translate(message, datetime(2030, 1, 1, tzinfo=UTC))
    assert event == BlindTransferSeen("PJSIP/agent1001-00000001", "1796217641.1", "1796217641.0",
                                      "cc-phone-transfer", "2001", "Success", True,
                                      datetime.fromtimestamp(1796217645.434890, UTC))
    attended = translate(Message({"Event": "AttendedTransfer", "Result": "Success"}), datetime(2030, 1, 1, tzinfo=UTC))
    assert isinstance(attended, BlindTransferSeen) and attended.attended
