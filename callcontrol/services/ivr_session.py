"""Runs one caller through a flow: pure engine steps, performed over the call's AGI channel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import callcontrol.core.ivr as ivr
from callcontrol.core.calls import EndReason
from callcontrol.core.identifiers import DTMF_KEYS
from callcontrol.services.ports import (
    AgiChannel,
    CallerHungUp,
    CallerRef,
    ChannelCommandFailed,
    Clock,
    HttpClient,
    HttpLookupFailed,
    QueueDesk,
)
from callcontrol.services.recording_ports import FlowRecorder


@dataclass(frozen=True)
class CallIo:
    """What a call's effects are performed with: its AGI channel, an HTTP client for data dips, the queue desk."""

    channel: AgiChannel
    http: HttpClient | None = None
    queues: QueueDesk | None = None
    caller: CallerRef | None = None  # who the channel is, for the queue desk
    recorder: FlowRecorder | None = None  # mutes the call's recording while a secure input is entered


@dataclass(frozen=True)
class IvrResult:
    reason: EndReason
    path: tuple[ivr.PathStep, ...]
    error: str | None = None
    variables: dict[str, object] = field(default_factory=dict)  # secure variables are never here


_PATH_END_REASONS = {
    "hangup": EndReason.FLOW_HANGUP,
    "caller_hangup": EndReason.CALLER_HANGUP,
    "error": EndReason.SERVICE_ERROR,
    "step_limit": EndReason.SERVICE_ERROR,
    "shutdown": EndReason.SERVICE_SHUTDOWN,
    "transferred": EndReason.TRANSFERRED,
    "answered": EndReason.AGENT_ANSWERED,
    "returned": EndReason.SERVICE_ERROR,  # a subflow answering a number itself: validation forbids it
}


# Walks that end the call on purpose: the other side of a transfer or the agent hung up first, with no exit
# to take. The dialplan is told (CALLCONTROL_DONE=1: no fallback) and the caller is hung up, cause 16.
_ENDS_THE_CALL = frozenset({"transferred", "answered"})


async def _end_the_call(channel: AgiChannel) -> None:
    try:
        await channel.set_variable("CALLCONTROL_DONE", "1")
        await channel.hangup()
    except (CallerHungUp, ChannelCommandFailed):
        pass  # the caller is gone already: nothing left to end


async def run_flow(
    flow: ivr.Flow,
    channel: AgiChannel,
    clock: Clock,
    on_step: Callable[[ivr.IvrState], None] = lambda state: None,
    on_answered: Callable[[], None] = lambda: None,
    facts: Mapping[str, object] | None = None,
    http: HttpClient | None = None,
    queues: QueueDesk | None = None,
    library: Mapping[str, ivr.Flow] | None = None,
    caller: CallerRef | None = None,
    recorder: FlowRecorder | None = None,
) -> IvrResult:
    """Walk the caller through the flow until it hangs up, the caller does, or something fails.

    A walk that ends the call (a hangup node; a transfer or queue node whose other side hung up first,
    with no exit to take) tells the dialplan with CALLCONTROL_DONE=1; one that stops early (error, shutdown)
    returns with the channel still up and CALLCONTROL_DONE unset, so the dialplan sends the caller to its fallback.
    `library`: the flows subflow and goto nodes can reach, as they were when the call began.
    """
    live = _LiveQueues(queues, {queue for each in (flow, *(library or {}).values()) for queue in each.allow.queues}) \
        if queues is not None else None
    step = ivr.start(flow, clock.now(), facts, library, live)
    io = CallIo(channel, http, queues, caller, recorder if caller is not None else None)
    error: str | None = None
    try:
        await channel.answer()
        on_answered()
        if flow.record_ivr and io.recorder is not None and caller is not None:
            await io.recorder.start_ivr(channel, caller)
        while step.effect is not None:
            on_step(step.state)
            outcome = await _perform(step.effect, io)
            step = ivr.advance(flow, step.state, outcome, clock.now(), library, live)
    except CallerHungUp:
        step = ivr.finish(step.state, "caller_hangup", clock.now())
    except ChannelCommandFailed as exc:
        error = str(exc)
        step = ivr.finish(step.state, "error", clock.now())
    except asyncio.CancelledError:
        on_step(ivr.finish(step.state, "shutdown", clock.now()).state)
        raise
    finally:
        if io.recorder is not None and caller is not None:
            await io.recorder.flow_ended(caller.call_id)
    on_step(step.state)
    assert step.state.end is not None
    if step.state.end in _ENDS_THE_CALL:
        await _end_the_call(channel)
    return IvrResult(_PATH_END_REASONS[step.state.end], step.state.path, error, step.state.public_variables())


