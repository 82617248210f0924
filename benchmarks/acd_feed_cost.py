"""What a desk decision costs as the queue grows, with and without a live feed subscriber (no Asterisk needed).

N callers wait in one queue whose only agent is paused; the agent is then paused and resumed over and over
(each a decision the desk carries out and publishes). Printed: microseconds per decision for each N, with no
subscriber and with one. Flat means a decision costs the same however many callers wait.

    .venv/bin/python benchmarks/acd_feed_cost.py --callers 100,200,400,800
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcontrol.core.acd.model import Agent, Call, Queue  # noqa: E402
from callcontrol.services.acd_desk import AcdDesk  # noqa: E402
from callcontrol.services.queue_waiter import Waiter  # noqa: E402
from callcontrol.services.ports import CallerRef  # noqa: E402

ROUNDS = 300


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class NoPbx:
    async def wake(self, channel: str) -> None:
        return None


def per_decision_us(waiting: int, subscribed: bool) -> float:
    desk = AcdDesk([Queue("q", "Q")], [Agent("a", "A", "PJSIP/a")], NoPbx(), Clock())
    desk.login("a")
    desk.pause("a", "meeting")
    now = desk.clock.now()
    for index in range(waiting):
        call_id = f"c{index}"
        desk.waits.waiters[call_id] = Waiter(CallerRef(call_id, call_id, f"PJSIP/trunk-{index}", "1"), "q", now)
        desk._carry_out(desk.distributor.call_arrived(Call(call_id, "q", arrived_at=now), now), "call_arrived",
                        call_id)
    if subscribed:
        desk.subscribe(limit=10 ** 9)
    started = time.perf_counter()
    for _ in range(ROUNDS):
        desk.pause("a", "lunch")
        desk.pause("a", "meeting")
    return 1e6 * (time.perf_counter() - started) / (2 * ROUNDS)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", default="100,200,400,800")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"{'waiting':>8}{'no feed us':>12}{'one feed us':>13}    (per decision)")
    for waiting in (int(n) for n in args.callers.split(",")):
        print(f"{waiting:>8}{per_decision_us(waiting, False):>12.1f}{per_decision_us(waiting, True):>13.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
