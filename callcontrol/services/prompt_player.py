"""Carries out the ACD's caller scripts (callcontrol.core.acd.caller_prompts) on a caller's AGI session."""

from __future__ import annotations

from callcontrol.core.acd.caller_prompts import Ask, Collect, Play, Say, Script, Step
from callcontrol.services.ports import AgiChannel


async def play_script(channel: AgiChannel, script: Script) -> str | None:
    """Each step on the channel, its answer sent back to the script; the script's result."""
    try:
        step = next(script)
        while True:
            step = script.send(await _carry_out(channel, step))
    except StopIteration as end:
        return end.value


async def _carry_out(channel: AgiChannel, step: Step) -> str | None:
    if isinstance(step, Play):
        return await channel.play(list(step.sounds), step.escapes)
    if isinstance(step, Say):
        await channel.say(step.kind, step.value)
        return None
    if isinstance(step, Ask):
        key = await channel.play(list(step.sounds), step.keys)
        return key if key is not None else await channel.wait_for_digit(step.wait_ms)
    if isinstance(step, Collect):
        return await channel.collect_digits(list(step.sounds), step.max_digits, step.timeout_ms,
                                            step.inter_digit_ms, step.terminator) or None
    raise TypeError(f"not a caller script step: {step!r}")
