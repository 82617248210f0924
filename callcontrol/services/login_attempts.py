"""Failed sign-ins over HTTP (bearer tokens, passwords) limited per source address and per user name.

The same rule as agents' PINs (core/acd/pin_attempts.PinAttempts: too many failures in a window lock the key for
a lockout that doubles each time), with its own policy and two keys: "source:<address>" and "user:<name>". A
locked key is refused before any check (429 with Retry-After). For bearer tokens only failures are counted (a
success from one client behind a shared address must not wipe a guesser's count), against the address and
against the user whose live token id a wrong secret came with; a password success resets the user's count. Keys with nothing left to remember are dropped, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from callcontrol.core.acd.pin_attempts import Locked, PinAttempts, PinPolicy

LOGIN_POLICY = PinPolicy(max_failures=10, window_s=300.0, lockout_s=60.0, max_lockout_s=3600.0)
PRUNE_ABOVE = 10_000  # keys remembered before idle ones are dropped


class LoginAttempts:
    """Counts failed sign-ins by source address and by user name."""

    def __init__(self, policy: PinPolicy = LOGIN_POLICY) -> None:
        self.attempts = PinAttempts(policy)

    def locked(self, now: datetime, source: str | None) -> Locked | None:
        """The lockout in force for this source address (nothing counted)."""
        return self.attempts.locked(_source(source), now)

    def locked_user(self, now: datetime, user: str) -> Locked | None:
        """The lockout in force for this user name (nothing counted)."""
        return self.attempts.locked(_user(user), now)

    def failed(self, now: datetime, source: str | None, user: str | None = None) -> Locked | None:
        """Count a wrong token from this source (and against this user, when the token named one); the lockout
        it starts (or one already in force), if any."""
        found = []
        for key in [_source(source)] + ([_user(user)] if user else []):
            refused = self.attempts.start(key, now)
            found.append(refused if refused is not None else self.attempts.finish(key, False, now))
        if self.attempts.tracked() > PRUNE_ABOVE:
            self.attempts.forget_idle(now)
        return _longest(found)

    def begin_password(self, now: datetime, source: str | None, user: str) -> Locked | None:
        """Before checking a password: None reserves an attempt for the user name (end_password() must follow,
        so parallel guesses get no more tries than sequential ones); a Locked refuses it unchecked."""
        locked = self.locked(now, source)
        return locked if locked is not None else self.attempts.start(_user(user), now)

    def begin_phone_pin(self, now: datetime, source: str) -> Locked | None:
        """Before checking a PIN keyed on a phone (source "phone:<device>"): None reserves an attempt against the
        phone (end_phone_pin() must follow, so parallel calls from one phone get no more tries than calls one
        after another); a Locked refuses it unchecked."""
        return self.attempts.start(_source(source), now)

    def end_phone_pin(self, now: datetime, source: str, ok: bool) -> Locked | None:
        """After the check begun: a failure counts against the phone; a success frees the attempt and wipes
        nothing (a phone shared by several users: knowing one PIN must not give fresh tries at another's)."""
        if ok:
            self.release_phone_pin(now, source)
            return None
        return self.attempts.finish(_source(source), False, now)

    def release_phone_pin(self, now: datetime, source: str) -> None:
        """The check begun did not happen: the attempt is no longer in flight, nothing counted."""
        self.attempts.release(_source(source), now)

    def end_password(self, now: datetime, source: str | None, user: str, ok: bool) -> Locked | None:
        """After the check begun: a success resets the user's count (not the source's); a failure counts for both."""
        locked = self.attempts.finish(_user(user), ok, now)
        if ok:
            return None
        return _longest([locked, self.failed(now, source)])


def _longest(locks: Iterable[Locked | None]) -> Locked | None:
    return max((lock for lock in locks if lock is not None), key=lambda lock: lock.retry_after_s, default=None)


def _source(source: str | None) -> str:
    return f"source:{source or 'unknown'}"


def _user(user: str) -> str:
    return f"user:{user[:64]}"
