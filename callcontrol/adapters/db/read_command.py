"""Opening the database for a read command (`calls recent`, `acd export`): found, never created, or one clear line.

With nothing configured the demo's database is read; a missing, unreachable or unmigrated database is one line
saying what to set or run, never a traceback, and reading never creates a database file.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callcontrol.adapters.db.schema import schema_status
from callcontrol.adapters.db.store import make_engine
from callcontrol.settings import REPO_ROOT, Settings

DEMO_DATABASE = REPO_ROOT / "var" / "demo" / "calls.sqlite3"  # where scripts/demo keeps its database


class NotReadable(Exception):
    """The database cannot be read; the message says why and what to set or run."""


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def database_for_reading(settings: Settings) -> tuple[str, str | None]:
    """(the URL to read, a note to print when it is not the configured one). With CALLCONTROL_DATABASE_URL
    unset and no database at the default place, the demo's database (var/demo/) is read when it exists. A
    SQLite file that does not exist raises NotReadable: reading never creates one."""
    url, note = settings.database_url, None
    configured = "database_url" in settings.model_fields_set
    file = sqlite_file(url)
    if not configured and file is not None and not file.exists() and DEMO_DATABASE.is_file():
        url = f"sqlite+aiosqlite:///{DEMO_DATABASE}"
        note = (f"callcontrol: reading the demo's database {DEMO_DATABASE} (CALLCONTROL_DATABASE_URL is not set; "
                "set it to read another)")
        file = DEMO_DATABASE
    if file is not None and not file.exists():
        where = "CALLCONTROL_DATABASE_URL" if configured else "no CALLCONTROL_DATABASE_URL set, so the default"
        demo = f"sqlite+aiosqlite:///{DEMO_DATABASE}"
        raise NotReadable(
            f"no database at {file.resolve()} ({where}). Set CALLCONTROL_DATABASE_URL to the service's database "
            f"(scripts/demo's is {demo}), or create this one with `callcontrol db upgrade`.")
    return url, note


async def open_for_reading(settings: Settings) -> tuple[AsyncEngine, str | None]:
    """An engine on the database to read, its schema checked current; (engine, note). NotReadable otherwise."""
    url, note = database_for_reading(settings)
    shown = _display(url)
    engine = make_engine(url)
    try:
        found = await schema_status(engine, settings.migrations_dir)
    except (DBAPIError, SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        raise NotReadable(f"cannot read the database {shown}: {_first_line(exc)}") from None
    if not found.is_current:
        await engine.dispose()
        raise NotReadable(f"the database {shown}: {found.describe()} (with the same CALLCONTROL_DATABASE_URL)")
    return engine, note


def _display(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unreadable URL)"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"
