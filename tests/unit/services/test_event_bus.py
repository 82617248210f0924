"""The event bus: subscribers isolated from each other and from the publisher, in order, failures logged,
drained at shutdown, every task owned."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from callcontrol.services.event_bus import EventBus


@dataclass(frozen=True)
class Happened:
    call_id: str
    n: int


@dataclass(frozen=True)
class Other:
    call_id: str


async def run_bus(bus: EventBus) -> asyncio.Task[None]:
    task = asyncio.create_task(bus.run())
    await asyncio.sleep(0)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_publish_returns_at_once_and_a_slow_subscriber_holds_up_nobody():
    bus = EventBus()
    release = asyncio.Event()
    slow_got: list[int] = []
    fast_got: list[int] = []

    async def slow(event: Happened) -> None:
        await release.wait()
        slow_got.append(event.n)

    bus.subscribe("slow", slow)
    bus.subscribe("fast", lambda event: fast_got.append(event.n))
    task = await run_bus(bus)
    try:
        for n in range(5):
            bus.publish(Happened("c1", n))  # no await: returns while "slow" is stuck
        assert await asyncio.wait_for(_until(lambda: len(fast_got) == 5), 1)
        assert fast_got == [0, 1, 2, 3, 4] and slow_got == []
        release.set()
        assert await bus.drain(1)
        assert slow_got == [0, 1, 2, 3, 4]
    finally:
        await stop(task)


async def test_each_subscriber_sees_the_events_in_the_order_published():
    bus = EventBus()
    got: list[tuple[str, int]] = []

    async def sometimes_slow(event: Happened) -> None:
        if event.n % 3 == 0:
            await asyncio.sleep(0.001)
        got.append((event.call_id, event.n))

    bus.subscribe("ordered", sometimes_slow)
    task = await run_bus(bus)
    try:
        published = [(f"c{n % 4}", n) for n in range(40)]
        for call_id, n in published:
            bus.publish(Happened(call_id, n))
        assert await bus.drain(2)
        assert got == published
    finally:
        await stop(task)


async def test_a_subscriber_raising_is_logged_with_the_event_type_and_goes_on_with_the_next_event():
    bus = EventBus()
    got: list[int] = []
    others: list[int] = []

    def flaky(event: Happened) -> None:
        if event.n == 1:
            raise RuntimeError("boom")
        got.append(event.n)

    bus.subscribe("flaky", flaky)
    bus.subscribe("other", lambda event: others.append(event.n))
    task = await run_bus(bus)
    try:
        with structlog.testing.capture_logs() as logs:
            for n in range(3):
                bus.publish(Happened("c1", n))
            assert await bus.drain(1)
        assert got == [0, 2] and others == [0, 1, 2]
        failed = [entry for entry in logs if entry["event"] == "event_bus.subscriber_failed"]
        assert len(failed) == 1 and failed[0]["subscriber"] == "flaky" and failed[0]["event_type"] == "Happened"
    finally:
        await stop(task)


async def test_an_inline_subscriber_is_called_within_publish_and_its_failure_is_logged_not_raised():
    bus = EventBus()
    got: list[int] = []

    def inline(event: Happened) -> None:
        if event.n == 0:
            raise ValueError("bad")
        got.append(event.n)

    bus.subscribe("inline", inline, inline=True)
    with structlog.testing.capture_logs() as logs:
        bus.publish(Happened("c1", 0))
        bus.publish(Happened("c1", 1))
    assert got == [1]  # no task needed: delivered before publish() returned
    assert [entry["event_type"] for entry in logs if entry["event"] == "event_bus.subscriber_failed"] == ["Happened"]


async def test_a_subscriber_gets_only_the_event_types_it_names():
    bus = EventBus()
    got: list[object] = []
    bus.subscribe("others-only", got.append, Other, inline=True)
    bus.publish(Happened("c1", 0))
    bus.publish(Other("c1"))
    assert got == [Other("c1")]


async def test_a_queue_past_the_high_water_mark_is_logged_once_per_crossing_and_nothing_is_dropped():
    bus = EventBus(high_water=3)
    got: list[int] = []
    bus.subscribe("behind", lambda event: got.append(event.n))
    with structlog.testing.capture_logs() as logs:
        for n in range(10):  # the bus is not running yet: everything queues
            bus.publish(Happened("c1", n))
        task = await run_bus(bus)
        try:
            assert await bus.drain(1)
            for n in range(10, 20):
                bus.publish(Happened("c1", n))
            assert await bus.drain(1)
        finally:
            await stop(task)
    assert got == list(range(20))
    behind = [entry for entry in logs if entry["event"] == "event_bus.subscriber_behind"]
    assert len(behind) == 2 and all(entry["subscriber"] == "behind" for entry in behind)


async def test_drain_waits_for_the_events_in_hand_and_says_false_on_timeout():
    bus = EventBus()
    release = asyncio.Event()

    async def stuck(event: Happened) -> None:
        await release.wait()

    bus.subscribe("stuck", stuck)
    task = await run_bus(bus)
    try:
        bus.publish(Happened("c1", 0))
        assert await bus.drain(0.05) is False
        release.set()
        assert await bus.drain(1) is True
    finally:
        await stop(task)


async def test_cancelling_run_cancels_and_awaits_every_subscriber_task():
    bus = EventBus()
    started = asyncio.Event()
    cancelled: list[str] = []

    async def busy(event: Happened) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append("busy")
            raise

    bus.subscribe("busy", busy)
    bus.subscribe("idle", lambda event: None, Other)
    task = await run_bus(bus)
    bus.publish(Happened("c1", 0))
    await asyncio.wait_for(started.wait(), 1)
    await stop(task)
    assert cancelled == ["busy"]
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("bus-")]


async def _until(condition) -> bool:
    while not condition():
        await asyncio.sleep(0.001)
    return True
