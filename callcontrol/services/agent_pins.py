"""The one place an agent's PIN is checked (the API's HTTP Basic and the phone's login line), attempts limited.

While an agent is locked out its PIN is not even hashed: the answer is the same whatever was entered, and a
guesser costs no PBKDF2 work. A lockout is logged (`acd.pin_locked`: agent, source, failures, seconds); a PIN
never is.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from callcontrol.core.acd.pin_attempts import Locked, PinAttempts, PinPolicy
from callcontrol.services.ports import AcdStore, Clock

log = structlog.get_logger("callcontrol.acd")


@dataclass(frozen=True)
class PinVerdict:
    """ok: the PIN is the agent's; locked: refused without checking (retry_after_s), or this failure locked it."""

    ok: bool
    locked: Locked | None = None


class AgentPins:
    """Checks agent PINs against the store, through one PinAttempts shared by every source."""

    def __init__(self, store: AcdStore, clock: Clock, policy: PinPolicy = PinPolicy()) -> None:
        self._store = store
        self._clock = clock
        self.attempts = PinAttempts(policy)

    def locked(self, agent_id: str) -> Locked | None:
        """The lockout in force for this agent now (checked before even asking for a PIN)."""
        return self.attempts.locked(agent_id, self._clock.now())

    async def check(self, agent_id: str, pin: str, source: str, **where: str | None) -> PinVerdict:
        """Is this the agent's PIN? `source` ("api", "phone") and `where` (device, remote address) are logged
        with a lockout."""
        refused = self.attempts.start(agent_id, self._clock.now())
        if refused is not None:
            return PinVerdict(False, refused)
        ok = False
        try:
            ok = bool(pin) and await self._store.verify_agent_pin(agent_id, pin)
        finally:  # a cancelled check counts as a failure: it cannot be used to try for free
            locked = self.attempts.finish(agent_id, ok, self._clock.now())
        if locked is not None:
            log.warning("acd.pin_locked", agent=agent_id, source=source, failures=locked.failures,
                        lockout_s=locked.retry_after_s, **where)
        return PinVerdict(ok, locked)
