"""Schema versioning through Alembic: upgrade to head, and tell whether a database is current."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["database_url"] = database_url
    return config


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Apply migrations (synchronous: call it outside the event loop, e.g. from the CLI)."""
    if not (migrations_dir / "env.py").is_file():
        raise FileNotFoundError(f"no Alembic migrations at {migrations_dir} (setting migrations_dir)")
    command.upgrade(alembic_config(migrations_dir, database_url), revision)


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.is_current:
            return f"schema at {self.head}"
        found = self.current or "empty database"
        return f"schema is out of date ({found}, expected {self.head}): run `callcontrol db upgrade`"


async def schema_status(engine: AsyncEngine, migrations_dir: Path) -> SchemaStatus:
    head = ScriptDirectory.from_config(alembic_config(migrations_dir, "")).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration head in {migrations_dir}")
    async with engine.connect() as conn:
        current = await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    return SchemaStatus(current, head)
