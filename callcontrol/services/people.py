"""The people: users added, changed and revoked, their tokens issued and resolved, passwords checked.

Passwords are argon2id-hashed (argon2-cffi, run off the event loop: about 50 ms each). API tokens are
`cc_<lookup id>_<secret>`, shown once and kept as the SHA-256 of the secret (core/people.py says why that is
enough). A resolved token is cached for at most TOKEN_CACHE_S, so a busy client costs one database read per token
every few seconds; a revoke made through this service drops the cache at once, and one made elsewhere (the CLI,
another instance) takes effect within TOKEN_CACHE_S (documented in docs/people.md: at most 5 s).
"""

from __future__ import annotations

import asyncio
import secrets
import string
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from callcontrol.core.identifiers import AGENT_PIN
from callcontrol.core.people import StoredToken, TokenParts, User, digest_matches, parse_token, token_digest
from callcontrol.core.permissions import Principal, Role
from callcontrol.services.ports import Clock, PeopleStore, UnknownUser

TOKEN_CACHE_S = 3.0  # a revoke made elsewhere is honoured within this (the documented bound is 5 s)
LOGIN_TOKEN_DAYS = 1.0  # a token from POST /api/login expires after this
_LOOKUP_ALPHABET = string.ascii_lowercase + string.digits
PASSWORD_HASHER = PasswordHasher()  # argon2id with the library's defaults (RFC 9106's second recommended option)
MIN_PASSWORD = 12


@dataclass(frozen=True)
class _Cached:
    token: StoredToken
    principal: Principal
    until: datetime


def new_token_parts() -> TokenParts:
    """A fresh token: a 12-character lookup id and 32 random bytes of secret."""
    return TokenParts("".join(secrets.choice(_LOOKUP_ALPHABET) for _ in range(12)), secrets.token_urlsafe(32))


