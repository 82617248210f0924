"""Databases for the SQL store tests: a new empty or migrated one per backend (SQLite; PostgreSQL when reachable)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Iterator

import asyncpg
import pytest

from callcontrol.adapters.db.schema import upgrade
from tests.support.backends import BACKENDS, PG
from tests.support.paths import MIGRATIONS



async def _pg_execute(statement: str) -> None:
    conn = await asyncpg.connect(database="test", timeout=3, **PG)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def new_pg_database() -> Iterator[Callable[[], str]]:
    """Creates fresh PostgreSQL databases (cc_unit_<hex>) on demand; drops them all at the end of the session."""
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
        message = f"PostgreSQL at {PG['host']}:{PG['port']} (user {PG['user']}, database test) is unreachable: {exc!r}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    created: list[str] = []

    def create() -> str:
        name = f"cc_unit_{secrets.token_hex(6)}"
        asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"

    yield create
    for name in created:
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def new_database(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, pytest.FixtureRequest], str]:
    """Returns a URL to a new, empty database of the given backend."""

    def create(backend: str, request: pytest.FixtureRequest) -> str:
        if backend == "postgres":
            return request.getfixturevalue("new_pg_database")()
        path = tmp_path_factory.mktemp("db") / "callcontrol.sqlite3"
        return f"sqlite+aiosqlite:///{path}"

    return create


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_url(request: pytest.FixtureRequest, new_database: Callable) -> str:
    """One database per backend for the session, upgraded to head by Alembic."""
    url = new_database(request.param, request)
    upgrade(MIGRATIONS, url)
    return url


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, new_database: Callable) -> str:
    """A database with no tables yet."""
    return new_database(request.param, request)
