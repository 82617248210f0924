"""The FastAGI server and channel against a fake Asterisk on real TCP: commands, hangups, junk and stalls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from callcontrol.adapters.agi import AgiConnection, UnsafeAgiArgument
from callcontrol.adapters.agi_server import AgiRequest, FastAgiServer
from callcontrol.services.ports import CallerHungUp, ChannelCommandFailed

HEADERS = (
    "agi_network: yes\nagi_network_script: ivr\nagi_request: agi://127.0.0.1:4573/ivr\n"
    "agi_channel: PJSIP/trunk-00000001\nagi_uniqueid: 1700000000.1\nagi_callerid: 15551234567\n"
    "agi_extension: 5000\nagi_arg_1: 1700000000.1\n\n"
)


class Recorder:
    """A handler that runs a scripted coroutine and keeps what happened."""

    def __init__(self, body: Callable[[AgiRequest, AgiConnection], Awaitable[object]]) -> None:
        self.body = body
        self.requests: list[AgiRequest] = []
        self.results: list[object] = []
        self.errors: list[BaseException] = []
        self.done = asyncio.Event()

    async def __call__(self, request: AgiRequest, channel: AgiConnection) -> None:
        self.requests.append(request)
        try:
            self.results.append(await self.body(request, channel))
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self.done.set()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Recorder, float], Awaitable[FastAgiServer]]]:
    servers: list[FastAgiServer] = []

    async def start(handler: Recorder, header_timeout_s: float = 1.0) -> FastAgiServer:
        server = FastAgiServer("127.0.0.1", 0, handler, header_timeout_s=header_timeout_s)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop(0)


async def asterisk(port: int, replies: list[str], headers: str = HEADERS) -> list[str]:
    """Play Asterisk: send headers, answer each command line with the next reply; return the commands seen."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(headers.encode())
    seen = []
    try:
        for reply in replies:
            line = await asyncio.wait_for(reader.readline(), 2)
            if not line:
                break
            seen.append(line.decode().rstrip("\n"))
            writer.write(reply.encode())
        await writer.drain()
    finally:
        writer.close()
    return seen


async def test_commands_and_replies_for_a_menu_digit(serve):
    """ANSWER, STREAM FILE with escape digits and WAIT FOR DIGIT go out as validated lines; digit 1 comes back."""
    async def body(request, channel):
        await channel.answer()
        interrupted = await channel.play(["hello-world"], "0123456789*#")
        return interrupted or await channel.wait_for_digit(3000)

    handler = Recorder(body)
    server = await serve(handler)
    seen = await asterisk(server.port, ["200 result=0\n", "200 result=0 endpos=8000\n", "200 result=49\n"])
    await asyncio.wait_for(handler.done.wait(), 2)
    assert seen == ["ANSWER", 'STREAM FILE hello-world "0123456789*#"', "WAIT FOR DIGIT 3000"]
    assert handler.results == ["1"]
    request = handler.requests[0]
    assert (request.script, request.caller_number, request.dialed_number, request.arg(1)) == (
        "ivr", "15551234567", "5000", "1700000000.1")


async def test_digit_during_prompt_interrupts_it(serve):
    """A digit pressed during STREAM FILE is returned and the remaining prompts are not played."""
    handler = Recorder(lambda r, ch: ch.play(["one", "two"], "12"))
    server = await serve(handler)
    seen = await asterisk(server.port, ["200 result=50 endpos=100\n"])
    await asyncio.wait_for(handler.done.wait(), 2)
    assert seen == ['STREAM FILE one "12"'] and handler.results == ["2"]


async def test_hangup_notice_then_failure_means_caller_hung_up(serve):
    """'HANGUP' followed by result=-1 raises CallerHungUp, and no further command is written."""
    async def body(request, channel):
        try:
            await channel.play(["hello-world"])
        finally:
            with pytest.raises(CallerHungUp):
                await channel.wait_for_digit(1000)

    handler = Recorder(body)
    server = await serve(handler)
    seen = await asterisk(server.port, ["HANGUP\n200 result=-1 endpos=0\n", "200 result=0\n"])
    await asyncio.wait_for(handler.done.wait(), 2)
    assert isinstance(handler.errors[0], CallerHungUp)
    assert seen == ['STREAM FILE hello-world ""']


async def test_socket_closed_mid_command_means_caller_hung_up(serve):
    """Asterisk closing the socket while a command is pending raises CallerHungUp, not a crash."""
    handler = Recorder(lambda r, ch: ch.play(["hello-world"]))
    server = await serve(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEADERS.encode())
    await reader.readline()
    writer.close()
    await asyncio.wait_for(handler.done.wait(), 2)
    assert isinstance(handler.errors[0], CallerHungUp)


async def test_dead_channel_reply_511_means_caller_hung_up(serve):
    """511 (command not permitted on a dead channel) is a hangup."""
    handler = Recorder(lambda r, ch: ch.wait_for_digit(100))
    server = await serve(handler)
    await asterisk(server.port, ["511 Command Not Permitted on a dead channel or intercepted\n"])
    await asyncio.wait_for(handler.done.wait(), 2)
    assert isinstance(handler.errors[0], CallerHungUp)


