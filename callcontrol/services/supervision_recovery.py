"""Supervision sessions an earlier run left open, read back from the audit trail after a restart.

The trail is the record: a session is open when its supervision.start (allowed) has no supervision.end. Its mode
is the last supervision.mode_change's, its start the supervision.joined time (services/supervision.py adopts the
ones Asterisk still has and closes the others).
"""

from __future__ import annotations

from datetime import datetime

import structlog

from callcontrol.core.audit import Outcome
from callcontrol.core.supervision import Mode, ModeChange, Session
from callcontrol.services.ports import AuditReader

log = structlog.get_logger(__name__)


async def sessions_left_open(reader: AuditReader, since: datetime, known: frozenset[str]) -> list[Session]:
    """The sessions the audit trail shows started (allowed) since `since` and never ended, but those `known`
    already: each as it stood, its mode and changes from the trail's mode_change entries, joined when it joined."""
    starts = await reader.entries(action="supervision.start", since=since, limit=10_000)
    ends = await reader.entries(action="supervision.end", since=since, limit=10_000)
    changes = await reader.entries(action="supervision.mode_change", since=since, limit=10_000)
    joined = await reader.entries(action="supervision.joined", since=since, limit=10_000)
    ended = {e.detail.get("session") for e in ends}
    joined_at = {e.detail.get("session"): e.at for e in joined}
    history: dict[object, list[ModeChange]] = {}
    for change in reversed(changes):  # oldest first: the last one is the mode now
        facts = change.detail
        try:
            history.setdefault(facts.get("session"), []).append(
                ModeChange(change.at, Mode(str(facts.get("from"))), Mode(str(facts.get("to"))),
                           str(facts.get("by"))))
        except ValueError:
            log.warning("supervision.unreadable_audit", session=str(facts.get("session"))[:40])
    found = []
    for entry in starts:
        facts = entry.detail
        session_id = facts.get("session")
        if entry.outcome is not Outcome.ALLOWED or session_id in ended or session_id in known:
            continue
        try:
            seen = tuple(history.get(session_id, ()))
            found.append(Session(
                str(session_id), entry.actor, str(facts["endpoint"]), entry.object_id, str(facts["agent"]),
                facts.get("queue") and str(facts["queue"]), str(facts["target_uniqueid"]),
                str(facts["target_channel"]), str(facts["spyer_uniqueid"]),
                seen[-1].new if seen else Mode(str(facts["mode"])), entry.at,
                started_at=joined_at.get(session_id, entry.at), changes=seen))
        except (KeyError, ValueError) as exc:
            log.warning("supervision.unreadable_audit", session=str(session_id)[:40], error=str(exc)[:100])
    return found
