"""Failed agent PIN attempts: after too many wrong PINs an agent's PIN is refused for a growing lockout.

Pure and deterministic (time passed in). One PinAttempts serves every way a PIN is entered (the API's HTTP
Basic, the phone's login line), so switching from one to the other, or redialling, gives no fresh tries.
A success resets the agent. Attempts in flight count against the limit, so a burst of parallel guesses gets
no more tries than one guess after another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class PinPolicy:
    """`max_failures` wrong PINs within `window_s` lock the agent for `lockout_s`; each further lockout (with no
    success between) lasts twice the one before, up to `max_lockout_s`."""

    max_failures: int = 5
    window_s: float = 300.0
    lockout_s: float = 300.0
    max_lockout_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_failures < 1 or min(self.window_s, self.lockout_s) <= 0 or self.max_lockout_s < self.lockout_s:
            raise ValueError("PinPolicy: max_failures >= 1, window_s and lockout_s > 0, max_lockout_s >= lockout_s")

    def lockout_after(self, lockouts: int) -> float:
        """How long the n-th lockout in a row (1, 2, ...) lasts."""
        return min(self.max_lockout_s, self.lockout_s * 2 ** min(lockouts - 1, 32))


@dataclass
class _Agent:
    failures: list[datetime] = field(default_factory=list)  # wrong PINs within the window, oldest first
    pending: int = 0  # attempts started and not finished
    locked_until: datetime | None = None
    lockouts: int = 0  # lockouts since the last success

    def idle(self, now: datetime) -> bool:
        return not self.failures and not self.pending and (self.locked_until is None or self.locked_until <= now) \
            and not self.lockouts


@dataclass(frozen=True)
class Locked:
    """The attempt is refused without checking the PIN; retry after `retry_after_s` (whole seconds, >= 1)."""

    retry_after_s: int
    lockout_started: bool = False  # this failure is the one that locked the agent
    failures: int = 0  # the wrong PINs that led to the lockout (when it started)


class PinAttempts:
    """Per agent: wrong PINs in the window, attempts in flight, and the lockout."""

    def __init__(self, policy: PinPolicy = PinPolicy()) -> None:
        self.policy = policy
        self._agents: dict[str, _Agent] = {}

    def start(self, agent_id: str, now: datetime) -> Locked | None:
        """Before checking a PIN: None reserves an attempt (finish() must follow); a Locked refuses it."""
        agent = self._agents.setdefault(agent_id, _Agent())
        self._forget_old(agent, now)
        if agent.locked_until is not None and agent.locked_until > now:
            return Locked(_seconds(agent.locked_until - now))
        if len(agent.failures) + agent.pending >= self.policy.max_failures:
            return Locked(1)  # the remaining tries are in flight: their answer decides
        agent.pending += 1
        return None

    def finish(self, agent_id: str, ok: bool, now: datetime) -> Locked | None:
        """After checking a PIN started with start(): a success resets the agent; a failure is counted, and the
        one that reaches max_failures locks the agent (returned, with lockout_started)."""
        agent = self._agents.setdefault(agent_id, _Agent())
        agent.pending = max(0, agent.pending - 1)
        if ok:
            agent.failures.clear()
            agent.locked_until, agent.lockouts = None, 0
            self._drop_if_idle(agent_id, now)
            return None
        self._forget_old(agent, now)
        agent.failures.append(now)
        if len(agent.failures) < self.policy.max_failures:
            return None
        failures = len(agent.failures)
        agent.lockouts += 1
        seconds = self.policy.lockout_after(agent.lockouts)
        agent.locked_until = now + timedelta(seconds=seconds)
        agent.failures.clear()
        return Locked(_seconds(timedelta(seconds=seconds)), lockout_started=True, failures=failures)

    def release(self, agent_id: str, now: datetime) -> None:
        """After checking a PIN started with start(), when the check neither failed nor should reset the key (a
        phone's PIN matched: the phone's other users are still guessed at): the attempt is no longer in flight."""
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent.pending = max(0, agent.pending - 1)
            self._drop_if_idle(agent_id, now)

    def locked(self, agent_id: str, now: datetime) -> Locked | None:
        """The lockout in force for this agent now, if any (nothing reserved)."""
        agent = self._agents.get(agent_id)
        if agent is None or agent.locked_until is None or agent.locked_until <= now:
            return None
        return Locked(_seconds(agent.locked_until - now))

    def forget_idle(self, now: datetime) -> None:
        """Drop every key with no failure in the window, no attempt in flight and no lockout in force (its
        doubling is forgotten too: the price of bounded memory when the keys are addresses, not agents)."""
        for key, agent in list(self._agents.items()):
            self._forget_old(agent, now)
            if not agent.failures and not agent.pending and (agent.locked_until is None or agent.locked_until <= now):
                del self._agents[key]

    def tracked(self) -> int:
        """How many agents have something remembered (for tests: memory stays bounded)."""
        return len(self._agents)

    def _forget_old(self, agent: _Agent, now: datetime) -> None:
        horizon = now - timedelta(seconds=self.policy.window_s)
        agent.failures = [at for at in agent.failures if at > horizon]

    def _drop_if_idle(self, agent_id: str, now: datetime) -> None:
        agent = self._agents.get(agent_id)
        if agent is not None and agent.idle(now):
            del self._agents[agent_id]


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))
