"""An AuditTrail that writes each audited act as one structured log line (until the audit log table is wired).

The people lane's DB implementation of the AuditTrail port replaces it in runtime.py; the entries are the same.
"""

from __future__ import annotations

import structlog

from callcontrol.core.audit import AuditEntry

log = structlog.get_logger("callcontrol.audit")


class LoggedAuditTrail:
    async def record(self, entry: AuditEntry) -> None:
        log.info("audit", at=entry.at.isoformat(), actor=entry.actor, role=entry.role, action=entry.action,
                 object_type=entry.object_type, object_id=entry.object_id, outcome=entry.outcome.value,
                 source=entry.source, **{f"detail_{key}": value for key, value in entry.detail.items()})
