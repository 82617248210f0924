"""The composition root: the AMI event dispatcher keeps going past a failing event."""

from __future__ import annotations

import asyncio

from panoramisk.message import Message

from callcontrol.runtime import Service
from callcontrol.settings import Settings


async def test_dispatcher_survives_an_event_whose_handling_raises(tmp_path):
    """An exception while applying one AMI event is logged; the events after it are still applied, in order."""
    service = Service(Settings(ami_secret="s3cret-s3cret", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    applied: list[str] = []

    def apply(event) -> None:
        if event.uniqueid == "bad":
            raise RuntimeError("boom")
        applied.append(event.uniqueid)

    service.calls.apply = apply  # type: ignore[method-assign]
    for uniqueid in ("1.1", "bad", "1.2"):
        service.ami.events.put_nowait(Message({"Event": "Hangup", "Uniqueid": uniqueid, "Linkedid": uniqueid,
                                               "Cause": "16", "Timestamp": "1700000000.0"}))
    task = asyncio.create_task(service._dispatch_channel_events())
    try:
        for _ in range(100):
            if len(applied) == 2:
                break
            await asyncio.sleep(0.01)
        assert applied == ["1.1", "1.2"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

