"""Where the repository's shipped files are, for tests that read the flows, migrations and Asterisk config."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "migrations"
