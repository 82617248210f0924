"""The admin token of the HTTP API tests and the Authorization header that carries it."""

from __future__ import annotations

TOKEN = "s3cret-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
