"""Agents at their phones: the login line (a feature code, then the PIN) that logs them in or out of the ACD.

The agent is known by the device calling (its endpoint, e.g. PJSIP/agent1001): a PIN alone proves who it is,
and nobody can log another agent in from their own phone. The PIN is entered like a flow's secure input: it
is checked against its stored hash and never logged.
"""

from __future__ import annotations

import structlog

from callcontrol.core.acd.agent_states import AgentState
from callcontrol.core.acd.errors import AcdError
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.ports import AcdStore, AgiChannel, CallerHungUp

log = structlog.get_logger(__name__)

PIN_ATTEMPTS = 3
PIN_MAX_DIGITS = 12
PIN_TIMEOUT_MS = 6000
INTER_DIGIT_TIMEOUT_MS = 3000


async def agent_login_line(channel: AgiChannel, device: str, desk: AcdDesk, store: AcdStore) -> str:
    """Ask the agent on `device` for its PIN, then log it in (or out, when it is logged in); returns what
    happened: logged_in, logged_out, unknown_device, wrong_pin, refused or caller_hangup."""
    agent_id = desk.agent_for_device(device)
    try:
        await channel.answer()
        if agent_id is None:
            log.warning("agent_phone.unknown_device", device=device[:64])
            await channel.play(["agent-incorrect"])
            return "unknown_device"
        for _ in range(PIN_ATTEMPTS):
            pin = await channel.collect_digits(["agent-pass"], PIN_MAX_DIGITS, PIN_TIMEOUT_MS,
                                               INTER_DIGIT_TIMEOUT_MS, "#")
            if pin and await store.verify_agent_pin(agent_id, pin):
                break
            log.info("agent_phone.wrong_pin", agent=agent_id)
            await channel.play(["agent-incorrect"])
        else:
            return "wrong_pin"
        try:
            if desk.distributor.agent_status(agent_id).state is AgentState.LOGGED_OUT:
                desk.login(agent_id)
                outcome, prompt = "logged_in", "agent-loginok"
            else:
                desk.logout(agent_id)
                outcome, prompt = "logged_out", "agent-loggedoff"
        except AcdError as exc:  # e.g. ringing or on a call: logging out must wait
            log.info("agent_phone.refused", agent=agent_id, rule=exc.rule)
            await channel.play(["agent-incorrect"])
            return "refused"
        log.info("agent_phone.done", agent=agent_id, outcome=outcome)
        await channel.play([prompt])
        return outcome
    except CallerHungUp:
        return "caller_hangup"
    finally:
        try:
            await channel.hangup()
        except CallerHungUp:
            pass
