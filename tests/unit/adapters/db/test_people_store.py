"""The SQL people store and audit trail (adapters/db/people_store.py) on SQLite and PostgreSQL, with People on top."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command as alembic_command
from sqlalchemy import delete, inspect, select
from structlog.testing import capture_logs

from callcontrol.adapters.db.people_rows import ApiTokenRow, AuditEventRow, UserRow, UserScopeRow
from callcontrol.adapters.db.people_store import SqlAuditTrail, SqlPeopleStore
from callcontrol.adapters.db.schema import alembic_config, upgrade
from callcontrol.adapters.db.store import make_engine
from callcontrol.core.audit import AuditEntry, Outcome
from callcontrol.core.people import InvalidUser, parse_token, token_digest
from callcontrol.core.permissions import Principal, Role
from callcontrol.services.people import TOKEN_CACHE_S, People
from callcontrol.services.ports import UnknownUser, UserExists
from tests.support.clock import SettableClock
from tests.support.paths import MIGRATIONS
from tests.support.stores import fast_passwords

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def engine(migrated_url: str) -> AsyncIterator:
    engine = make_engine(migrated_url)
    async with engine.begin() as conn:
        for model in (AuditEventRow, ApiTokenRow, UserScopeRow, UserRow):
            await conn.execute(delete(model))
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(T0)


@pytest.fixture
def people(engine, clock: SettableClock) -> People:
    return People(SqlPeopleStore(engine), clock, passwords=fast_passwords())


async def test_a_user_is_stored_with_its_scope_and_a_token_that_resolves_to_it(people: People) -> None:
    user, token = await people.add_user("sue", Role.SUPERVISOR, frozenset({"sales", "vip"}), frozenset({"billing"}))
    assert await people.store.user("sue") == user
    assert await people.resolve(token) == Principal("sue", Role.SUPERVISOR, frozenset({"sales", "vip"}),
                                                    frozenset({"billing"}))
    parts = parse_token(token)
    assert parts is not None
    [stored] = await people.store.tokens("sue")
    assert stored.digest == token_digest(parts.secret) and parts.secret not in stored.digest  # only the digest
    assert stored.last_used_at == T0


async def test_names_are_unique_and_definitions_checked(people: People) -> None:
    await people.add_user("ada", Role.AGENT, agent_id="ada")
    with pytest.raises(UserExists):
        await people.add_user("ada", Role.ADMIN)
    with pytest.raises(InvalidUser):
        await people.add_user("bob", Role.AGENT)  # an agent user needs its agent
    with pytest.raises(InvalidUser):
        await people.add_user("Bad Name", Role.ADMIN)


async def test_a_wrong_secret_an_unknown_id_and_garbage_resolve_to_nobody(people: People) -> None:
    _user, token = await people.add_user("ann", Role.ADMIN)
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert await people.resolve(wrong) is None
    assert await people.resolve("cc_zzzzzzzzzzzz_" + "A" * 43) is None
    assert await people.resolve("not a token") is None
    assert await people.resolve(token) is not None


async def test_a_token_expires(people: People, clock: SettableClock) -> None:
    await people.add_user("rita", Role.REPORTING)
    token = await people.issue_token("rita", expires_days=1)
    assert await people.resolve(token) is not None
    clock.current = T0 + timedelta(days=1)
    assert await people.resolve(token) is None


async def test_a_revoke_through_the_service_is_at_once(people: People) -> None:
    _user, token = await people.add_user("ann", Role.ADMIN)
    assert await people.resolve(token) is not None
    assert await people.revoke("ann")
    assert await people.resolve(token) is None
    with pytest.raises(UnknownUser):
        await people.issue_token("ann")


async def test_a_revoke_made_elsewhere_takes_effect_within_the_cache_time(engine, clock: SettableClock) -> None:
    """Another process (the CLI) revokes: this one still honours the token while cached, never past TOKEN_CACHE_S."""
    here, elsewhere = People(SqlPeopleStore(engine), clock), People(SqlPeopleStore(engine), clock)
    _user, token = await here.add_user("ann", Role.ADMIN)
    assert await here.resolve(token) is not None  # cached now
    await elsewhere.revoke("ann")
    clock.current = T0 + timedelta(seconds=TOKEN_CACHE_S - 0.5)
    assert await here.resolve(token) is not None  # the bounded delay
    clock.current = T0 + timedelta(seconds=TOKEN_CACHE_S)
    assert await here.resolve(token) is None
    assert TOKEN_CACHE_S <= 5


async def test_passwords_are_argon2_hashed_and_checked(people: People, engine) -> None:
    await people.add_user("sue", Role.SUPERVISOR, frozenset({"sales"}), password="correct horse battery")
    async with engine.connect() as conn:
        stored = (await conn.execute(select(UserRow.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert (await people.login("sue", "correct horse battery")) == Principal("sue", Role.SUPERVISOR,
                                                                               frozenset({"sales"}))
    assert await people.login("sue", "wrong horse battery") is None
    assert await people.login("nobody", "correct horse battery") is None
    with pytest.raises(ValueError):
        await people.add_user("tim", Role.ADMIN, password="short")


async def test_set_changes_role_and_scope_and_drops_the_cached_principal(people: People) -> None:
    _user, token = await people.add_user("sue", Role.SUPERVISOR, frozenset({"sales"}))
    assert (await people.resolve(token)).teams == {"sales"}
    await people.set_user("sue", teams=frozenset({"support"}))
    assert (await people.resolve(token)).teams == {"support"}
    changed = await people.set_user("sue", role=Role.REPORTING)
    assert changed.teams == frozenset() and (await people.resolve(token)).role is Role.REPORTING
    with pytest.raises(UnknownUser):
        await people.set_user("nobody", role=Role.ADMIN)


async def test_the_audit_trail_keeps_entries_and_filters_them(engine) -> None:
    trail = SqlAuditTrail(engine)
    await trail.record(AuditEntry(T0, "sue", "agent.read", "agent", "ada", Outcome.DENIED, "supervisor",
                                  "10.0.0.1", {"status": 404}))
    await trail.record(AuditEntry(T0 + timedelta(minutes=1), "anonymous", "http.unauthenticated", "route",
                                  "GET /api/agents", Outcome.DENIED, source="10.0.0.2", detail={"x": "y" * 10}))
    await trail.record(AuditEntry(T0 + timedelta(minutes=2), "x" * 300, "a" * 300, "t", "o" * 500, Outcome.ALLOWED))
    everything = await trail.entries()
    assert [entry.actor[:5] for entry in everything] == ["xxxxx", "anony", "sue"]
    assert len(everything[0].actor) == 64 and len(everything[0].object_id) == 128  # newest first, cut to fit
    [sue] = await trail.entries(actor="sue")
    assert sue == AuditEntry(T0, "sue", "agent.read", "agent", "ada", Outcome.DENIED, "supervisor", "10.0.0.1",
                             {"status": 404})
    assert [e.actor for e in await trail.entries(since=T0 + timedelta(seconds=30),
                                                 until=T0 + timedelta(minutes=2))] == ["anonymous"]
    assert [e.actor for e in await trail.entries(action="agent.read")] == ["sue"]


async def test_a_failing_audit_write_is_logged_not_raised(engine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: AuditEventRow.__table__.drop(sync))
    try:
        with capture_logs() as logs:
            await SqlAuditTrail(engine).record(AuditEntry(T0, "sue", "agent.read", "agent", "ada", Outcome.DENIED))
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: AuditEventRow.__table__.create(sync))
    [failed] = [entry for entry in logs if entry["event"] == "audit.write_failed"]
    assert failed["actor"] == "sue" and failed["log_level"] == "error"


def test_0007_goes_down_and_up_again(empty_url: str) -> None:
    """The people's tables come and go with their migration (the rest of the schema untouched)."""
    def tables() -> set[str]:
        async def read() -> set[str]:
            engine = make_engine(empty_url)
            try:
                async with engine.connect() as conn:
                    return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
            finally:
                await engine.dispose()
        return asyncio.run(read())

    people = {"users", "user_scopes", "api_tokens", "audit_events"}
    upgrade(MIGRATIONS, empty_url)
    assert people <= tables()
    alembic_command.downgrade(alembic_config(MIGRATIONS, empty_url), "0006_call_interactions")
    assert not people & tables() and "calls" in tables()
    upgrade(MIGRATIONS, empty_url)
    assert people <= tables()


