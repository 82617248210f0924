"""The audit trail's entry: who did (or was refused) what, to which object, when and from where."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class Outcome(Enum):
    """Whether the attempt was let through."""

    ALLOWED = "allowed"
    DENIED = "denied"


@dataclass(frozen=True)
class AuditEntry:
    """One audited act: a listen, a download, a supervision session, a refused attempt, a change to people.

    `actor` is the user name (or "anonymous" when nobody could be authenticated), `action` a dotted verb such as
    "recording.listen", `object_type`/`object_id` what it touched, `source` the remote address when known.
    `detail` holds small extra facts (never a secret, never audio)."""

    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: Outcome
    role: str | None = None
    source: str | None = None
    detail: Mapping[str, object] = field(default_factory=dict)
