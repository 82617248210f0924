"""The ACD store over SQLAlchemy async: agents, queues, agent PIN hashes and the agent state transition log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcontrol.adapters.db.models import AcdAgentRow, AcdAgentTransitionRow, AcdCallbackRow, AcdQueueRow
from callcontrol.core.acd.agent_states import AgentState, Cause, Transition
from callcontrol.core.acd.errors import UnknownAgent
from callcontrol.core.acd.model import Agent, BookedCallback, InvalidConfig, Queue
from callcontrol.core.acd.schema import (
    AGENT_KEYS,
    QUEUE_KEYS,
    agent_from_data,
    agent_to_data,
    overflow_targets,
    queue_from_data,
    queue_to_data,
)
from callcontrol.core.identifiers import AGENT_PIN

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
PIN_ITERATIONS = 600_000  # PBKDF2-SHA256 work factor for new PIN hashes (OWASP 2023)
_SCHEME = "pbkdf2_sha256"
_REASON_LENGTH = AcdAgentTransitionRow.__table__.c.reason.type.length  # a longer pause reason is cut to fit

log = structlog.get_logger("callcontrol.acd")


# ---------------------------------------------------------------- PIN hashes


def hash_pin(pin: str, iterations: int = PIN_ITERATIONS, salt: bytes | None = None) -> str:
    """PBKDF2-SHA256 with a fresh 16-byte salt, as "pbkdf2_sha256$iterations$salt_hex$hash_hex"."""
    if not AGENT_PIN.match(pin):
        raise ValueError("a PIN is 4 to 12 digits")
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"{_SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str | None) -> bool:
    """True when the PIN hashes to the stored value; compared in constant time. Unknown formats never match."""
    try:
        scheme, iterations_text, salt_hex, hash_hex = (stored or "").split("$")
        iterations, salt, expected = int(iterations_text), bytes.fromhex(salt_hex), bytes.fromhex(hash_hex)
    except ValueError:
        scheme, iterations, salt, expected = "", PIN_ITERATIONS, b"\0" * 16, b""
    # hash even when there is nothing to compare against, so a missing agent or PIN takes as long as a wrong PIN
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, max(1, min(iterations, 10 * PIN_ITERATIONS)))
    return hmac.compare_digest(digest, expected) and scheme == _SCHEME and bool(expected)


# ---------------------------------------------------------------- rows <-> model


def _agent_values(agent: Agent, now: datetime) -> dict[str, Any]:
    data = agent_to_data(agent)
    return {"id": agent.id, "name": agent.name, "endpoint": agent.endpoint, "teams": data["teams"],
            "skills": data["skills"], "wrap_up_s": agent.wrap_up_s, "updated_at": now}


def _queue_values(queue: Queue, now: datetime) -> dict[str, Any]:
    data = queue_to_data(queue)
    values = {column.name: data[column.name] for column in AcdQueueRow.__table__.columns
              if column.name not in ("updated_at",)}
    return values | {"updated_at": now}


def _agent_of(row: Any) -> Agent:
    """The agent of a row, through the ACD schema; InvalidConfig naming every problem when the row is not valid."""
    return _of(agent_from_data({key: value for key, value in row._mapping.items() if key in AGENT_KEYS}))


def _queue_of(row: Any) -> Queue:
    """The queue of a row, through the ACD schema (overflow targets are checked over all rows on writing)."""
    return _of(queue_from_data({key: value for key, value in row._mapping.items() if key in QUEUE_KEYS}))


def _of(built: tuple[Any, list[Any]]) -> Any:
    value, problems = built
    errors = [problem.message for problem in problems if problem.severity == "error"]
    if value is None or errors:
        raise InvalidConfig("; ".join(errors))
    return value


class SqlAcdStore:
    """Implements the AcdStore port: the ACD configuration, agent PINs and the agent state transition log."""

    def __init__(self, engine: AsyncEngine, pin_iterations: int = PIN_ITERATIONS) -> None:
        self._engine = engine
        self._insert = _INSERTS[engine.dialect.name]
        self._pin_iterations = pin_iterations

    # ------------------------------------------------------------ configuration

    async def load_config(self) -> tuple[list[Agent], list[Queue]]:
        """Every agent and queue, sorted by id.

        An agent row the model refuses (an endpoint written before the endpoint grammar, or by hand) is left out
        with an `acd.agent_refused` error line: it is never offered a call. Its row stays, to be fixed with
        PUT /api/config/agents/{id} or `callcontrol acd import`, or removed.
        """
        async with self._engine.connect() as conn:
            agent_rows = (await conn.execute(select(AcdAgentRow.__table__).order_by(AcdAgentRow.id))).all()
            queues = (await conn.execute(select(AcdQueueRow.__table__).order_by(AcdQueueRow.id))).all()
        agents = []
        for row in agent_rows:
            try:
                agents.append(_agent_of(row))
            except InvalidConfig as exc:
                log.error("acd.agent_refused", agent=row.id, reason=str(exc),
                          fix="PUT /api/config/agents/<id> or callcontrol acd import with a valid endpoint")
        return agents, [_queue_of(row) for row in queues]

    async def remove_config(self, agent_ids: Sequence[str] = (), queue_ids: Sequence[str] = ()) -> bool:
        """Delete these agents and queues (rows the model refuses included); True when a row was deleted. An
        overflow left pointing at a removed queue raises InvalidConfig and nothing is deleted."""
        async with self._engine.begin() as conn:
            removed = (await conn.execute(delete(AcdAgentRow).where(AcdAgentRow.id.in_(agent_ids)))).rowcount
            removed += (await conn.execute(delete(AcdQueueRow).where(AcdQueueRow.id.in_(queue_ids)))).rowcount
            await self._check_overflows(conn)
        return removed > 0

    async def queue_ids(self) -> set[str]:
        async with self._engine.connect() as conn:
            return set((await conn.execute(select(AcdQueueRow.id))).scalars())

    async def save_config(self, agents: Sequence[Agent], queues: Sequence[Queue], replace: bool = False) -> None:
        """Insert or update these agents and queues in one transaction (PIN hashes are kept).

        With replace, agents and queues not given are deleted (their transition history stays). An overflow
        to a queue that would not exist afterwards raises InvalidConfig and nothing is written.
        """
        for kind, ids in (("agent", [a.id for a in agents]), ("queue", [q.id for q in queues])):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            if twice:
                raise InvalidConfig(f"{kind} id(s) given twice: {', '.join(twice)}")
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            if replace:
                await conn.execute(delete(AcdAgentRow).where(AcdAgentRow.id.not_in([a.id for a in agents])))
                await conn.execute(delete(AcdQueueRow).where(AcdQueueRow.id.not_in([q.id for q in queues])))
            await self._upsert(conn, AcdAgentRow, [_agent_values(agent, now) for agent in agents])
            await self._upsert(conn, AcdQueueRow, [_queue_values(queue, now) for queue in queues])
            await self._check_overflows(conn)

    async def _upsert(self, conn: AsyncConnection, model: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        statement = self._insert(model)
        columns = [name for name in rows[0] if name != "id"]
        statement = statement.on_conflict_do_update(
            index_elements=["id"], set_={name: statement.excluded[name] for name in columns})
        await conn.execute(statement, rows)

    @staticmethod
    async def _check_overflows(conn: AsyncConnection) -> None:
        rows = (await conn.execute(select(AcdQueueRow.id, AcdQueueRow.escalations))).all()
        ids = {row.id for row in rows}
        for row in rows:
            for target in overflow_targets(row.escalations or []):
                if target not in ids:
                    raise InvalidConfig(f"queue {row.id}: overflow to unknown queue '{target}'")

    # ------------------------------------------------------------ PINs

    async def set_agent_pin(self, agent_id: str, pin: str) -> None:
        """Store the hash of a 4-12 digit PIN (ValueError otherwise); UnknownAgent when there is no such agent."""
        stored = await asyncio.to_thread(hash_pin, pin, self._pin_iterations)
        async with self._engine.begin() as conn:
            result = await conn.execute(update(AcdAgentRow).where(AcdAgentRow.id == agent_id)
                                        .values(pin_hash=stored, updated_at=datetime.now(UTC)))
            if result.rowcount == 0:
                raise UnknownAgent(f"no agent {agent_id}")

    async def verify_agent_pin(self, agent_id: str, pin: str) -> bool:
        """True when the agent exists, has a PIN and this is it (constant-time comparison)."""
        async with self._engine.connect() as conn:
            stored = (await conn.execute(select(AcdAgentRow.pin_hash).where(AcdAgentRow.id == agent_id))).scalar()
        return await asyncio.to_thread(pin_matches, pin, stored)

    # ------------------------------------------------------------ transitions

    async def append_transitions(self, transitions: Iterable[Transition]) -> None:
        """Log agent state changes in the order given (one transaction)."""
        rows = [{"agent_id": t.agent_id, "from_state": str(t.from_state), "to_state": str(t.to_state), "at": t.at,
                 "cause": str(t.cause), "reason": t.reason[:_REASON_LENGTH] if t.reason is not None else None,
                 "call_id": t.call_id} for t in transitions]
        if not rows:
            return
        async with self._engine.begin() as conn:
            await conn.execute(AcdAgentTransitionRow.__table__.insert(), rows)

    async def callbacks_changed(self, changes: Sequence[tuple[str, BookedCallback]]) -> None:
        """Apply ("booked", callback) and ("done", callback) in order, in one transaction (idempotent)."""
        if not changes:
            return
        async with self._engine.begin() as conn:
            for kind, callback in changes:
                await conn.execute(delete(AcdCallbackRow).where(AcdCallbackRow.call_id == callback.call_id))
                if kind == "booked":
                    await conn.execute(AcdCallbackRow.__table__.insert(), [{
                        "call_id": callback.call_id, "queue_id": callback.queue_id, "number": callback.number,
                        "arrived_at": callback.arrived_at, "priority": callback.priority,
                        "skills": dict(callback.skills)}])

    async def booked_callbacks(self) -> list[BookedCallback]:
        """Every callback still waiting, oldest first."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(AcdCallbackRow).order_by(AcdCallbackRow.arrived_at))).all()
        return [BookedCallback(row.call_id, row.queue_id, row.number, row.arrived_at, row.priority,
                               dict(row.skills or {})) for row in rows]

    async def latest_states(self) -> dict[str, tuple[AgentState, str | None, datetime]]:
        """Each agent's last logged transition: (state, pause reason, since), to rebuild states after a restart."""
        last = (select(AcdAgentTransitionRow.agent_id, func.max(AcdAgentTransitionRow.id).label("last_id"))
                .group_by(AcdAgentTransitionRow.agent_id).subquery())
        table = AcdAgentTransitionRow.__table__
        query = select(table.c.agent_id, table.c.to_state, table.c.reason, table.c.at).join(
            last, table.c.id == last.c.last_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row.agent_id: (AgentState(row.to_state), row.reason, row.at) for row in rows}

    async def transitions(self, agent_id: str | None = None, limit: int = 1000) -> list[Transition]:
        """The logged transitions in order (oldest first), optionally of one agent; for reports and tests."""
        table = AcdAgentTransitionRow.__table__
        query = select(table).order_by(table.c.id).limit(limit)
        if agent_id is not None:
            query = query.where(table.c.agent_id == agent_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Transition(row.agent_id, AgentState(row.from_state), AgentState(row.to_state), row.at,
                           Cause(row.cause), row.reason, row.call_id) for row in rows]