class _LiveQueues(Mapping[str, ivr.QueueStatus]):
    """The queues this call's flows allow-list, each asked of the desk only when a condition reads it."""

    def __init__(self, desk: QueueDesk, queue_ids: set[str]) -> None:
        self._desk = desk
        self._ids = sorted(queue_ids)

    def __getitem__(self, queue_id: str) -> ivr.QueueStatus:
        status = self._desk.queue_status(queue_id) if queue_id in self._ids else None
        if status is None:
            raise KeyError(queue_id)
        return status

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


async def _play(effect: ivr.Play, io: CallIo) -> ivr.Outcome:
    await io.channel.play(effect.prompts)
    return ivr.Done()


async def _collect_digit(effect: ivr.CollectDigit, io: CallIo) -> ivr.Outcome:
    digit = await io.channel.play(effect.prompts, DTMF_KEYS)
    if digit is None:
        digit = await io.channel.wait_for_digit(effect.timeout_ms)
    return ivr.NoInput() if digit is None else ivr.DigitPressed(digit)


async def _collect_digits(effect: ivr.CollectDigits, io: CallIo) -> ivr.Outcome:
    if effect.secure and io.recorder is not None and io.caller is not None:
        async with io.recorder.secure_span(io.caller.call_id):  # the file holds silence while they are keyed
            digits = await io.channel.collect_digits(effect.prompts, effect.max_digits, effect.timeout_ms,
                                                     effect.inter_digit_timeout_ms, effect.terminator)
    else:
        digits = await io.channel.collect_digits(effect.prompts, effect.max_digits, effect.timeout_ms,
                                                 effect.inter_digit_timeout_ms, effect.terminator)
    return ivr.DigitsEntered(digits) if digits else ivr.NoInput()


async def _say(effect: ivr.Say, io: CallIo) -> ivr.Outcome:
    await io.channel.say(effect.kind, effect.value)
    return ivr.Done()


async def _set_language(effect: ivr.SetLanguage, io: CallIo) -> ivr.Outcome:
    await io.channel.set_language(effect.language)
    return ivr.Done()


async def _transfer(effect: ivr.Transfer, io: CallIo) -> ivr.Outcome:
    return ivr.TransferEnded(await io.channel.transfer(effect.kind, effect.target, effect.ring_timeout_s))


async def _play_and_hang_up(effect: ivr.PlayAndHangUp, io: CallIo) -> ivr.Outcome:
    await io.channel.play(effect.prompts)
    await io.channel.hangup()
    return ivr.Done()


async def _http(effect: ivr.HttpRequest, io: CallIo) -> ivr.Outcome:
    if io.http is None:
        return ivr.HttpFailed("error")
    try:
        status, body = await io.http.request(effect.method, effect.url, effect.query, effect.body, effect.timeout_s)
    except HttpLookupFailed as exc:
        return ivr.HttpFailed("timeout" if exc.reason == "timeout" else "error")
    return ivr.HttpAnswered(status, body)


async def _enqueue(effect: ivr.Enqueue, io: CallIo) -> ivr.Outcome:
    if io.queues is None or io.caller is None:
        return ivr.QueueLeft("no_agents")
    return await io.queues.wait_in_queue(io.channel, effect, io.caller)


async def _voicemail(effect: ivr.LeaveVoicemail, io: CallIo) -> ivr.Outcome:
    return ivr.VoicemailEnded(await io.channel.voicemail(effect.mailbox, effect.greeting))


_PERFORMERS: dict[type, Callable[[Any, CallIo], Awaitable[ivr.Outcome]]] = {
    ivr.Play: _play, ivr.CollectDigit: _collect_digit, ivr.CollectDigits: _collect_digits, ivr.Say: _say,
    ivr.SetLanguage: _set_language, ivr.Transfer: _transfer, ivr.HttpRequest: _http,
    ivr.PlayAndHangUp: _play_and_hang_up, ivr.Enqueue: _enqueue, ivr.LeaveVoicemail: _voicemail,
}


async def _perform(effect: ivr.Effect, io: CallIo) -> ivr.Outcome:
    return await _PERFORMERS[type(effect)](effect, io)
