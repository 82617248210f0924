"""The AGI commands of one call's FastAGI socket (the AgiChannel port), every argument checked against its grammar."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from panoramisk.utils import parse_agi_result

from callcontrol.core.identifiers import (
    DIALPLAN_QUEUE,
    DTMF_KEYS,
    ENDPOINT,
    ESCAPE_DIGITS,
    LANGUAGE,
    MAILBOX,
    MIXMONITOR_FILE,
    MIXMONITOR_ID,
    MIXMONITOR_OPTIONS,
    MOH_CLASS,
    RECORDING_ID_VARIABLE,
    SAY_DIGITS,
    SAY_NUMBER,
    TRANSFER_DESTINATION,
    VARIABLE_NAME,
    VARIABLE_VALUE,
    is_sound_name,
)
from callcontrol.core.transfers import PHONE_TRANSFER_CONTEXT
from callcontrol.core.transfers import TRANSFER_CONTEXTS as BLIND_TRANSFER_CONTEXTS
from callcontrol.services.ports import AgentDialled, CallerHungUp, ChannelCommandFailed

HANGUP_NOTICE_WAIT_S = 0.5
WHERE = "${CONTEXT}/${EXTEN}/${PRIORITY}"  # where a channel is in the dialplan (GET FULL VARIABLE)


# Dialplan contexts (dialplan/extensions.conf) that own how extensions, outside numbers and the queues the ACD
# does not define are reached, with each one's destination grammar and Dial() options:
# g: the caller comes back to the flow when the other side hangs up (e.g. for a survey); m: music on hold
# instead of ringing while the caller waits.
TRANSFER_CONTEXTS = {
    "extension": ("callcontrol-extensions", TRANSFER_DESTINATION, "g"),
    "number": ("callcontrol-outbound", TRANSFER_DESTINATION, "g"),
    "queue": ("callcontrol-queues", DIALPLAN_QUEUE, "gm"),
}
VOICEMAIL_CONTEXT = "callcontrol"  # the mailboxes' context in dialplan/voicemail.conf
VOICEMAIL_GREETINGS = {"unavailable": "u", "busy": "b", "none": "s"}  # s: only the beep


class _FailedResult(Exception):
    """A result=-1 reply, before we know whether it was a hangup."""


class UnsafeAgiArgument(ChannelCommandFailed, ValueError):
    """A value is not a token we allow on an AGI command line; nothing was sent."""


class DigitLatency:
    """Time from an AGI reply that carries a caller's digit to the next command we send (the service's share
    of how fast a menu reacts). Keeps the latest samples; summary() gives percentiles in milliseconds."""

    def __init__(self, keep: int = 100_000) -> None:
        self._samples: deque[float] = deque(maxlen=keep)

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)

    def summary(self) -> dict[str, float | int]:
        ordered = sorted(self._samples)
        if not ordered:
            return {"count": 0}
        pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)  # noqa: E731
        return {"count": len(ordered), "p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99),
                "max_ms": round(ordered[-1] * 1000, 3)}


class AgiConnection:
    """One call's AGI socket; implements the AgiChannel port with validated command tokens."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 latency: DigitLatency | None = None, position: str | None = None) -> None:
        self._reader = reader
        self._writer = writer
        self._position = position  # context/exten/priority of this session, from the AGI headers
        self.hangup_notified = False
        self._latency = latency
        self._digit_reply_at: float | None = None  # when the last reply carrying a digit was read

    async def command(self, *tokens: str) -> tuple[int, str]:
        """Send one command; return (result, data). Maps every failure to a port exception."""
        if self.hangup_notified:
            raise CallerHungUp("caller hung up")
        if self._digit_reply_at is not None and self._latency is not None:
            self._latency.add(time.perf_counter() - self._digit_reply_at)
        self._digit_reply_at = None
        self._writer.write((" ".join(tokens) + "\n").encode())
        try:
            await self._writer.drain()
        except ConnectionError as exc:
            raise CallerHungUp("AGI socket closed") from exc
        while True:
            line = await self._read_line()
            if line == "HANGUP":  # Asterisk's notice that the channel hung up; the reply still follows
                self.hangup_notified = True
                continue
            parsed = parse_agi_result(line) if line[:3].isdigit() else {"error": "AGIUnknownError", "msg": line}
            code = parsed.get("status_code")
            if code == 100:  # "100 Trying..." precedes the real reply
                continue
            if line.startswith("520-"):
                await self._skip_usage_text()
                raise ChannelCommandFailed(f"AGI usage error for {tokens[0]}")
            try:
                return self._result(tokens, line, parsed)
            except _FailedResult as failure:
                # result=-1 means "failure or hangup"; on a hangup Asterisk's HANGUP notice follows
                # within tens of milliseconds, so wait briefly for it before calling it a failure.
                if self.hangup_notified or await self._hangup_notice_follows():
                    raise CallerHungUp("caller hung up") from None
                raise ChannelCommandFailed(str(failure)) from None

    async def _hangup_notice_follows(self) -> bool:
        try:
            line = await asyncio.wait_for(self._read_line(), HANGUP_NOTICE_WAIT_S)
        except TimeoutError:
            return False
        except CallerHungUp:
            return True
        self.hangup_notified = line == "HANGUP"
        return self.hangup_notified

    def _result(self, tokens: Sequence[str], line: str, parsed: Mapping) -> tuple[int, str]:
        error = parsed.get("error")
        if error == "AGIResultHangup" or line.startswith("511"):
            raise CallerHungUp("caller hung up")
        if error == "AGIAppError":
            raise _FailedResult(f"{' '.join(tokens[:2])} failed (result=-1)")
        if error:
            raise ChannelCommandFailed(f"{tokens[0]}: {error} {parsed.get('msg', '')}".strip())
        value, data = parsed.get("result", ("", ""))
        try:
            return int(value or 0), data  # "200 result= (timeout)" carries no value
        except ValueError as exc:
            raise ChannelCommandFailed(f"unreadable AGI reply {line[:80]!r}") from exc

    async def _read_line(self) -> str:
        try:
            raw = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            raise CallerHungUp("AGI socket closed") from exc
        except (asyncio.LimitOverrunError, ConnectionError) as exc:
            raise CallerHungUp(f"AGI socket unusable: {exc}") from exc
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def _skip_usage_text(self) -> None:
        while not (await self._read_line()).startswith("520 "):
            pass

    # -- the AgiChannel port ------------------------------------------------------------------

    async def answer(self) -> None:
        result, _ = await self.command("ANSWER")
        if result != 0:
            raise ChannelCommandFailed(f"ANSWER returned {result}")

    async def play(self, prompts: Sequence[str], escape_digits: str = "") -> str | None:
        digits = _token(escape_digits, ESCAPE_DIGITS.match, "escape digits")
        for prompt in prompts:
            if not is_sound_name(prompt):
                raise UnsafeAgiArgument(f"sound name {prompt!r} is not a safe token")
            result, data = await self.command("STREAM FILE", prompt, f'"{digits}"')
            if result > 0:
                self._digit_reply_at = time.perf_counter()
                return chr(result)
        return None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        result, _ = await self.command("WAIT FOR DIGIT", str(int(timeout_ms)))
        if result > 0:
            self._digit_reply_at = time.perf_counter()
            return chr(result)
        return None

    async def set_variable(self, name: str, value: str) -> None:
        _token(name, VARIABLE_NAME.match, "variable name")
        _token(value, VARIABLE_VALUE.match, "variable value")
        await self.command("SET VARIABLE", name, f'"{value}"')

    async def collect_digits(self, prompts: Sequence[str], max_digits: int, timeout_ms: int,
                             inter_digit_timeout_ms: int, terminator: str) -> str:
        digits = await self.play(prompts, DTMF_KEYS) or ""
        if not digits:
            digits = await self.wait_for_digit(timeout_ms) or ""
        while digits and len(digits) < max_digits and not (terminator and digits.endswith(terminator)):
            digit = await self.wait_for_digit(inter_digit_timeout_ms)
            if digit is None:
                break
            digits += digit
        return digits[:-1] if terminator and digits.endswith(terminator) else digits

    async def say(self, kind: str, value: str) -> None:
        grammar = {"number": SAY_NUMBER, "digits": SAY_DIGITS}.get(kind)
        if grammar is None or not grammar.match(value):
            raise UnsafeAgiArgument(f"cannot say {kind} {value!r}")
        await self.command(f"SAY {kind.upper()}", value, '""')

    async def set_language(self, language: str) -> None:
        _token(language, LANGUAGE.match, "language")
        await self.command("SET VARIABLE", "CHANNEL(language)", language)

    async def transfer(self, kind: str, target: str, ring_timeout_s: int) -> str:
        """Dial through the operator's dialplan contexts (never a raw channel string); returns DIALSTATUS."""
        route = TRANSFER_CONTEXTS.get(kind)
        if route is None or not route[1].match(target):
            raise UnsafeAgiArgument(f"cannot transfer to {kind} {target!r}")
        context, _, options = route
        await self.command("EXEC", "Dial", f"Local/{target}@{context},{int(ring_timeout_s)},{options}")
        result, data = await self.command("GET VARIABLE", "DIALSTATUS")
        return data if result == 1 and data.isalpha() else "UNKNOWN"

    async def music_on_hold(self, on: bool, moh_class: str = "default") -> None:
        """Start or stop a music-on-hold class on the channel (AGI keeps running meanwhile)."""
        _token(moh_class, MOH_CLASS.match, "music-on-hold class")
        await self.command("SET MUSIC", "ON" if on else "OFF", moh_class)

    async def dial_agent(self, endpoint: str, ring_timeout_s: float, moh_class: str = "default") -> AgentDialled:
        """Ring an agent's device from this call (music on hold meanwhile); returns DIALSTATUS once Dial()
        ends: ANSWER when the conversation took place, else NOANSWER, BUSY, CHANUNAVAIL, ...

        When the caller hangs up during the Dial (ringing or talking), DIALSTATUS is still read: Asterisk
        keeps answering GET VARIABLE on a hung-up channel until the AGI session closes."""
        _token(endpoint, ENDPOINT.match, "agent endpoint")
        _token(moh_class, MOH_CLASS.match, "music-on-hold class")
        # A REFER from the agent's phone looks its target up in TRANSFER_CONTEXT (inherited by the agent's leg: __),
        # the service's transfer context, never the endpoint's own context (docs/transfers.md)
        await self.command("SET VARIABLE", "__TRANSFER_CONTEXT", PHONE_TRANSFER_CONTEXT)
        # where this session runs in the dialplan: the AGI headers said so; asked only when they did not
        here = self._position if self._position is not None else (await self.command("GET FULL VARIABLE", WHERE))[1]
        # g: the caller comes back to this session when the agent hangs up; m: music on hold while it rings
        hung_up = False
        try:
            await self.command("EXEC", "Dial", f"{endpoint},{max(1, round(ring_timeout_s))},gm({moh_class})")
        except CallerHungUp:
            hung_up = True
        status = await self._variable_after_hangup("DIALSTATUS")
        # A blind transfer of the agent's leg async-gotos the caller (AST_SOFTHANGUP_ASYNCGOTO): Dial() returns and
        # AGI calls it a hangup (HANGUP, dead mode), but the channel lives on, moved to a transfer context: its
        # context/exten/priority are no longer this session's (a leg that is itself in [cc-transfer] included)
        if status == "ANSWER":
            there = await self._variable_after_hangup(WHERE, full=True)
            if there != here and there.split("/", 1)[0] in BLIND_TRANSFER_CONTEXTS:
                return AgentDialled(status, transferred=True)
        return AgentDialled(status, caller_hung_up=hung_up or self.hangup_notified)

    async def start_mixmonitor(self, file: str, options: str) -> str | None:
        """Start MixMonitor on this channel (the caller's, the one that persists) writing `file` (as Asterisk sees
        it); returns its MixMonitorID (read from the i() variable), None when Asterisk gave none."""
        _token(file, MIXMONITOR_FILE.match, "recording file")
        _token(options, MIXMONITOR_OPTIONS.match, "MixMonitor options")
        await self.command("EXEC", "MixMonitor", f"{file},{options}")
        result, data = await self.command("GET VARIABLE", RECORDING_ID_VARIABLE)
        return data if result == 1 and MIXMONITOR_ID.match(data) else None

    async def _variable_after_hangup(self, name: str, full: bool = False) -> str:
        """A channel variable read on a channel that may have hung up (GET VARIABLE is allowed on dead channels: a
        HANGUP notice is skipped and noted); UNKNOWN when the session is gone or Asterisk does not say."""
        self._writer.write(f"GET {'FULL ' if full else ''}VARIABLE {name}\n".encode())
        try:
            await self._writer.drain()
            while True:
                line = await asyncio.wait_for(self._read_line(), HANGUP_NOTICE_WAIT_S * 4)
                if line != "HANGUP":
                    break
                self.hangup_notified = True
        except (CallerHungUp, ConnectionError, TimeoutError):
            return "UNKNOWN"
        parsed = parse_agi_result(line) if line[:3].isdigit() else {}
        value, data = parsed.get("result", ("", ""))
        if full:
            return data if value == "1" else "UNKNOWN"
        return data if value == "1" and data.isalpha() else "UNKNOWN"

    async def voicemail(self, mailbox: str, greeting: str) -> str:
        """Record a message in an allow-listed mailbox; returns VMSTATUS (SUCCESS, USEREXIT or FAILED)."""
        option = VOICEMAIL_GREETINGS.get(greeting)
        if option is None or not MAILBOX.match(mailbox):
            raise UnsafeAgiArgument(f"cannot leave a message in mailbox {mailbox!r} with greeting {greeting!r}")
        await self.command("EXEC", "VoiceMail", f"{mailbox}@{VOICEMAIL_CONTEXT},{option}")
        result, data = await self.command("GET VARIABLE", "VMSTATUS")
        return data if result == 1 and data.isalpha() else "FAILED"

    async def hangup(self) -> None:
        """Hang up with Q.850 cause 16 (normal clearing); AGI's own HANGUP would leave cause 0 (unknown)."""
        try:
            await self.command("EXEC", "Hangup", "16")
        except (CallerHungUp, ChannelCommandFailed):
            pass


def _token(value: str, matches: Callable[[str], object], what: str) -> str:
    if not matches(value):
        raise UnsafeAgiArgument(f"{what} {value!r} is not a safe token")
    return value
