"""A call's queue stints, offers and agent legs as rows of their own tables, keyed by the call record's call_id.

The store replaces a call's rows in the transaction that upserts its call row when its stints changed since it
last wrote them, and reads them back for the records it loads, a bounded number of call_ids per statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from callcontrol.adapters.db.models import CallAgentLegRow, CallOfferRow, CallQueueStintRow
from callcontrol.core.calls import CallRecord
from callcontrol.core.interactions import AgentLeg, OfferAttempt, QueueStint

IDS_PER_STATEMENT = 500  # call_ids in one IN (...): well under every backend's limit of bound parameters

_STINTS: Table = CallQueueStintRow.__table__  # type: ignore[assignment]
_OFFERS: Table = CallOfferRow.__table__  # type: ignore[assignment]
_LEGS: Table = CallAgentLegRow.__table__  # type: ignore[assignment]
_TABLES = (_OFFERS, _LEGS, _STINTS)


def _cut(value: str | None, table: Table, column: str) -> str | None:
    """Text cut to its column's size (results and outcomes come from Asterisk and flows)."""
    return None if value is None else value[:table.c[column].type.length]


def _stint_values(call_id: str, position: int, stint: QueueStint) -> dict[str, Any]:
    return {"call_id": call_id, "position": position, "queue": _cut(stint.queue, _STINTS, "queue"),
            "entered_at": stint.entered_at, "left_at": stint.left_at,
            "outcome": _cut(stint.outcome, _STINTS, "outcome"), "waited_s": stint.waited_s,
            "estimated_wait_s": stint.estimated_wait_s, "recovered": stint.recovered}


def _offer_values(call_id: str, stint_position: int, position: int, offer: OfferAttempt) -> dict[str, Any]:
    return {"call_id": call_id, "stint_position": stint_position, "position": position,
            "agent": _cut(offer.agent, _OFFERS, "agent"), "offered_at": offer.offered_at,
            "result": _cut(offer.result, _OFFERS, "result")}


def _leg_values(call_id: str, stint_position: int, leg: AgentLeg) -> dict[str, Any]:
    return {"call_id": call_id, "stint_position": stint_position, "agent": _cut(leg.agent, _LEGS, "agent"),
            "endpoint": _cut(leg.endpoint, _LEGS, "endpoint"), "answered_at": leg.answered_at,
            "ended_at": leg.ended_at}


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        yield ids[start:start + IDS_PER_STATEMENT]


Written = tuple[QueueStint, ...]  # a call's stints as this process last committed them


async def replace_interactions(conn: AsyncConnection, changes: Iterable[tuple[CallRecord, Written | None]]) -> None:
    """Replace the stint, offer and leg rows of these calls (their call rows are written already). Each record
    comes with its stints as last committed (None: not known, e.g. written by an earlier run): only the tables
    that then held rows of the call are cleared, so a new call's first stint costs its inserts alone."""
    changes = list(changes)
    clear: dict[Table, list[str]] = {_STINTS: [], _OFFERS: [], _LEGS: []}
    stints, offers, legs = [], [], []
    for record, before in changes:
        if before is None or before:
            clear[_STINTS].append(record.call_id)
        if before is None or any(stint.offers for stint in before):
            clear[_OFFERS].append(record.call_id)
        if before is None or any(stint.agent_leg is not None for stint in before):
            clear[_LEGS].append(record.call_id)
        for position, stint in enumerate(record.queue_stints):
            stints.append(_stint_values(record.call_id, position, stint))
            offers.extend(_offer_values(record.call_id, position, index, offer)
                          for index, offer in enumerate(stint.offers))
            if stint.agent_leg is not None:
                legs.append(_leg_values(record.call_id, position, stint.agent_leg))
    for table in _TABLES:
        for ids in _chunks(clear[table]):
            await conn.execute(delete(table).where(table.c.call_id.in_(ids)))
    for table, rows in ((_STINTS, stints), (_OFFERS, offers), (_LEGS, legs)):
        if rows:
            await conn.execute(insert(table), rows)


async def load_interactions(conn: AsyncConnection, records: Sequence[CallRecord]) -> None:
    """Give these records (loaded without them) their queue stints, with their offers and agent legs."""
    by_id = {record.call_id: record for record in records}
    offers: dict[tuple[str, int], list[OfferAttempt]] = {}
    legs: dict[tuple[str, int], AgentLeg] = {}
    stints: list[Any] = []
    for ids in _chunks(list(by_id)):
        for row in await conn.execute(select(_OFFERS).where(_OFFERS.c.call_id.in_(ids))
                                      .order_by(_OFFERS.c.call_id, _OFFERS.c.stint_position, _OFFERS.c.position)):
            offers.setdefault((row.call_id, row.stint_position), []).append(
                OfferAttempt(row.agent, row.offered_at, row.result))
        for row in await conn.execute(select(_LEGS).where(_LEGS.c.call_id.in_(ids))):
            legs[(row.call_id, row.stint_position)] = AgentLeg(row.agent, row.endpoint, row.answered_at, row.ended_at)
        stints.extend(await conn.execute(select(_STINTS).where(_STINTS.c.call_id.in_(ids))
                                         .order_by(_STINTS.c.call_id, _STINTS.c.position)))
    for row in stints:
        key = (row.call_id, row.position)
        by_id[row.call_id].queue_stints.append(QueueStint(
            row.queue, row.entered_at, row.outcome, left_at=row.left_at, waited_s=row.waited_s,
            estimated_wait_s=row.estimated_wait_s, offers=tuple(offers.get(key, ())), agent_leg=legs.get(key),
            recovered=bool(row.recovered)))
