"""Agents at their phones: the login line (a feature code, then the PIN) that logs them in or out of the ACD.

The agent is known by the device calling (its endpoint, e.g. PJSIP/agent1001): a PIN alone proves who it is,
and nobody can log another agent in from their own phone. The PIN is entered like a flow's secure input: it
is checked against its stored hash (services/agent_pins.py: failed attempts limited for the agent, whichever
way they came) and never logged. A locked-out agent hears that the PIN is not accepted and the line hangs up,
without being asked for a PIN: redialling gives no fresh tries.
"""

from __future__ import annotations

import structlog

from callcontrol.core.acd.agent_states import AgentState
from callcontrol.core.acd.errors import AcdError
from callcontrol.core.identifiers import AGENT_PIN_MAX_DIGITS
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.agent_pins import AgentPins
from callcontrol.services.ports import AgiChannel, CallerHungUp

log = structlog.get_logger(__name__)

PIN_ATTEMPTS = 3
PIN_TIMEOUT_MS = 6000
INTER_DIGIT_TIMEOUT_MS = 3000


async def agent_login_line(channel: AgiChannel, device: str, desk: AcdDesk, pins: AgentPins) -> str:
    """Ask the agent on `device` for its PIN, then log it in (or out, when it is logged in); returns what
    happened: logged_in, logged_out, unknown_device, wrong_pin, locked, refused or caller_hangup."""
    agent_id = desk.agent_for_device(device)
    try:
        await channel.answer()
        if agent_id is None:
            log.warning("agent_phone.unknown_device", device=device[:64])
            await channel.play(["agent-incorrect"])
            return "unknown_device"
        if pins.locked(agent_id) is not None:
            log.info("agent_phone.locked", agent=agent_id)
            await channel.play(["agent-incorrect"])
            return "locked"
        for _ in range(PIN_ATTEMPTS):
            pin = await channel.collect_digits(["agent-pass"], AGENT_PIN_MAX_DIGITS, PIN_TIMEOUT_MS,
                                               INTER_DIGIT_TIMEOUT_MS, "#")
            verdict = await pins.check(agent_id, pin, "phone", device=device[:64])
            if verdict.ok:
                break
            await channel.play(["agent-incorrect"])
            if verdict.locked is not None:
                log.info("agent_phone.locked", agent=agent_id)
                return "locked"
            log.info("agent_phone.wrong_pin", agent=agent_id)
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
