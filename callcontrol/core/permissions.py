"""Who may do what, on which team: roles, the permissions each carries, and the scope of a signed-in principal.

Pure rules, no I/O. A `Principal` is whoever a request or a command acts as, once authenticated; the HTTP layer
asks `allows(principal, permission)` for the route, then the scope functions for the object it touches, so a
supervisor of team A never sees team B's agents, calls, recordings or feed events.

- admin: everything, everywhere (the configuration, the people and the audit trail are the admin's alone).
- supervisor: the live floor, reports and recordings, scoped to its teams and/or queues. An agent is in scope
  when one of its teams is; a queue when it is named, or when it accepts one of the supervisor's teams; a call
  (or a recording) when its queue or its agent is.
- agent: its own state and its own calls; its own recordings only where the queue allows it.
- reporting: read-only figures (queues, calls, KPIs); no agents' live state, no audio, no people, no live calls
  (their counts are the queues' live figures).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class Role(Enum):
    """What a user is."""

    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    REPORTING = "reporting"


class Permission(Enum):
    """What a route or a command needs."""

    PROBE = "probe"  # the liveness and readiness probes (nobody needs to sign in for them)
    SIGN_IN = "sign_in"  # POST /api/login: a name and password for a token (nobody is signed in yet; rate-limited)
    FLOWS_READ = "flows.read"
    QUEUES_READ = "queues.read"  # the queues' live figures
    AGENTS_READ = "agents.read"  # agents' live state
    AGENT_OPERATE = "agent.operate"  # log in/out, pause, resume an agent (an agent only itself)
    FEED_READ = "feed.read"  # the live event feed (filtered by scope)
    CALLS_READ = "calls.read"  # call records
    CALLS_VIEW = "calls.view"  # the calls in progress (GET /api/calls, scoped: a supervisor's, an agent's own)
    CALLS_SUPERVISE = "calls.supervise"  # listen to, whisper to, barge into a live call (a supervisor: its teams')
    CALLS_WRAPUP = "calls.wrapup"  # set the wrap-up code of an agent leg (an agent only on its own legs)
    CALLS_TRANSFER = "calls.transfer"  # transfer a live call (the agent on it, a supervisor in scope, the admin)
    CONFIG_WRITE = "config.write"  # the ACD configuration (agents, queues, rules)
    CONFIG_READ = "config.read"
    RECORDINGS_LIST = "recordings.list"
    RECORDINGS_LISTEN = "recordings.listen"  # audio: listen and download
    RECORDINGS_CONTROL = "recordings.control"  # pause, resume, stop a live recording
    RECORDINGS_MANAGE = "recordings.manage"  # legal hold, purge
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    API_READ = "api.read"  # the API's OpenAPI description (every signed-in role)


_SUPERVISOR = frozenset({
    Permission.FLOWS_READ, Permission.QUEUES_READ, Permission.AGENTS_READ, Permission.AGENT_OPERATE,
    Permission.FEED_READ, Permission.CALLS_READ, Permission.RECORDINGS_LIST,
    Permission.RECORDINGS_LISTEN, Permission.RECORDINGS_CONTROL, Permission.CALLS_VIEW,
    Permission.CALLS_SUPERVISE, Permission.CALLS_WRAPUP, Permission.CALLS_TRANSFER})
_AGENT = frozenset({
    Permission.AGENTS_READ, Permission.AGENT_OPERATE, Permission.FEED_READ, Permission.CALLS_READ,
    Permission.CALLS_VIEW, Permission.RECORDINGS_LIST, Permission.RECORDINGS_LISTEN, Permission.RECORDINGS_CONTROL,
    Permission.CALLS_WRAPUP, Permission.CALLS_TRANSFER})
_REPORTING = frozenset({Permission.QUEUES_READ, Permission.CALLS_READ, Permission.FLOWS_READ})

OPEN_PERMISSIONS = frozenset({Permission.PROBE, Permission.SIGN_IN})
_SIGNED_IN = frozenset({Permission.API_READ})  # what every role may  # routes anybody may call, signed in or not

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.SUPERVISOR: _SUPERVISOR | OPEN_PERMISSIONS | _SIGNED_IN,
    Role.AGENT: _AGENT | OPEN_PERMISSIONS | _SIGNED_IN,
    Role.REPORTING: _REPORTING | OPEN_PERMISSIONS | _SIGNED_IN,
}


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a user's name and role, its scope (teams, queues) and, for an agent, its agent id."""

    user: str
    role: Role
    teams: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    agent_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "teams", frozenset(self.teams))
        object.__setattr__(self, "queues", frozenset(self.queues))
        if self.role is Role.AGENT and not self.agent_id:
            raise ValueError(f"user {self.user}: an agent user must be linked to an ACD agent")


def allows(principal: Principal, permission: Permission) -> bool:
    """True when the principal's role carries the permission (scope is checked on the object, separately)."""
    return permission in PERMISSIONS[principal.role]


def sees_agent(principal: Principal, agent_id: str, agent_teams: Iterable[str]) -> bool:
    """An agent's state and calls: the admin, a supervisor of one of its teams, the agent itself."""
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.SUPERVISOR:
        return not principal.teams.isdisjoint(agent_teams)
    return principal.role is Role.AGENT and principal.agent_id == agent_id


def sees_queue(principal: Principal, queue: str, queue_teams: Iterable[str]) -> bool:
    """A queue's figures and calls: the admin and reporting, a supervisor naming it or one of the teams it accepts."""
    if principal.role in (Role.ADMIN, Role.REPORTING):
        return True
    if principal.role is Role.SUPERVISOR:
        return queue in principal.queues or not principal.teams.isdisjoint(queue_teams)
    return False


def sees_call(principal: Principal, queues: Iterable[tuple[str, Iterable[str]]],
              agents: Iterable[tuple[str, Iterable[str]]]) -> bool:
    """A call (its record, its recordings): in scope through one of its queues or one of its agents, each given
    with its teams. A reporting user sees every call's figures (and never its audio: that is a permission)."""
    if principal.role in (Role.ADMIN, Role.REPORTING):
        return True
    return (any(sees_queue(principal, queue, teams) for queue, teams in queues)
            or any(sees_agent(principal, agent_id, teams) for agent_id, teams in agents))
