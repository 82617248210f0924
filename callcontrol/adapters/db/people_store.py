"""The people store and the audit trail over SQLAlchemy async: users, scopes, token digests, audit events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcontrol.adapters.db.people_rows import ApiTokenRow, AuditEventRow, UserRow, UserScopeRow
from callcontrol.core.audit import AuditEntry, Outcome
from callcontrol.core.people import StoredToken, User
from callcontrol.core.permissions import Role
from callcontrol.services.ports import UnknownUser, UserExists

log = structlog.get_logger("callcontrol.people")

_COLUMN_SIZES = {column.name: getattr(column.type, "length", None) for column in AuditEventRow.__table__.columns}


class SqlPeopleStore:
    """Users, their scopes and tokens in the users, user_scopes and api_tokens tables (PeopleStore)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_user(self, user: User, password_hash: str | None) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(UserRow).values(
                    name=user.name, role=user.role.value, agent_id=user.agent_id, password_hash=password_hash,
                    created_at=user.created_at, revoked_at=user.revoked_at))
                await _write_scopes(conn, user)
        except IntegrityError as exc:
            raise UserExists(f"a user named {user.name} exists already") from exc

    async def user(self, name: str) -> User | None:
        found = await self._users(UserRow.name == name)
        return found[0] if found else None

    async def users(self) -> list[User]:
        return await self._users(None)

    async def update_user(self, user: User) -> None:
        async with self._engine.begin() as conn:
            done = await conn.execute(update(UserRow).where(UserRow.name == user.name).values(
                role=user.role.value, agent_id=user.agent_id))
            if done.rowcount == 0:
                raise UnknownUser(f"no user {user.name}")
            await conn.execute(delete(UserScopeRow).where(UserScopeRow.user == user.name))
            await _write_scopes(conn, user)

    async def set_password_hash(self, name: str, password_hash: str | None) -> None:
        async with self._engine.begin() as conn:
            done = await conn.execute(update(UserRow).where(UserRow.name == name).values(password_hash=password_hash))
            if done.rowcount == 0:
                raise UnknownUser(f"no user {name}")

    async def password_hash(self, name: str) -> str | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(UserRow.password_hash).where(
                UserRow.name == name, UserRow.revoked_at.is_(None)))).first()
        return row[0] if row is not None else None

    async def set_phone_pin_hash(self, name: str, pin_hash: str | None) -> None:
        async with self._engine.begin() as conn:
            done = await conn.execute(update(UserRow).where(UserRow.name == name).values(phone_pin_hash=pin_hash))
            if done.rowcount == 0:
                raise UnknownUser(f"no user {name}")

    async def phone_pin_hash(self, name: str) -> str | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(UserRow.phone_pin_hash).where(
                UserRow.name == name, UserRow.revoked_at.is_(None)))).first()
        return row[0] if row is not None else None

    async def revoke_user(self, name: str, at: datetime) -> bool:
        async with self._engine.begin() as conn:
            done = await conn.execute(update(UserRow).where(UserRow.name == name).values(
                revoked_at=at, password_hash=None, phone_pin_hash=None))
            await conn.execute(update(ApiTokenRow).where(ApiTokenRow.user == name, ApiTokenRow.revoked_at.is_(None))
                               .values(revoked_at=at))
        return done.rowcount > 0

    async def add_token(self, token: StoredToken) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(ApiTokenRow).values(
                lookup_id=token.lookup_id, digest=token.digest, user=token.user, created_at=token.created_at,
                expires_at=token.expires_at, revoked_at=token.revoked_at, last_used_at=token.last_used_at))

    async def token(self, lookup_id: str) -> StoredToken | None:
        found = await self._tokens(ApiTokenRow.lookup_id == lookup_id)
        return found[0] if found else None

    async def tokens(self, user: str) -> list[StoredToken]:
        return await self._tokens(ApiTokenRow.user == user)

    async def touch_token(self, lookup_id: str, at: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(ApiTokenRow).where(ApiTokenRow.lookup_id == lookup_id).values(last_used_at=at))

    async def _users(self, where: Any) -> list[User]:
        query = select(UserRow).order_by(UserRow.name)
        scopes = select(UserScopeRow)
        if where is not None:
            query = query.where(where)
            scopes = scopes.where(UserScopeRow.user.in_(select(UserRow.name).where(where)))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            scope_rows = (await conn.execute(scopes)).all()
        teams: dict[str, set[str]] = {}
        queues: dict[str, set[str]] = {}
        for scope in scope_rows:
            (teams if scope.kind == "team" else queues).setdefault(scope.user, set()).add(scope.value)
        return [User(row.name, Role(row.role), frozenset(teams.get(row.name, ())), frozenset(queues.get(row.name, ())),
                     row.agent_id, row.created_at, row.revoked_at, has_password=row.password_hash is not None)
                for row in rows]

    async def _tokens(self, where: Any) -> list[StoredToken]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(ApiTokenRow).where(where).order_by(ApiTokenRow.created_at))).all()
        return [StoredToken(row.lookup_id, row.user, row.digest, row.created_at, row.expires_at, row.revoked_at,
                            row.last_used_at) for row in rows]


async def _write_scopes(conn: AsyncConnection, user: User) -> None:
    rows = [{"user": user.name, "kind": "team", "value": team} for team in sorted(user.teams)]
    rows += [{"user": user.name, "kind": "queue", "value": queue} for queue in sorted(user.queues)]
    if rows:
        await conn.execute(insert(UserScopeRow), rows)


class SqlAuditTrail:
    """The audit trail in audit_events (AuditTrail, AuditReader). Recording never raises: a failure is logged."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, entry: AuditEntry) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(AuditEventRow).values(_values(entry)))
        except Exception as exc:  # the audited request goes on; the loss is logged loudly
            log.error("audit.write_failed", action=entry.action, actor=entry.actor, outcome=entry.outcome.value,
                      object_type=entry.object_type, object_id=entry.object_id[:128], error=repr(exc)[:300])

    async def entries(self, actor: str | None = None, action: str | None = None, since: datetime | None = None,
                      until: datetime | None = None, limit: int = 100) -> list[AuditEntry]:
        query = select(AuditEventRow).order_by(AuditEventRow.at.desc(), AuditEventRow.id.desc()).limit(limit)
        if actor is not None:
            query = query.where(AuditEventRow.actor == actor)
        if action is not None:
            query = query.where(AuditEventRow.action == action)
        if since is not None:
            query = query.where(AuditEventRow.at >= since)
        if until is not None:
            query = query.where(AuditEventRow.at < until)
        async with self._engine.connect() as conn:
            rows: Sequence[Any] = (await conn.execute(query)).all()
        return [AuditEntry(row.at, row.actor, row.action, row.object_type, row.object_id, Outcome(row.outcome),
                           row.role, row.source, dict(row.detail or {})) for row in rows]


def _values(entry: AuditEntry) -> dict[str, Any]:
    """The row of an entry, each text cut to its column (an audit entry is never refused for its length)."""
    values: dict[str, Any] = {"at": entry.at, "actor": entry.actor, "role": entry.role, "action": entry.action,
                              "object_type": entry.object_type, "object_id": entry.object_id,
                              "outcome": entry.outcome.value, "source": entry.source, "detail": dict(entry.detail)}
    for name, size in _COLUMN_SIZES.items():
        if size is not None and isinstance(values.get(name), str):
            values[name] = values[name][:size]
    return values
