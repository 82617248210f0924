"""The in-process bus of domain events: publish without waiting, each subscriber isolated in its own queue.

- `publish()` is synchronous and never blocks or raises: the desk publishes from its Distributor-serialized code
  with no await between decisions.
- A queued subscriber (the default) has its own FIFO queue and one task, owned by `run()`: a slow subscriber
  never holds up the publisher or another subscriber, and it sees the events in the order published (so the
  order of each call's events is kept). A subscriber that raises is logged with the event's type and goes on
  with the next event. Nothing is ever dropped; a queue that grows past the high-water mark is logged once
  per crossing.
- An inline subscriber is called inside `publish()` itself, for handlers that only update memory and must
  stay in order with direct calls of the same code path (the call log: a queue stint ended just before the
  IVR ends must be in the record the IVR's end closes). It too is isolated from failures: a raise is logged.
- `drain(timeout_s)` waits until every queued event was handled (at shutdown, before the writers drain).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger(__name__)

HIGH_WATER = 10_000  # events a queued subscriber may fall behind before it is logged

Handler = Callable[[Any], Awaitable[None] | None]


@dataclass
class _Subscriber:
    name: str
    handler: Handler
    types: tuple[type, ...]  # the event types it is given (empty: all)
    inline: bool
    events: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    above_high_water: bool = False

    def wants(self, event: object) -> bool:
        return not self.types or isinstance(event, self.types)


class EventBus:
    def __init__(self, high_water: int = HIGH_WATER) -> None:
        self.high_water = high_water
        self._subscribers: list[_Subscriber] = []

    def subscribe(self, name: str, handler: Handler, *types: type, inline: bool = False) -> None:
        """Give `handler` every published event of `types` (all events when none is named); `inline`: call it
        inside publish() (memory-only handlers that never await), else from its own queue and task."""
        if inline and inspect.iscoroutinefunction(handler):
            raise ValueError(f"inline subscriber {name} must not be a coroutine function")
        self._subscribers.append(_Subscriber(name, handler, types, inline))

    def publish(self, event: object) -> None:
        """Hand the event to every subscriber that wants it; returns at once, never raises."""
        for subscriber in self._subscribers:
            if not subscriber.wants(event):
                continue
            if subscriber.inline:
                try:
                    subscriber.handler(event)
                except Exception:
                    log.exception("event_bus.subscriber_failed", subscriber=subscriber.name,
                                  event_type=type(event).__name__)
                continue
            subscriber.events.put_nowait(event)
            if not subscriber.above_high_water and subscriber.events.qsize() > self.high_water:
                subscriber.above_high_water = True
                log.warning("event_bus.subscriber_behind", subscriber=subscriber.name,
                            queued=subscriber.events.qsize(), high_water=self.high_water)

    async def run(self) -> None:
        """Deliver to the queued subscribers, one task each, until cancelled (then every task is cancelled and
        awaited)."""
        tasks = [asyncio.create_task(self._deliver(subscriber), name=f"bus-{subscriber.name}")
                 for subscriber in self._subscribers if not subscriber.inline]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every queued event was handled; False when `timeout_s` passed first."""
        try:
            await asyncio.wait_for(asyncio.gather(*(subscriber.events.join() for subscriber in self._subscribers
                                                    if not subscriber.inline)), timeout_s)
        except TimeoutError:
            log.warning("event_bus.drain_timed_out", backlog={subscriber.name: subscriber.events.qsize()
                                                               for subscriber in self._subscribers
                                                               if not subscriber.inline})
            return False
        return True

    async def _deliver(self, subscriber: _Subscriber) -> None:
        while True:
            event = await subscriber.events.get()
            try:
                result = subscriber.handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("event_bus.subscriber_failed", subscriber=subscriber.name,
                              event_type=type(event).__name__)
            finally:
                subscriber.events.task_done()
            if subscriber.above_high_water and subscriber.events.qsize() <= self.high_water:
                subscriber.above_high_water = False
                log.info("event_bus.subscriber_caught_up", subscriber=subscriber.name)
