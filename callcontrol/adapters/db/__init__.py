"""Database adapter: SQLAlchemy 2 async models, the call-record store, schema checks (Alembic)."""
