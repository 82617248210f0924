"""The `callcontrol users` commands: add, list, set, revoke and token, straight on the database (the admin's own)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from callcontrol.settings import Settings

ROLES = ("admin", "supervisor", "agent", "reporting")


def add_users_parser(commands: argparse._SubParsersAction) -> None:
    """The `users` sub-commands."""
    users = commands.add_parser("users", help="people: users, roles, scopes and API tokens").add_subparsers(
        dest="users_command", required=True)
    add = users.add_parser("add", help="add a user; prints its first API token (shown once)")
    add.add_argument("name")
    _scope_arguments(add, required_role=True)
    users.add_parser("list", help="every user with its role and scope (never a secret)")
    change = users.add_parser("set", help="change a user's role, scope, agent or password")
    change.add_argument("name")
    _scope_arguments(change, required_role=False)
    revoke = users.add_parser("revoke", help="revoke a user and every token of it (the name is never reused)")
    revoke.add_argument("name")
    token = users.add_parser("token", help="issue a new API token for a user (shown once)")
    token.add_argument("name")
    token.add_argument("--expires-days", type=float, help="the token stops working after this many days")


def _scope_arguments(parser: argparse.ArgumentParser, required_role: bool) -> None:
    parser.add_argument("--role", choices=ROLES, required=required_role)
    parser.add_argument("--team", action="append", help="a team the supervisor sees (repeatable)")
    parser.add_argument("--queue", action="append", help="a queue the supervisor sees (repeatable)")
    parser.add_argument("--agent", help="the ACD agent an agent user is")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read a password (12 characters at least) from standard input, for POST /api/login")
    parser.add_argument("--phone-pin-stdin", action="store_true",
                        help="read a phone PIN (4-12 digits) from standard input: the supervision line's (*71)")


def users_command(settings: Settings, args: argparse.Namespace) -> int:
    """0 done; 1 refused (unknown user, name taken, schema out of date); 2 a bad definition or password."""
    from callcontrol.adapters.db import schema
    from callcontrol.adapters.db.people_store import SqlAuditTrail, SqlPeopleStore
    from callcontrol.adapters.db.store import make_engine
    from callcontrol.core.permissions import Role
    from callcontrol.services.people import People
    from callcontrol.services.ports import SystemClock

    if getattr(args, "password_stdin", False) and getattr(args, "phone_pin_stdin", False):
        print("callcontrol users: give --password-stdin or --phone-pin-stdin, not both", file=sys.stderr)
        return 2
    password = _read_password() if getattr(args, "password_stdin", False) else None
    phone_pin = _read_password("phone PIN: ") if getattr(args, "phone_pin_stdin", False) else None

    async def run() -> int:
        engine = make_engine(settings.database_url)
        try:
            found = await schema.schema_status(engine, settings.migrations_dir)
            if not found.is_current:
                print(f"callcontrol users: {found.describe()}", file=sys.stderr)
                return 1
            people, audit = People(SqlPeopleStore(engine), SystemClock()), SqlAuditTrail(engine)
            role = Role(args.role) if getattr(args, "role", None) else None
            return await _run(people, audit, args, role, password, phone_pin)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _run(people, audit, args: argparse.Namespace, role, password: str | None,  # noqa: ANN001
               phone_pin: str | None = None) -> int:
    from callcontrol.adapters.http.users import user_data
    from callcontrol.core.audit import AuditEntry, Outcome
    from callcontrol.core.identifiers import AGENT_PIN
    from callcontrol.core.people import InvalidUser
    from callcontrol.services.ports import UnknownUser, UserExists

    command = args.users_command
    if command == "list":
        for user in await people.store.users():
            data = user_data(user)
            scope = ",".join([f"team:{t}" for t in data["teams"]] + [f"queue:{q}" for q in data["queues"]])
            state = f"revoked {data['revoked_at']}" if data["revoked_at"] else "active"
            print(f"{data['name']:<24} {data['role']:<11} {data['agent'] or scope or '-':<30} "
                  f"{'password' if data['password'] else '-':<9} {state}")
        return 0
    if phone_pin is not None and not AGENT_PIN.match(phone_pin):  # before any change: all or nothing
        print(f"callcontrol users {command}: a phone PIN is 4 to 12 digits", file=sys.stderr)
        return 2
    teams = frozenset(args.team) if getattr(args, "team", None) else None
    queues = frozenset(args.queue) if getattr(args, "queue", None) else None
    try:
        if command == "add":
            user, token = await people.add_user(args.name, role, teams or frozenset(), queues or frozenset(),
                                                args.agent, password)
            if phone_pin is not None:
                await people.set_phone_pin(user.name, phone_pin)
            print(f"added {user.name} ({user.role.value}); its API token, shown only now:\n{token}")
        elif command == "set":
            user = await people.set_user(args.name, role, teams, queues, args.agent, password)  # checks it all
            if phone_pin is not None:
                await people.set_phone_pin(args.name, phone_pin)
            print(f"changed {user.name}: {user.role.value}")
        elif command == "revoke":
            if not await people.revoke(args.name):
                print(f"callcontrol users revoke: no user {args.name}", file=sys.stderr)
                return 1
            print(f"revoked {args.name} and its tokens (a running service stops honouring them within 5 s)")
        else:
            token = await people.issue_token(args.name, args.expires_days)
            print(f"a new API token for {args.name}, shown only now:\n{token}")
    except (UnknownUser, UserExists) as exc:
        print(f"callcontrol users {command}: {exc}", file=sys.stderr)
        return 1
    except (InvalidUser, ValueError) as exc:
        print(f"callcontrol users {command}: {exc}", file=sys.stderr)
        return 2
    await audit.record(AuditEntry(datetime.now(UTC), "cli", f"user.{'token' if command == 'token' else command}",
                                  "user", args.name, Outcome.ALLOWED, source="cli"))
    return 0


def _read_password(prompt: str = "password: ") -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")