async def test_usage_error_is_read_to_its_end_and_the_session_goes_on(serve):
    """A multi-line 520 usage reply raises ChannelCommandFailed and leaves the stream in sync."""
    async def body(request, channel):
        with pytest.raises(ChannelCommandFailed):
            await channel.wait_for_digit(5)
        return await channel.wait_for_digit(5)

    handler = Recorder(body)
    server = await serve(handler)
    await asterisk(server.port, ["520-Invalid command syntax.  Proper usage follows:\nUsage: WAIT FOR DIGIT\n"
                                 "520 End of proper usage.\n", "200 result=51\n"])
    await asyncio.wait_for(handler.done.wait(), 2)
    assert handler.results == ["3"]


async def test_unsafe_tokens_never_reach_the_socket(serve):
    """A sound name with a space or a variable value with a quote is refused before anything is written."""
    async def body(request, channel):
        with pytest.raises(UnsafeAgiArgument):
            await channel.play(["hello world\nHANGUP"])
        with pytest.raises(UnsafeAgiArgument):
            await channel.set_variable("X", 'a" b')
        with pytest.raises(UnsafeAgiArgument):
            await channel.play(["../../etc/passwd"])
        await channel.set_variable("CALLCONTROL_DONE", "1")

    handler = Recorder(body)
    server = await serve(handler)
    seen = await asterisk(server.port, ["200 result=1\n"])
    await asyncio.wait_for(handler.done.wait(), 2)
    assert handler.errors == []
    assert seen == ['SET VARIABLE CALLCONTROL_DONE "1"']


async def port_still_serves(server: FastAgiServer, handler: Recorder) -> None:
    handler.done.clear()
    await asterisk(server.port, ["200 result=0\n"])
    await asyncio.wait_for(handler.done.wait(), 2)


@pytest.mark.parametrize("junk", [b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\xff\xfe garbage\n\n",
                                  b"agi_network: yes\n\n", b"agi_x: " + b"A" * 40000 + b"\n",
                                  b"agi_network: yes\nagi_network_script: ivr\n"])
