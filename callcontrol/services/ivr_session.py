"""Runs one caller through a flow: pure engine steps, performed over the call's AGI channel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import callcontrol.core.ivr as ivr
from callcontrol.core.calls import EndReason
from callcontrol.services.ports import AgiChannel, CallerHungUp, ChannelCommandFailed, Clock

ALL_DIGITS = "0123456789*#"


@dataclass(frozen=True)
class IvrResult:
    reason: EndReason
    path: tuple[ivr.PathStep, ...]
    error: str | None = None


_PATH_END_REASONS = {
    "hangup": EndReason.FLOW_HANGUP,
    "caller_hangup": EndReason.CALLER_HANGUP,
    "error": EndReason.SERVICE_ERROR,
    "step_limit": EndReason.SERVICE_ERROR,
    "shutdown": EndReason.SERVICE_SHUTDOWN,
}


async def run_flow(
    flow: ivr.Flow,
    channel: AgiChannel,
    clock: Clock,
    on_step: Callable[[ivr.IvrState], None] = lambda state: None,
    on_answered: Callable[[], None] = lambda: None,
) -> IvrResult:
    """Walk the caller through the flow until it hangs up, the caller does, or something fails.

    Every flow ends in a hangup node; a walk that stops early (error, shutdown) returns with the
    channel still up and CALLCONTROL_DONE unset, so the dialplan sends the caller to its fallback.
    """
    step = ivr.start(flow, clock.now())
    error: str | None = None
    try:
        await channel.answer()
        on_answered()
        while step.effect is not None:
            on_step(step.state)
            outcome = await _perform(step.effect, channel)
            step = ivr.advance(flow, step.state, outcome, clock.now())
    except CallerHungUp:
        step = ivr.finish(step.state, "caller_hangup", clock.now())
    except ChannelCommandFailed as exc:
        error = str(exc)
        step = ivr.finish(step.state, "error", clock.now())
    except asyncio.CancelledError:
        on_step(ivr.finish(step.state, "shutdown", clock.now()).state)
        raise
    on_step(step.state)
    assert step.state.end is not None
    return IvrResult(_PATH_END_REASONS[step.state.end], step.state.path, error)


async def _perform(effect: ivr.Effect, channel: AgiChannel) -> ivr.Outcome:
    if isinstance(effect, ivr.Play):
        await channel.play(effect.prompts)
        return ivr.Done()
    if isinstance(effect, ivr.CollectDigit):
        digit = await channel.play(effect.prompts, ALL_DIGITS)
        if digit is None:
            digit = await channel.wait_for_digit(effect.timeout_ms)
        return ivr.NoInput() if digit is None else ivr.DigitPressed(digit)
    await channel.play(effect.prompts)
    await channel.hangup()
    return ivr.Done()
