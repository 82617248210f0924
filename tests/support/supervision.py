"""Fakes for supervision's fast unit tests: supervisor phones that record what the service asked of Asterisk, and
the audit trail in memory, written and read back as the database's (AuditTrail and AuditReader)."""

from __future__ import annotations

from datetime import datetime

from callcontrol.core.audit import AuditEntry
from callcontrol.core.supervision import Mode


class RecordedPhones:
    def __init__(self, fail_ring: Exception | None = None, fail_set_mode: Exception | None = None,
                 fail_hang_up: Exception | None = None) -> None:
        self.rung: list[tuple[str, str, Mode, str, str]] = []
        self.modes: list[tuple[str, Mode]] = []
        self.hung_up: list[str] = []
        self.fail_ring = fail_ring
        self.fail_set_mode = fail_set_mode
        self.fail_hang_up = fail_hang_up

    @staticmethod
    def originate_action_id(session_id: str) -> str:
        return f"cc-supervise-{session_id}"

    async def ring(self, session_id: str, endpoint: str, mode: Mode, target_uniqueid: str, spyer_uniqueid: str,
                   ring_timeout_s: float, agent_id: str) -> None:
        if self.fail_ring is not None:
            raise self.fail_ring
        self.rung.append((session_id, endpoint, mode, target_uniqueid, spyer_uniqueid))

    async def set_mode(self, spyer_uniqueid: str, mode: Mode) -> None:
        if self.fail_set_mode is not None:
            raise self.fail_set_mode
        self.modes.append((spyer_uniqueid, mode))

    async def hang_up(self, spyer_uniqueid: str) -> None:
        if self.fail_hang_up is not None:
            raise self.fail_hang_up
        self.hung_up.append(spyer_uniqueid)


class MemoryAuditLog:
    """The audit trail in memory, read back like SqlAuditTrail: newest first (ties: the later written first),
    `since` inclusive, `until` exclusive."""

    def __init__(self) -> None:
        self.written: list[AuditEntry] = []  # in the order written

    async def record(self, entry: AuditEntry) -> None:
        self.written.append(entry)

    async def entries(self, actor: str | None = None, action: str | None = None, since: datetime | None = None,
                      until: datetime | None = None, limit: int = 100) -> list[AuditEntry]:
        found = [e for e in self.written if (actor is None or e.actor == actor)
                 and (action is None or e.action == action) and (since is None or e.at >= since)
                 and (until is None or e.at < until)]
        order = sorted(range(len(found)), key=lambda index: (found[index].at, index), reverse=True)
        return [found[index] for index in order][:limit]