async def test_junk_and_early_close_are_rejected_and_the_server_keeps_serving(serve, junk):
    """Port scans, HTTP, binary junk, headers without a script, oversized lines and headers cut off before
    their blank line (which spins panoramisk 1.4's loop forever) are all dropped cleanly."""
    handler = Recorder(lambda r, ch: ch.answer())
    server = await serve(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(junk)
    await writer.drain()
    writer.close()
    await asyncio.sleep(0.05)
    await port_still_serves(server, handler)
    assert len(handler.requests) == 1


async def test_stalled_headers_time_out_without_blocking_the_loop(serve):
    """A client that never finishes its headers is dropped after the timeout while other work runs on time."""
    handler = Recorder(lambda r, ch: ch.answer())
    server = await serve(handler, header_timeout_s=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\n")
    await writer.drain()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.sleep(0.05)
    assert loop.time() - started < 0.1  # the loop is not spinning on the stalled client
    closed = await asyncio.wait_for(reader.read(), 2)
    assert closed == b"" and server.rejected == 1
    await port_still_serves(server, handler)


async def test_stop_cancels_sessions_still_running_after_the_grace(serve):
    """stop(grace) stops accepting, lets calls run for the grace period, then cancels and awaits them."""
    cancelled = asyncio.Event()

    async def body(request, channel):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    handler = Recorder(body)
    server = await serve(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEADERS.encode())
    await writer.drain()
    await asyncio.sleep(0.05)
    assert server.active_sessions == 1
    await server.stop(0.1)
    assert cancelled.is_set() and server.active_sessions == 0
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)
    writer.close()


async def test_failure_followed_by_a_late_hangup_notice_is_a_hangup(serve):
    """Asterisk answers result=-1 first and sends HANGUP ~50 ms later: that is the caller leaving."""
    handler = Recorder(lambda r, ch: ch.play(["hello-world"]))
    server = await serve(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEADERS.encode())
    await reader.readline()
    writer.write(b"200 result=-1 endpos=1200\n")
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(b"HANGUP\n")
    await writer.drain()
    await asyncio.wait_for(handler.done.wait(), 2)
    writer.close()
    assert isinstance(handler.errors[0], CallerHungUp)


async def test_failure_without_a_hangup_notice_is_a_command_failure(serve):
    """result=-1 on a live channel (no HANGUP notice follows) is a failed command, not a hangup."""
    handler = Recorder(lambda r, ch: ch.play(["no-such-sound"]))
    server = await serve(handler)
    await asterisk(server.port, ["200 result=-1 endpos=0\n", "200 result=0\n"])
    await asyncio.wait_for(handler.done.wait(), 2)
    assert isinstance(handler.errors[0], ChannelCommandFailed)


async def test_flow_hangup_uses_normal_clearing(serve):
    """hangup() runs Hangup(16) so the call ends with Q.850 cause 16, and tolerates the -1 that follows."""
    handler = Recorder(lambda r, ch: ch.hangup())
    server = await serve(handler)
    seen = await asterisk(server.port, ["200 result=-1\nHANGUP\n"])
    await asyncio.wait_for(handler.done.wait(), 2)
    assert seen == ["EXEC Hangup 16"] and handler.errors == []


async def test_digit_latency_is_measured_from_the_digit_reply_to_the_next_command(serve):
    """The time between reading a reply with a digit and sending the next command lands in digit_latency."""
    async def body(request, channel):
        digit = await channel.wait_for_digit(1000)
        await asyncio.sleep(0.05)  # the service "thinking"
        await channel.answer()
        return digit

    handler = Recorder(body)
    server = await serve(handler)
    await asterisk(server.port, ["200 result=49\n", "200 result=0\n"])
    await asyncio.wait_for(handler.done.wait(), 2)
    summary = server.digit_latency.summary()
    assert summary["count"] == 1 and 45 <= summary["p50_ms"] < 500


WHERE_BEFORE = "200 result=1 (callcontrol-ivr/5002/3)\n"


async def test_a_dial_whose_caller_was_blind_transferred_away_is_transferred_not_a_hangup(serve):
    """As on Asterisk 22 after a BlindTransfer of the agent's leg: Dial() returns, HANGUP follows (the async goto),
    DIALSTATUS is ANSWER and the channel is already at the transfer context's first priority."""
    handler = Recorder(lambda r, ch: ch.dial_agent("PJSIP/agent1001", 15, "default"))
    server = await serve(handler)
    seen = await asterisk(server.port, ["200 result=1\n", WHERE_BEFORE, "200 result=0\nHANGUP\n",
                                        "200 result=1 (ANSWER)\n", "200 result=1 (cc-transfer/1234567890123456/1)\n"])
    await asyncio.wait_for(handler.done.wait(), 2)
    assert seen == ["SET VARIABLE __TRANSFER_CONTEXT cc-phone-transfer",
                    "GET FULL VARIABLE ${CONTEXT}/${EXTEN}/${PRIORITY}", "EXEC Dial PJSIP/agent1001,15,gm(default)", "GET VARIABLE DIALSTATUS",
                    "GET FULL VARIABLE ${CONTEXT}/${EXTEN}/${PRIORITY}"]
    (dialled,) = handler.results
    assert dialled.transferred and not dialled.caller_hung_up and dialled.status == "ANSWER"


@pytest.mark.parametrize("before, after, transferred, hung_up", [
    (WHERE_BEFORE, "200 result=1 (callcontrol-ivr/5002/3)\n", False, True),  # the caller hung up mid-talk
    ("200 result=1 (cc-phone-transfer/2001/3)\n", "200 result=1 (cc-phone-transfer/2001/3)\n", False, True),  # a leg
    ("200 result=1 (cc-phone-transfer/2001/3)\n", "200 result=1 (cc-phone-transfer/2001/1)\n", True, False),  # again
])
async def test_only_a_move_to_a_transfer_context_during_the_dial_is_a_transfer(serve, before, after, transferred,
                                                                                hung_up):
    handler = Recorder(lambda r, ch: ch.dial_agent("PJSIP/agent1001", 15, "default"))
    server = await serve(handler)
    await asterisk(server.port, ["200 result=1\n", before, "200 result=-1\nHANGUP\n", "200 result=1 (ANSWER)\n",
                                 after])
    await asyncio.wait_for(handler.done.wait(), 2)
    (dialled,) = handler.results
    assert (dialled.transferred, dialled.caller_hung_up) == (transferred, hung_up)


async def test_where_the_session_runs_comes_from_its_agi_headers_when_asterisk_sent_them(serve):
    """Asterisk sends agi_context/agi_extension/agi_priority with every request: the Dial then costs no round trip
    to ask where the session is, and a move during it is still told from a hangup."""
    handler = Recorder(lambda r, ch: ch.dial_agent("PJSIP/agent1001", 15, "default"))
    server = await serve(handler)
    headers = HEADERS.replace("agi_extension: 5000\n", "agi_context: callcontrol-ivr\nagi_extension: 5002\n"
                                                       "agi_priority: 3\n")
    seen = await asterisk(server.port, ["200 result=1\n", "200 result=0\nHANGUP\n", "200 result=1 (ANSWER)\n",
                                        "200 result=1 (cc-transfer/1234567890123456/1)\n"], headers=headers)
    await asyncio.wait_for(handler.done.wait(), 2)
    assert seen == ["SET VARIABLE __TRANSFER_CONTEXT cc-phone-transfer", "EXEC Dial PJSIP/agent1001,15,gm(default)",
                    "GET VARIABLE DIALSTATUS", "GET FULL VARIABLE ${CONTEXT}/${EXTEN}/${PRIORITY}"]
    (dialled,) = handler.results
    assert dialled.transferred and not dialled.caller_hung_up
