"""The database backends the SQL store tests run on: SQLite always, PostgreSQL (marked postgres) when reachable."""

from __future__ import annotations

import pytest

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