async def test_a_phone_pin_is_argon2_hashed_checked_and_refused_unless_4_to_12_digits(people: People, engine) -> None:
    await people.add_user("sue", Role.SUPERVISOR, frozenset({"sales"}))
    assert not await people.phone_pin_matches("sue", "")  # no PIN yet: nothing matches
    assert not await people.phone_pin_matches("sue", "4831")
    for bad in ("483", "4831a", "48 31", "１２３４", "4831\n", "1234567890123", "-4831", ""):
        with pytest.raises(ValueError):
            await people.set_phone_pin("sue", bad)
    await people.set_phone_pin("sue", "4831")
    async with engine.connect() as conn:
        stored = (await conn.execute(select(UserRow.phone_pin_hash).where(UserRow.name == "sue"))).scalar_one()
    assert stored.startswith("$argon2id$") and "4831" not in stored
    assert await people.phone_pin_matches("sue", "4831") and not await people.phone_pin_matches("sue", "48310")
    assert await people.store.password_hash("sue") is None  # the PIN is not a password
    await people.set_phone_pin("sue", "123456789012")  # 12 digits: the longest; it replaces the old one
    assert await people.phone_pin_matches("sue", "123456789012") and not await people.phone_pin_matches("sue", "4831")
    assert not await people.phone_pin_matches("nobody", "4831")


