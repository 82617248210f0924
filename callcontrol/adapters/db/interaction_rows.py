"""A call's queue stints, offers and agent legs as rows of their own tables, keyed by the call record's call_id.

The store brings a call's rows up to date in the transaction that upserts its call row, writing only the rows that
changed since it last wrote them, and reads them back for the records it loads, a bounded number of call_ids per
statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from callcontrol.adapters.db.models import CallAgentLegRow, CallOfferRow, CallQueueStintRow
from callcontrol.core.calls import CallRecord
from callcontrol.core.interactions import AgentLeg, HoldSpan, OfferAttempt, QueueStint
from callcontrol.core.wrapup import Wrapup

IDS_PER_STATEMENT = 500  # call_ids in one IN (...): well under every backend's limit of bound parameters

_STINTS: Table = CallQueueStintRow.__table__  # type: ignore[assignment]
_OFFERS: Table = CallOfferRow.__table__  # type: ignore[assignment]
_LEGS: Table = CallAgentLegRow.__table__  # type: ignore[assignment]
_TABLES = (_OFFERS, _LEGS, _STINTS)
WRAPUP_COLUMNS = ("wrapup_code", "wrapup_note", "wrapup_set_at", "wrapup_set_by")
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _cut(value: str | None, table: Table, column: str) -> str | None:
    """Text cut to its column's size (results and outcomes come from Asterisk and flows)."""
    return None if value is None else value[:table.c[column].type.length]


def _stint_values(call_id: str, position: int, stint: QueueStint) -> dict[str, Any]:
    return {"call_id": call_id, "position": position, "queue": _cut(stint.queue, _STINTS, "queue"),
            "entered_at": stint.entered_at, "left_at": stint.left_at,
            "outcome": _cut(stint.outcome, _STINTS, "outcome"), "waited_s": stint.waited_s,
            "estimated_wait_s": stint.estimated_wait_s, "recovered": stint.recovered, "arrived_at": stint.arrived_at}


def _offer_values(call_id: str, stint_position: int, position: int, offer: OfferAttempt) -> dict[str, Any]:
    return {"call_id": call_id, "stint_position": stint_position, "position": position,
            "agent": _cut(offer.agent, _OFFERS, "agent"), "offered_at": offer.offered_at,
            "result": _cut(offer.result, _OFFERS, "result")}


def _leg_values(call_id: str, stint_position: int, leg: AgentLeg) -> dict[str, Any]:
    return {"call_id": call_id, "stint_position": stint_position, "agent": _cut(leg.agent, _LEGS, "agent"),
            "endpoint": _cut(leg.endpoint, _LEGS, "endpoint"), "answered_at": leg.answered_at,
            "ended_at": leg.ended_at, "hold_spans": _spans_out(leg.hold_spans), **wrapup_values(leg.wrapup),
            "wrapup_required": leg.wrapup_required,
            "transferred_to": _cut(leg.transferred_to, _LEGS, "transferred_to")}


def wrapup_values(wrapup: Wrapup | None) -> dict[str, Any]:
    """The wrap-up columns of a leg row (all None: no code set)."""
    if wrapup is None:
        return dict.fromkeys(WRAPUP_COLUMNS)
    return {"wrapup_code": _cut(wrapup.code, _LEGS, "wrapup_code"),
            "wrapup_note": _cut(wrapup.note, _LEGS, "wrapup_note"), "wrapup_set_at": wrapup.set_at,
            "wrapup_set_by": _cut(wrapup.set_by, _LEGS, "wrapup_set_by")}


def _spans_out(spans: tuple[HoldSpan, ...]) -> list[dict[str, Any]] | None:
    return [{"start": start.isoformat(), "end": end.isoformat() if end else None} for start, end in spans] or None


def _spans_in(value: Any) -> tuple[HoldSpan, ...]:
    """Hold spans as stored (unreadable entries skipped: a row is never lost to one)."""
    spans: list[HoldSpan] = []
    for item in value or ():
        start = _time(item.get("start")) if isinstance(item, dict) else None
        if start is not None:
            spans.append((start, _time(item.get("end"))))
    return tuple(spans)


def _time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return None if moment is None else (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment)


def _leg_of(row: Any) -> AgentLeg:
    wrapup = Wrapup(row.wrapup_code, row.wrapup_set_at, row.wrapup_set_by or "", row.wrapup_note) \
        if row.wrapup_code is not None and row.wrapup_set_at is not None else None
    return AgentLeg(row.agent, row.endpoint, row.answered_at, row.ended_at, hold_spans=_spans_in(row.hold_spans),
                    wrapup=wrapup, wrapup_required=bool(row.wrapup_required), transferred_to=row.transferred_to)


async def set_leg_wrapup(conn: AsyncConnection, call_id: str, stint_position: int, wrapup: Wrapup) -> bool:
    """Write a code on a stored leg (the call is over, its record no longer in memory); False if no such row."""
    result = await conn.execute(update(_LEGS).where(_LEGS.c.call_id == call_id,
                                                    _LEGS.c.stint_position == stint_position)
                                .values(**wrapup_values(wrapup)))
    return bool(result.rowcount)


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        yield ids[start:start + IDS_PER_STATEMENT]


