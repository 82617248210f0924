"""The voicemail node: the caller leaves a message in an allow-listed mailbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from callcontrol.core.ivr.checker import DocumentPath, FlowChecker, FlowContext
from callcontrol.core.ivr.effects import LeaveVoicemail, Outcome, VoicemailEnded
from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.state import IvrState, Step
from callcontrol.core.ivr.walking import Continue, Transition, Walk, expect, stepped


@dataclass(frozen=True)
class VoicemailNode:
    """Let the caller leave a message in an allow-listed mailbox; `failed` when the mailbox cannot take it."""

    id: str
    mailbox: str
    greeting: Literal["unavailable", "busy", "none"]
    next: str
    failed: str


def build(check: FlowChecker, node_id: str, raw: Mapping[str, Any], path: DocumentPath, prompts: tuple[str, ...],
          context: FlowContext) -> VoicemailNode:
    mailbox = raw.get("mailbox")
    if not isinstance(mailbox, str) or mailbox not in context.allow.mailboxes:
        check.error((*path, "mailbox"), f"mailbox {mailbox!r} is not on the flow's allow list (allow.mailboxes)")
    greeting = raw.get("greeting", "unavailable")
    if greeting not in ("unavailable", "busy", "none"):
        check.error((*path, "greeting"), "must be unavailable, busy or none")
        greeting = "unavailable"
    return VoicemailNode(node_id, str(mailbox), greeting, check.exit(raw, "next", path),
                         check.exit(raw, "failed", path))


def enter(walk: Walk, node: VoicemailNode, state: IvrState, now: datetime) -> Transition:
    return Step(state, LeaveVoicemail(node.mailbox, node.greeting))


def advance(walk: Walk, node: VoicemailNode, state: IvrState, outcome: Outcome, now: datetime) -> Transition:
    expect(outcome, VoicemailEnded, node)
    assert isinstance(outcome, VoicemailEnded)
    if outcome.status in ("SUCCESS", "USEREXIT"):
        return Continue(node.next, stepped(state, node, "message_left" if outcome.status == "SUCCESS"
                                                        else "left_mailbox", now))
    return Continue(node.failed, stepped(state, node, "voicemail_failed", now, outcome.status.lower()))


KIND = NodeKind("voicemail", VoicemailNode, {"mailbox": True, "greeting": False, "next": True, "failed": True},
                build, enter, lambda node: [("next", node.next), ("failed", node.failed)], advance)
