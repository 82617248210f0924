"""The AMI event routing: one consumer, in order, one bad event or failing handler never stopping the rest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from panoramisk.message import Message

from callcontrol.adapters.ami import translate
from callcontrol.core.events import ChannelCreated, ChannelHungUp
from callcontrol.services.ami_routing import AmiRouting, ami_routes
from callcontrol.services.call_lifecycle import CallLifecycle

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)


async def consume_until(routing: AmiRouting, messages: list, done) -> None:
    queue: asyncio.Queue = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    task = asyncio.create_task(routing.consume(queue, lambda message: translate(message, NOW)))
    try:
        for _ in range(100):
            if done():
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def hangup(uniqueid: str) -> Message:
    return Message({"Event": "Hangup", "Uniqueid": uniqueid, "Linkedid": uniqueid, "Cause": "16",
                    "Timestamp": "1700000000.0"})


async def test_an_event_whose_handling_raises_is_logged_and_the_events_after_it_still_go_in_order():
    applied: list[str] = []

    def apply(event: ChannelHungUp) -> None:
        if event.uniqueid == "bad":
            raise RuntimeError("boom")
        applied.append(event.uniqueid)

    seen_by_next: list[str] = []
    routing = AmiRouting({ChannelHungUp: (apply, lambda event: seen_by_next.append(event.uniqueid))})
    await consume_until(routing, [hangup("1.1"), hangup("bad"), Message({"Event": "Unrouted"}),
                                  hangup("1.2")], lambda: len(applied) == 2)
    assert applied == ["1.1", "1.2"]
    assert seen_by_next[:2] == ["1.1", "bad"]  # a failing handler does not keep the event from the next one


async def test_the_table_sends_a_hangup_to_the_call_log_then_the_acd_and_a_new_channel_to_the_acd_alone():
    heard: list[tuple[str, str]] = []

    class Calls:
        def apply(self, event) -> None:
            heard.append(("calls", type(event).__name__))

    class Acd:
        def apply(self, event) -> None:
            heard.append(("acd", type(event).__name__))

        def channel_changed(self, event) -> None:
            heard.append(("acd", type(event).__name__))

        def channels_resynced(self, event) -> None:
            heard.append(("acd", type(event).__name__))

    lifecycle = CallLifecycle.__new__(CallLifecycle)
    lifecycle.calls = Calls()  # type: ignore[assignment]
    routing = AmiRouting(ami_routes(lifecycle, Acd()))  # type: ignore[arg-type]
    await routing.route(ChannelHungUp(uniqueid="1.1", linkedid="1.1", cause=16, cause_text="", at=NOW))
    await routing.route(ChannelCreated("1.2", "PJSIP/agent1001-00000001", NOW))
    assert heard == [("calls", "ChannelHungUp"), ("acd", "ChannelHungUp"), ("acd", "ChannelCreated")]