Written = tuple[QueueStint, ...]  # a call's stints as this process last committed them


async def replace_interactions(conn: AsyncConnection, changes: Iterable[tuple[CallRecord, Written | None]]) -> None:
    """Bring the stint, offer and leg rows of these calls up to their records (their call rows are written
    already). Each record comes with its stints as last committed: only the rows that differ from those are
    upserted (a ring, an answer, an end each touch a row or two); None (not known, e.g. written by an earlier
    run) clears the call's rows and writes them all."""
    rewrite: list[CallRecord] = []
    upserts: dict[Table, list[dict[str, Any]]] = {_STINTS: [], _OFFERS: [], _LEGS: []}
    removed: list[tuple[Table, dict[str, Any]]] = []  # rows the record no longer has (not expected; kept exact)
    for record, before in changes:
        if before is None:
            rewrite.append(record)
        else:
            _diff(record.call_id, before, tuple(record.queue_stints), upserts, removed)
    for table in _TABLES:
        for ids in _chunks([record.call_id for record in rewrite]):
            await conn.execute(delete(table).where(table.c.call_id.in_(ids)))
    for record in rewrite:
        for position, stint in enumerate(record.queue_stints):
            _add_stint(record.call_id, position, stint, upserts)
    for table, key in removed:
        await conn.execute(delete(table).where(*(table.c[name] == value for name, value in key.items())))
    for table, rows in upserts.items():
        if rows:
            await conn.execute(_upsert(conn.dialect.name, table), rows)


def _add_stint(call_id: str, position: int, stint: QueueStint, rows: dict[Table, list[dict[str, Any]]]) -> None:
    rows[_STINTS].append(_stint_values(call_id, position, stint))
    rows[_OFFERS].extend(_offer_values(call_id, position, index, offer) for index, offer in enumerate(stint.offers))
    if stint.agent_leg is not None:
        rows[_LEGS].append(_leg_values(call_id, position, stint.agent_leg))


def _diff(call_id: str, before: Written, now: Written, rows: dict[Table, list[dict[str, Any]]],
          removed: list[tuple[Table, dict[str, Any]]]) -> None:
    """The rows that change from `before` to `now`: upserted into `rows`, the ones gone into `removed`."""
    for position, stint in enumerate(now):
        old = before[position] if position < len(before) else None
        if old is None:
            _add_stint(call_id, position, stint, rows)
            continue
        if stint == old:
            continue
        if replace(stint, offers=(), agent_leg=None) != replace(old, offers=(), agent_leg=None):
            rows[_STINTS].append(_stint_values(call_id, position, stint))
        for index, offer in enumerate(stint.offers):
            if index >= len(old.offers) or offer != old.offers[index]:
                rows[_OFFERS].append(_offer_values(call_id, position, index, offer))
        removed.extend((_OFFERS, {"call_id": call_id, "stint_position": position, "position": index})
                       for index in range(len(stint.offers), len(old.offers)))
        if stint.agent_leg is not None and stint.agent_leg != old.agent_leg:
            rows[_LEGS].append(_leg_values(call_id, position, stint.agent_leg))
        elif stint.agent_leg is None and old.agent_leg is not None:
            removed.append((_LEGS, {"call_id": call_id, "stint_position": position}))
    for position in range(len(now), len(before)):
        removed.extend((table, {"call_id": call_id, _POSITION[table]: position}) for table in _TABLES)


_POSITION = {_STINTS: "position", _OFFERS: "stint_position", _LEGS: "stint_position"}  # a row's stint column
_UPSERT_STATEMENTS: dict[tuple[str, str], Any] = {}


def _upsert(dialect: str, table: Table) -> Any:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE every other column, built once per dialect and table."""
    key = (dialect, table.name)
    if key not in _UPSERT_STATEMENTS:
        statement = _INSERTS[dialect](table)
        keys = [column.name for column in table.primary_key.columns]
        values = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
        if table is _LEGS:  # a code set on the stored row after the call (set_leg_wrapup) is never cleared by a
            # snapshot of the record written before it (still queued in the writer): the code columns move together
            values.update({name: case((statement.excluded.wrapup_code.is_(None), table.c[name]),
                                      else_=statement.excluded[name]) for name in WRAPUP_COLUMNS})
        _UPSERT_STATEMENTS[key] = statement.on_conflict_do_update(index_elements=keys, set_=values)
    return _UPSERT_STATEMENTS[key]


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
            legs[(row.call_id, row.stint_position)] = _leg_of(row)
        stints.extend(await conn.execute(select(_STINTS).where(_STINTS.c.call_id.in_(ids))
                                         .order_by(_STINTS.c.call_id, _STINTS.c.position)))
    for row in stints:
        key = (row.call_id, row.position)
        by_id[row.call_id].queue_stints.append(QueueStint(
            row.queue, row.entered_at, row.outcome, left_at=row.left_at, waited_s=row.waited_s,
            estimated_wait_s=row.estimated_wait_s, offers=tuple(offers.get(key, ())), agent_leg=legs.get(key),
            recovered=bool(row.recovered), arrived_at=row.arrived_at))
