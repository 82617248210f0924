"""`callcontrol users`: add (token printed once), list, set, revoke and token, on a migrated SQLite database."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest

from callcontrol.adapters.db.people_store import SqlAuditTrail, SqlPeopleStore
from callcontrol.adapters.db.schema import upgrade
from callcontrol.adapters.db.store import make_engine
from callcontrol.cli import main
from callcontrol.services.people import People
from callcontrol.services.ports import SystemClock
from tests.support.paths import REPO


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'people.sqlite3'}"
    upgrade(REPO / "migrations", url)
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", url)
    return url


def resolve(url: str, token: str):
    async def run():
        engine = make_engine(url)
        try:
            return await People(SqlPeopleStore(engine), SystemClock()).resolve(token)
        finally:
            await engine.dispose()
    return asyncio.run(run())


def audit_actions(url: str) -> list[str]:
    async def run():
        engine = make_engine(url)
        try:
            return [entry.action for entry in await SqlAuditTrail(engine).entries()]
        finally:
            await engine.dispose()
    return asyncio.run(run())


def test_add_prints_a_token_once_that_works_and_list_shows_no_secret(database, capsys) -> None:
    assert main(["users", "add", "sue", "--role", "supervisor", "--team", "north", "--queue", "qs"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    principal = resolve(database, token)
    assert principal.user == "sue" and principal.teams == {"north"} and principal.queues == {"qs"}
    assert main(["users", "list"]) == 0
    listed = capsys.readouterr().out
    assert "sue" in listed and "team:north,queue:qs" in listed and token not in listed
    assert audit_actions(database) == ["user.add"]


def test_set_token_and_revoke(database, capsys, monkeypatch) -> None:
    assert main(["users", "add", "ann", "--role", "agent", "--agent", "ann"]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "set", "ann", "--password-stdin"]) == 0
    assert main(["users", "token", "ann", "--expires-days", "2"]) == 0
    second = capsys.readouterr().out.strip().splitlines()[-1]
    assert second != first and resolve(database, second).agent_id == "ann"
    assert main(["users", "revoke", "ann"]) == 0
    assert resolve(database, first) is None and resolve(database, second) is None
    assert main(["users", "token", "ann"]) == 1
    assert audit_actions(database) == ["user.revoke", "user.token", "user.set", "user.add"]


def test_bad_definitions_are_one_line(database, capsys) -> None:
    assert main(["users", "add", "bob", "--role", "agent"]) == 2  # an agent user needs --agent
    assert "needs --agent" in capsys.readouterr().err
    assert main(["users", "add", "bob", "--role", "admin"]) == 0
    assert main(["users", "add", "bob", "--role", "admin"]) == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["users", "revoke", "nobody"]) == 1


def phone_pin_matches(url: str, name: str, pin: str) -> bool:
    async def run():
        engine = make_engine(url)
        try:
            return await People(SqlPeopleStore(engine), SystemClock()).phone_pin_matches(name, pin)
        finally:
            await engine.dispose()
    return asyncio.run(run())


def test_set_and_add_read_a_phone_pin_from_stdin(database, capsys, monkeypatch) -> None:
    assert main(["users", "add", "sue", "--role", "supervisor", "--team", "sales"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("4831\n"))
    assert main(["users", "set", "sue", "--phone-pin-stdin"]) == 0
    assert phone_pin_matches(database, "sue", "4831") and not phone_pin_matches(database, "sue", "4832")
    monkeypatch.setattr(sys, "stdin", io.StringIO("73910482\n"))
    assert main(["users", "add", "tom", "--role", "supervisor", "--team", "support", "--phone-pin-stdin"]) == 0
    assert phone_pin_matches(database, "tom", "73910482")
    out = capsys.readouterr()
    assert "4831" not in out.out + out.err and "73910482" not in out.out + out.err
    assert audit_actions(database) == ["user.add", "user.set", "user.add"]


def test_a_bad_phone_pin_is_refused_and_changes_nothing(database, capsys, monkeypatch) -> None:
    assert main(["users", "add", "sue", "--role", "supervisor", "--team", "sales"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("4831\n"))
    assert main(["users", "set", "sue", "--phone-pin-stdin"]) == 0
    capsys.readouterr()
    for bad in ("12a4", "123", "1234567890123"):
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"{bad}\n"))
        assert main(["users", "set", "sue", "--phone-pin-stdin", "--team", "support"]) == 2
        assert "4 to 12 digits" in capsys.readouterr().err
    assert phone_pin_matches(database, "sue", "4831") and resolve_teams(database, "sue") == {"sales"}
    monkeypatch.setattr(sys, "stdin", io.StringIO("4831\n"))
    assert main(["users", "set", "nobody", "--phone-pin-stdin"]) == 1
    assert audit_actions(database) == ["user.set", "user.add"]


def test_a_password_and_a_phone_pin_together_are_refused(database, capsys, monkeypatch) -> None:
    assert main(["users", "add", "sue", "--role", "supervisor", "--team", "sales"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n4831\n"))
    assert main(["users", "set", "sue", "--password-stdin", "--phone-pin-stdin"]) == 2
    assert "not both" in capsys.readouterr().err
    assert not phone_pin_matches(database, "sue", "4831") and sys.stdin.read() == "a long enough password\n4831\n"
    assert main(["users", "add", "tom", "--role", "admin", "--password-stdin", "--phone-pin-stdin"]) == 2
    assert audit_actions(database) == ["user.add"]


def resolve_teams(url: str, name: str) -> frozenset[str]:
    async def run():
        engine = make_engine(url)
        try:
            user = await SqlPeopleStore(engine).user(name)
            return user.teams
        finally:
            await engine.dispose()
    return asyncio.run(run())


def test_a_refused_add_or_set_with_a_phone_pin_leaves_no_change_behind(database, capsys, monkeypatch) -> None:
    """A bad PIN refuses the whole add (no user without its token shown, nothing unaudited); a set refused for its
    other changes does not change the PIN."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("12\n"))
    assert main(["users", "add", "tom", "--role", "supervisor", "--team", "sales", "--phone-pin-stdin"]) == 2
    assert "4 to 12 digits" in capsys.readouterr().err
    assert main(["users", "list"]) == 0
    assert "tom" not in capsys.readouterr().out
    assert main(["users", "add", "sue", "--role", "supervisor", "--team", "sales"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("4831\n"))
    assert main(["users", "set", "sue", "--role", "agent", "--phone-pin-stdin"]) == 2  # an agent needs --agent
    assert not phone_pin_matches(database, "sue", "4831")
    assert audit_actions(database) == ["user.add"]
