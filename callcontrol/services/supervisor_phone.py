"""Supervision from a supervisor's own phone, without a browser: the supervision line (*71), its PIN, an agent.

The supervisor is known by the device calling and its PIN: the device must be one of the phones the admin allows a
user (CALLCONTROL_SUPERVISOR_PHONES), the PIN that user's phone PIN (argon2-hashed, `callcontrol users set
--phone-pin-stdin`; a phone shared by several users tells them apart by it), with the limits of failed passwords. Then the agent's number: the digits its
phone's device name ends with (PJSIP/agent1001: 1001), matched whole, never as a prefix. The request goes through
the same rule as the API (Supervision.start_on_phone: the permission, the call's scope, the phone); nothing keyed in
reaches the dialplan: only the agent channel's uniqueid, which the service found, is handed back (CC_SPY_TARGET),
and [supervisors-out] sends the channel on to [cc-supervise] in listen mode (keys 4, 5, 6 change it).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import structlog

from callcontrol.core.identifiers import AGENT_PIN_MAX_DIGITS
from callcontrol.core.people import User
from callcontrol.services.agent_calls import AgentCallTracker
from callcontrol.services.login_attempts import LoginAttempts
from callcontrol.services.people import People
from callcontrol.services.ports import AgiChannel, CallerHungUp, Clock
from callcontrol.services.supervision import Supervision, SupervisionRefused

log = structlog.get_logger(__name__)

PIN_ATTEMPTS = 3
TIMEOUT_MS = 6000
INTER_DIGIT_TIMEOUT_MS = 3000
AGENT_NUMBER_DIGITS = 8
NUMBER_ATTEMPTS = 3
TARGET_VARIABLE = "CC_SPY_TARGET"
_TRAILING_DIGITS = re.compile(r"([0-9]+)\Z")


def agent_number(endpoint: str) -> str | None:
    """The number a supervisor keys in for an agent: the digits its device name ends with (None: no digits)."""
    found = _TRAILING_DIGITS.search(endpoint)
    return found.group(1) if found else None


class SupervisorLine:
    def __init__(self, supervision: Supervision, calls: AgentCallTracker, people: People, attempts: LoginAttempts,
                 clock: Clock, users_of_device: Callable[[str], tuple[str, ...]],
                 agent_endpoints: Callable[[], dict[str, str]]) -> None:
        self._supervision, self._calls, self._people = supervision, calls, people
        self._attempts, self._clock = attempts, clock
        self._users_of_device, self._agent_endpoints = users_of_device, agent_endpoints

    async def answer(self, channel: AgiChannel, device: str, uniqueid: str) -> str:
        """Run the line for the phone on `device` (its channel's uniqueid); returns what happened: supervising,
        unknown_device, locked, wrong_pin, unknown_agent, refused or caller_hangup."""
        try:
            await channel.answer()
            candidates = self._users_of_device(device)
            if not candidates:
                log.warning("supervisor_phone.unknown_device", device=device[:64])
                await channel.play(["vm-incorrect"])
                return "unknown_device"
            user = await self._signed_in(channel, device, candidates)
            if isinstance(user, str):
                return user
            for _ in range(NUMBER_ATTEMPTS):
                number = await channel.collect_digits(["extension"], AGENT_NUMBER_DIGITS, TIMEOUT_MS,
                                                      INTER_DIGIT_TIMEOUT_MS, "#")
                agents = [agent_id for agent_id, endpoint in self._agent_endpoints().items()
                          if number and agent_number(endpoint) == number]
                # a number two agents' devices end with names neither: never a guess between two calls
                calls = [call for agent_id in agents for call in self._calls.calls_of_agent(agent_id)] \
                    if len(agents) == 1 else []
                try:
                    session = await self._supervision.start_on_phone(
                        user.principal, calls[0].call_id if calls else "", device, uniqueid, f"phone:{device[:64]}")
                except SupervisionRefused as refused:
                    log.info("supervisor_phone.refused", user=user.name, reason=refused.code, agents=agents)
                    await channel.play(["pbx-invalid"])
                    if refused.code != "unknown_call":
                        return "refused"
                    continue
                await channel.set_variable(TARGET_VARIABLE, session.target_uniqueid)
                log.info("supervisor_phone.supervising", user=user.name, session=session.id, agent=session.agent_id)
                return "supervising"
            return "unknown_agent"
        except CallerHungUp:
            return "caller_hangup"

    async def _signed_in(self, channel: AgiChannel, device: str, candidates: tuple[str, ...]) -> User | str:
        """The user whose phone PIN is keyed in (the phone may be allowed to several: the PIN tells them apart),
        or what happened instead. Failed PINs count against the phone, as failed passwords count against an
        address: the same limits and lockout."""
        source = f"phone:{device[:64]}"
        for _ in range(PIN_ATTEMPTS):
            if self._attempts.locked(self._clock.now(), source) is not None:
                return await self._locked(channel, device)
            pin = await channel.collect_digits(["vm-password"], AGENT_PIN_MAX_DIGITS, TIMEOUT_MS,
                                               INTER_DIGIT_TIMEOUT_MS, "#")
            if self._attempts.begin_phone_pin(self._clock.now(), source) is not None:
                return await self._locked(channel, device)  # locked meanwhile, or the last tries are in flight
            found: User | None = None
            try:
                for name in candidates:  # every candidate is checked: the time does not tell which one matched
                    user = await self._people.store.user(name)
                    matched = await self._people.phone_pin_matches(name, pin)
                    if matched and found is None and user is not None and user.revoked_at is None:
                        found = user
            except BaseException:  # the check did not happen (the database failed, the call was cancelled)
                self._attempts.release_phone_pin(self._clock.now(), source)
                raise
            locked = self._attempts.end_phone_pin(self._clock.now(), source, found is not None)
            if found is not None:
                return found
            log.info("supervisor_phone.wrong_pin", device=device[:64], 
                     locked_s=locked.retry_after_s if locked else None)
            await channel.play(["vm-incorrect"])
        return "wrong_pin"

    async def _locked(self, channel: AgiChannel, device: str) -> str:
        log.info("supervisor_phone.locked", device=device[:64])
        await channel.play(["vm-incorrect"])
        return "locked"
