"""The people who use callcontrol: a user (role, scope, agent link) and its API tokens' format and digest.

Pure: no I/O, no clock (times are arguments), no randomness (the caller draws a token's parts). A user token is
`cc_<lookup id>_<secret>`: the lookup id (12 lowercase letters and digits) is public and finds the row; the secret
(32 random bytes, URL-safe base64) is kept only as its SHA-256 digest. A fast digest is enough here: the secret
has 256 bits of entropy, so nobody can guess it offline however fast the hash; a password hash (argon2, about
50 ms) on every request would only slow the API down. Passwords, which people choose, are argon2-hashed instead.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from callcontrol.core.identifiers import ACD_ID, API_TOKEN, TEAM_NAME, USER_NAME, USER_NAME_RULE
from callcontrol.core.permissions import Principal, Role

TOKEN_PREFIX = "cc_"
RESERVED_NAMES = frozenset({"api-token", "anonymous", "cli"})  # what the audit trail names the bootstrap token,
# nobody signed in, and the command line: no user may take them


class InvalidUser(ValueError):
    """A user definition that breaks a rule (name, role, scope, agent link); the message says which."""


@dataclass(frozen=True)
class User:
    """A user as stored: its role and scope; revoked users (and their tokens) are refused."""

    name: str
    role: Role
    teams: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    agent_id: str | None = None
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    has_password: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "teams", frozenset(self.teams))
        object.__setattr__(self, "queues", frozenset(self.queues))
        problems = user_problems(self.name, self.role, self.teams, self.queues, self.agent_id)
        if problems:
            raise InvalidUser(f"user {self.name[:64]!r}: " + "; ".join(problems))

    @property
    def principal(self) -> Principal:
        """Who this user's requests act as."""
        return Principal(self.name, self.role, self.teams, self.queues, self.agent_id)


def user_problems(name: str, role: Role, teams: Iterable[str], queues: Iterable[str],
                  agent_id: str | None) -> list[str]:
    """What is wrong with a user definition (empty when nothing is)."""
    problems = []
    if not USER_NAME.match(name):
        problems.append(f"the name must be {USER_NAME_RULE}")
    if name in RESERVED_NAMES:
        problems.append(f"the name {name} is reserved ({', '.join(sorted(RESERVED_NAMES))})")
    problems += [f"team {team[:64]!r} is not a team name" for team in teams if not TEAM_NAME.match(team)]
    problems += [f"queue {queue[:64]!r} is not a queue id" for queue in queues if not ACD_ID.match(queue)]
    if agent_id is not None and not ACD_ID.match(agent_id):
        problems.append(f"agent {agent_id[:64]!r} is not an agent id")
    if role is Role.AGENT and agent_id is None:
        problems.append("an agent user needs --agent (the ACD agent it is)")
    if role is not Role.AGENT and agent_id is not None:
        problems.append("only an agent user is linked to an ACD agent")
    if role is not Role.SUPERVISOR and (set(teams) or set(queues)):
        problems.append("only a supervisor is scoped to teams and queues")
    return problems


@dataclass(frozen=True)
class TokenParts:
    """A user token split: the public lookup id and the secret."""

    lookup_id: str
    secret: str

    @property
    def text(self) -> str:
        """The token as the user is given it (once)."""
        return f"{TOKEN_PREFIX}{self.lookup_id}_{self.secret}"


def parse_token(text: str) -> TokenParts | None:
    """The parts of a well-formed user token; None for anything else (the bootstrap token, garbage)."""
    match = API_TOKEN.match(text)
    return TokenParts(match.group(1), match.group(2)) if match else None


def token_digest(secret: str) -> str:
    """What is stored of a token's secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def digest_matches(secret: str, stored: str) -> bool:
    """Constant-time comparison of a presented secret with the stored digest."""
    return hmac.compare_digest(token_digest(secret).encode(), stored.encode())


@dataclass(frozen=True)
class StoredToken:
    """An API token's row: whose it is, its digest, and when it stops working."""

    lookup_id: str
    user: str
    digest: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)
