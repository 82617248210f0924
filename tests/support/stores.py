"""In-memory stand-ins for the stores and writers services write to: call records, submitted snapshots, PINs."""

from __future__ import annotations

from collections.abc import Sequence

from callcontrol.core.calls import CallRecord, CallStatus
from callcontrol.services.record_writer import RecordWriter


class MemoryRecordStore:
    """A CallRecordStore keeping rows by call_id, and every batch it was given."""

    def __init__(self, failures: int = 0, writer: RecordWriter | None = None) -> None:
        self.failures = failures
        self.attempts = 0
        self.writer = writer
        self.problems_seen: list[str | None] = []
        self.batches: list[list[tuple[str, CallStatus]]] = []
        self.rows: dict[str, CallRecord] = {}

    async def save(self, records: Sequence[CallRecord]) -> None:
        self.attempts += 1
        if self.writer is not None:
            self.problems_seen.append(self.writer.problem)
        if self.attempts <= self.failures:
            raise ConnectionRefusedError("database is down")
        self.batches.append([(r.call_id, r.status) for r in records])
        self.rows.update({r.call_id: r for r in records})

    async def load_active(self) -> list[CallRecord]:
        return [r for r in self.rows.values() if r.status is CallStatus.ACTIVE]


class BrokenRecordStore(MemoryRecordStore):
    def __init__(self) -> None:
        super().__init__(failures=10**9)


class SubmittedRecords:
    """Same submit() as RecordWriter; keeps the snapshots it was given, in order."""

    def __init__(self) -> None:
        self.submitted: list[CallRecord] = []

    def submit(self, record: CallRecord) -> None:
        self.submitted.append(record.snapshot())

    def statuses(self, uniqueid: str) -> list[CallStatus]:
        return [r.status for r in self.submitted if r.uniqueid == uniqueid]


class PinStore:
    def __init__(self) -> None:
        self.pins = {"ada": "4817"}
        self.verified = 0  # PINs checked against the hash

    async def verify_agent_pin(self, agent_id: str, pin: str) -> bool:
        self.verified += 1
        return self.pins.get(agent_id) == pin


def fast_passwords():
    """argon2id at its cheapest (tests hash many passwords; the service keeps the library's defaults)."""
    from argon2 import PasswordHasher

    from callcontrol.services.people import Passwords

    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