class Passwords:
    """argon2id hashing and checking of users' passwords."""

    def __init__(self, hasher: PasswordHasher = PASSWORD_HASHER) -> None:
        self._hasher = hasher
        # what a login for an unknown or password-less user is checked against: it takes as long as a wrong one
        self._dummy = hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """An argon2id hash of the password (ValueError when shorter than MIN_PASSWORD characters)."""
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"a password has at least {MIN_PASSWORD} characters")
        return self._hasher.hash(password)

    def hash_pin(self, pin: str) -> str:
        """An argon2id hash of a phone PIN (ValueError unless it is 4 to 12 digits)."""
        if not AGENT_PIN.match(pin):
            raise ValueError("a phone PIN is 4 to 12 digits")
        return self._hasher.hash(pin)

    def matches(self, password: str, stored: str | None) -> bool:
        """True when the password is the one hashed; always does the argon2 work, even with nothing stored."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


class People:
    """Users and their tokens through a PeopleStore, on a clock."""

    def __init__(self, store: PeopleStore, clock: Clock, cache_s: float = TOKEN_CACHE_S,
                 passwords: Passwords | None = None) -> None:
        self.store = store
        self.passwords = passwords or Passwords()
        self._clock = clock
        self._cache_s = cache_s
        self._cache: dict[str, _Cached] = {}

    async def add_user(self, name: str, role: Role, teams: frozenset[str] = frozenset(),
                       queues: frozenset[str] = frozenset(), agent_id: str | None = None,
                       password: str | None = None) -> tuple[User, str]:
        """A new user and its first API token's text (shown once). InvalidUser, UserExists, ValueError."""
        user = User(name, role, teams, queues, agent_id, created_at=self._clock.now())
        password_hash = await asyncio.to_thread(self.passwords.hash, password) if password is not None else None
        await self.store.add_user(user, password_hash)
        return replace(user, has_password=password_hash is not None), await self.issue_token(name)

    async def set_user(self, name: str, role: Role | None = None, teams: frozenset[str] | None = None,
                       queues: frozenset[str] | None = None, agent_id: str | None = None,
                       password: str | None = None) -> User:
        """Change what is given (role, scope, agent link, password); UnknownUser, InvalidUser, ValueError."""
        user = await self.store.user(name)
        if user is None or user.revoked_at is not None:
            raise UnknownUser(f"no user {name} (or it is revoked)")
        new_role = role if role is not None else user.role
        scoped = new_role is Role.SUPERVISOR
        changed = User(name, new_role, (teams if teams is not None else user.teams) if scoped else frozenset(),
                       (queues if queues is not None else user.queues) if scoped else frozenset(),
                       agent_id if agent_id is not None else (user.agent_id if new_role is Role.AGENT else None),
                       user.created_at, has_password=user.has_password)
        if password is not None:
            await self.store.set_password_hash(name, await asyncio.to_thread(self.passwords.hash, password))
            changed = replace(changed, has_password=True)
        await self.store.update_user(changed)
        self._forget(name)
        return changed

    async def set_phone_pin(self, name: str, pin: str) -> None:
        """The PIN the user keys in on the supervision line of its phone; UnknownUser, ValueError."""
        user = await self.store.user(name)
        if user is None or user.revoked_at is not None:
            raise UnknownUser(f"no user {name} (or it is revoked)")
        await self.store.set_phone_pin_hash(name, await asyncio.to_thread(self.passwords.hash_pin, pin))

    async def phone_pin_matches(self, name: str, pin: str) -> bool:
        """Whether `pin` is the user's phone PIN (the argon2 work is done even when it has none)."""
        return await asyncio.to_thread(self.passwords.matches, pin, await self.store.phone_pin_hash(name))

    async def revoke(self, name: str) -> bool:
        """Revoke the user and its tokens now; False when there is no such user."""
        done = await self.store.revoke_user(name, self._clock.now())
        self._forget(name)
        return done

    async def issue_token(self, name: str, expires_days: float | None = None) -> str:
        """A new API token for the user (its text, shown once); UnknownUser for no (or a revoked) user."""
        user = await self.store.user(name)
        if user is None or user.revoked_at is not None:
            raise UnknownUser(f"no user {name} (or it is revoked)")
        now = self._clock.now()
        parts = new_token_parts()
        expires = now + timedelta(days=expires_days) if expires_days is not None else None
        await self.store.add_token(StoredToken(parts.lookup_id, name, token_digest(parts.secret), now, expires))
        return parts.text

    async def resolve(self, text: str) -> Principal | None:
        """Who a user token acts as; None when it is malformed, unknown, wrong, expired, revoked or its user is."""
        return (await self.resolve_token(text))[0]

    async def resolve_token(self, text: str) -> tuple[Principal | None, str | None]:
        """(who the token acts as or None, the user whose live token id it names, right secret or wrong): the
        second is what failed attempts are counted against, beside the source address."""
        parts = parse_token(text)
        if parts is None:
            return None, None
        now = self._clock.now()
        cached = self._cache.get(parts.lookup_id)
        if cached is None or cached.until <= now:
            cached = await self._load(parts.lookup_id, now)
        if cached is None or not cached.token.usable(now):
            return None, None
        if not digest_matches(parts.secret, cached.token.digest):
            return None, cached.token.user
        return cached.principal, cached.token.user

    async def refreshed(self, principal: Principal) -> Principal | None:
        """The principal as its user stands now (role and scope changed, revoked: None); one that is not a user's
        (the bootstrap token, an agent's PIN) as it was. An open feed re-reads this every few seconds."""
        user = await self.store.user(principal.user)
        if user is None:
            return principal
        return user.principal if user.revoked_at is None else None

    async def login(self, name: str, password: str) -> Principal | None:
        """The user's Principal when the password is its own (argon2 off the loop), else None."""
        stored = await self.store.password_hash(name)
        if not await asyncio.to_thread(self.passwords.matches, password, stored):
            return None
        user = await self.store.user(name)
        return user.principal if user is not None and user.revoked_at is None else None

    async def _load(self, lookup_id: str, now: datetime) -> _Cached | None:
        self._cache.pop(lookup_id, None)
        token = await self.store.token(lookup_id)
        if token is None or not token.usable(now):
            return None
        user = await self.store.user(token.user)
        if user is None or user.revoked_at is not None:
            return None
        if len(self._cache) >= 10_000:  # bounded: drop the stale ones (cheap: they are reloaded on use)
            self._cache = {key: value for key, value in self._cache.items() if value.until > now}
        cached = self._cache[lookup_id] = _Cached(token, user.principal, now + timedelta(seconds=self._cache_s))
        await self.store.touch_token(lookup_id, now)
        return cached

    def _forget(self, name: str) -> None:
        for lookup_id in [key for key, value in self._cache.items() if value.token.user == name]:
            del self._cache[lookup_id]
