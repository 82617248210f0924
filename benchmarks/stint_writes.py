"""What a queue call's record costs the store as it goes: CPU per call for the writes of its stint's moments.

N calls go through the moments a queue call's record is flushed at (queued; an agent rung; a ring missed and a
second agent rung; answered; the call ended with its stint), each moment saved through SqlCallRecordStore in
batches of --batch calls, as the service's flusher and writer save them (a few calls a batch at 30 calls/s).
Prints CPU per call (process time: the event loop and the database driver's thread) and the rows the interaction
tables hold at the end. Asserts nothing.

    .venv/bin/python benchmarks/stint_writes.py [--calls 500] [--rounds 3] [--batch 10] [--no-stints]
        [--url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from callcontrol.adapters.db.models import CallOfferRow, CallQueueStintRow  # noqa: E402
from callcontrol.adapters.db.schema import upgrade  # noqa: E402
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine  # noqa: E402
from callcontrol.core.calls import CallRecord, CallStatus, EndReason  # noqa: E402
from callcontrol.core.interactions import AgentLeg, OfferAttempt, QueueStint  # noqa: E402
from callcontrol.settings import REPO_ROOT  # noqa: E402


def moments(record: CallRecord, at: datetime) -> list[CallRecord]:
    """The snapshots the flusher writes of one queue call, in order."""
    queued = QueueStint("sales", at, "in_progress", estimated_wait_s=4.0)
    first = replace(queued, offers=(OfferAttempt("a1", at + timedelta(seconds=1), "ringing"),))
    second = replace(first, offers=(OfferAttempt("a1", first.offers[0].offered_at, "noanswer"),
                                    OfferAttempt("a2", at + timedelta(seconds=12), "ringing")))
    answered_at = at + timedelta(seconds=14)
    answered = replace(second, offers=(second.offers[0], replace(second.offers[1], result="answered")),
                       agent_leg=AgentLeg("a2", "PJSIP/agent2", answered_at))
    over = replace(answered, outcome="answered", left_at=answered_at + timedelta(seconds=60), waited_s=14.0,
                   agent_leg=replace(answered.agent_leg, ended_at=answered_at + timedelta(seconds=60)))
    snapshots = []
    for stint in (queued, first, second, answered):
        snapshots.append(replace(record, queue_stints=[stint]))
    ended = replace(record, queue_stints=[over], status=CallStatus.ENDED, end_reason=EndReason.CALLER_HANGUP,
                    ended_at=at + timedelta(seconds=75))
    return [*snapshots, ended]


async def run(url: str, calls: int, rounds: int, batch: int, stints: bool = True) -> dict[str, float]:
    engine = make_engine(url)
    store = SqlCallRecordStore(engine)
    cpu = 0.0
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    for round_number in range(rounds):
        records = [CallRecord(call_id=f"1796{round_number:03d}.{n}", uniqueid=f"1796{round_number:03d}.{n}",
                              channel="PJSIP/trunk-1", caller_number="1", caller_name="x", dialed_number="5000",
                              started_at=at) for n in range(calls)]
        await store.save(records)  # the call started (no stint yet): not counted
        timeline = [moments(record, at) for record in records]
        if not stints:
            timeline = [[replace(snapshot, queue_stints=[]) for snapshot in snapshots] for snapshots in timeline]
        started = time.process_time()
        for moment in range(len(timeline[0])):
            for first in range(0, calls, batch):
                await store.save([snapshots[moment] for snapshots in timeline[first:first + batch]])
        cpu += time.process_time() - started
    async with engine.connect() as conn:
        stint_rows = (await conn.execute(select(func.count()).select_from(CallQueueStintRow))).scalar_one()
        offer_rows = (await conn.execute(select(func.count()).select_from(CallOfferRow))).scalar_one()
    await engine.dispose()
    return {"cpu_us_per_call": 1e6 * cpu / (calls * rounds), "stints": stint_rows, "offers": offer_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10, help="calls per save (the service's flushes hold a few)")
    parser.add_argument("--no-stints", action="store_true", help="the same writes without stints (the call rows' cost)")
    parser.add_argument("--url", help="a database to use (its tables must be empty); default: a new SQLite file")
    args = parser.parse_args()
    url = args.url or f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='cc-bench-')}/calls.sqlite3"
    upgrade(REPO_ROOT / "migrations", url)
    figures = asyncio.run(run(url, args.calls, args.rounds, args.batch, not args.no_stints))
    print(f"{args.calls} calls x {args.rounds} rounds, 5 writes each, {args.batch} calls a save: "
          f"CPU {figures['cpu_us_per_call']:.0f} us per call; "
          f"rows at the end: {figures['stints']} stints, {figures['offers']} offers")


if __name__ == "__main__":
    main()
