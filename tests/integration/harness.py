"""Drives the real parts for integration tests: SIPp callers, an AMI observer, a call placed and its record read.

The service process and the records it writes are in tests/support/service_process.py."""

from __future__ import annotations

import asyncio

import sqlalchemy

from callcontrol.adapters.ami import AmiClient
from callcontrol.adapters.db.store import make_engine
from callcontrol.core.calls import CallRecord, path_label
from callcontrol.devtools.sipp import SippRun, place_call
from tests.support.polling import eventually
from tests.support.service_process import Records


class AmiObserver:
    """Our own AMI client on the real Asterisk, collecting events for assertions."""

    def __init__(self, secret: str, port: int = 5038) -> None:
        self.client = AmiClient("127.0.0.1", port, "callcontrol", secret, reconnect_min_s=0.2, reconnect_max_s=1)
        self.seen: list[dict[str, str]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> AmiObserver:
        self._tasks = [asyncio.create_task(self.client.run()), asyncio.create_task(self._collect())]
        await eventually(lambda: self.client.ready, 15, what="AMI observer login")
        return self

    async def _collect(self) -> None:
        while True:
            item = await self.client.events.get()
            if hasattr(item, "items"):
                self.seen.append(dict(item.items()))

    def user_events(self, name: str) -> list[dict[str, str]]:
        return [e for e in self.seen if e.get("Event") == "UserEvent" and e.get("UserEvent") == name]

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def most_channels_per_phone(events: list[dict[str, str]]) -> dict[str, int]:
    """For each agent phone, the most channels Asterisk had on it at once (AMI Newchannel/Hangup, in order):
    1 everywhere means no phone was ever offered two calls."""
    most: dict[str, int] = {}
    live: dict[str, set[str]] = {}
    for event in events:
        channel = event.get("Channel", "")
        if not channel.startswith("PJSIP/agent"):
            continue
        phone = channel.rsplit("-", 1)[0]
        if event.get("Event") == "Newchannel":
            live.setdefault(phone, set()).add(channel)
            most[phone] = max(most.get(phone, 0), len(live[phone]))
        elif event.get("Event") == "Hangup":
            live.get(phone, set()).discard(channel)
    return most


def labels(record: CallRecord) -> list[str]:
    """The record's path as the labels logs and flow tests use."""
    return [path_label(step) for step in record.ivr_path]


async def call_and_record(records: Records, caller: str, digits: list[tuple[int, str]], flow_id: str,
                          agent: asyncio.Task[SippRun] | None = None,
                          number: str = "5002") -> tuple[SippRun, SippRun | None, CallRecord]:
    """One call (with an agent SIPp running beside it, if any); returns both SIPp runs and the ended record."""
    call = place_call(caller, number=number, digits=digits, timeout_s=40)
    if agent is None:
        runs = [await call, None]
    else:
        try:
            runs = await asyncio.gather(call, agent)
        finally:  # never leave an agent SIPp holding the port for the next test
            agent.cancel()
            await asyncio.gather(agent, return_exceptions=True)
    (record,) = await records.ended(1)
    assert runs[0].returncode == 0, f"{labels(record)}\n{runs[0].output}"
    if runs[1] is not None:
        assert runs[1].returncode == 0 and runs[1].successful == 1, f"{labels(record)}\n{runs[1].output}"
    assert record.flow_id == flow_id and record.dialed_number == number and record.caller_number == caller
    return runs[0], runs[1], record


async def transitions(database_url: str) -> list[tuple[str, str, str]]:
    """The logged agent transitions (agent, to_state, cause), in order."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(sqlalchemy.text(
                "SELECT agent_id, to_state, cause FROM acd_agent_transitions ORDER BY id"))
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()
