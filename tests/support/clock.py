"""Clocks for tests (the services' Clock port): set by hand, ticking a second per reading, or following the loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
DESK_START = datetime(2026, 11, 23, 10, tzinfo=UTC)


class SettableClock:
    """Reads what the test last set (`clock.current = ...`)."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


class TickingClock:
    """Each reading is one second after the previous one, the first one second after `start`."""

    def __init__(self, start: datetime = T0) -> None:
        self.start = start
        self.ticks = 0

    def now(self) -> datetime:
        self.ticks += 1
        return self.start + timedelta(seconds=self.ticks)


class LoopClock:
    """Wall time from `start` that follows the running event loop's clock, so desk timers and readings agree."""

    def __init__(self, start: datetime = DESK_START) -> None:
        self.start = start
        self.started = asyncio.get_running_loop().time()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=asyncio.get_running_loop().time() - self.started)