async def test_a_phone_pin_needs_a_live_user_and_a_revoke_clears_it(people: People, engine) -> None:
    with pytest.raises(UnknownUser):
        await people.set_phone_pin("nobody", "4831")
    await people.add_user("sue", Role.SUPERVISOR, frozenset({"sales"}))
    await people.set_phone_pin("sue", "4831")
    assert await people.revoke("sue")
    async with engine.connect() as conn:
        stored = (await conn.execute(select(UserRow.phone_pin_hash).where(UserRow.name == "sue"))).scalar_one()
    assert stored is None and not await people.phone_pin_matches("sue", "4831")
    with pytest.raises(UnknownUser):
        await people.set_phone_pin("sue", "4831")
    async with engine.connect() as conn:
        assert (await conn.execute(select(UserRow.phone_pin_hash))).scalar_one() is None


def test_0009_goes_down_and_up_again(empty_url: str) -> None:
    """users.phone_pin_hash comes and goes with its migration; the users and their passwords stay."""
    def columns() -> set[str]:
        async def read() -> set[str]:
            engine = make_engine(empty_url)
            try:
                async with engine.connect() as conn:
                    return {c["name"] for c in await conn.run_sync(lambda sync: inspect(sync).get_columns("users"))}
            finally:
                await engine.dispose()
        return asyncio.run(read())

    def people_then(check):  # noqa: ANN001, ANN202
        async def run():
            engine = make_engine(empty_url)
            try:
                return await check(People(SqlPeopleStore(engine), SettableClock(T0), passwords=fast_passwords()))
            finally:
                await engine.dispose()
        return asyncio.run(run())

    async def add(people: People) -> None:
        await people.add_user("sue", Role.SUPERVISOR, frozenset({"sales"}), password="correct horse battery")
        await people.set_phone_pin("sue", "4831")

    upgrade(MIGRATIONS, empty_url)
    assert "phone_pin_hash" in columns()
    people_then(add)
    alembic_command.downgrade(alembic_config(MIGRATIONS, empty_url), "0008_recordings")
    assert "phone_pin_hash" not in columns() and {"name", "password_hash"} <= columns()
    upgrade(MIGRATIONS, empty_url)
    assert "phone_pin_hash" in columns()

    async def after(people: People) -> tuple:
        return (await people.login("sue", "correct horse battery"), await people.phone_pin_matches("sue", "4831"))

    principal, pin_kept = people_then(after)
    assert principal is not None and principal.teams == {"sales"} and not pin_kept  # the PIN went with the column
