"""The call record: what one call did, built from the IVR walk and channel events, closed exactly once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from callcontrol.core.interactions import STINT_IN_PROGRESS, AgentLeg, QueueStint


class CallStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class EndReason(StrEnum):
    """How the call left callcontrol's hands."""

    CALLER_HANGUP = "caller_hangup"  # caller hung up while in the IVR
    FLOW_HANGUP = "flow_hangup"  # the flow played its goodbye and hung up
    NO_FLOW = "no_flow"  # no flow answers the dialled number; sent to the dialplan fallback
    SERVICE_ERROR = "service_error"  # an AGI/flow error; sent to the dialplan fallback
    SERVICE_SHUTDOWN = "service_shutdown"  # the service stopped mid-call; sent to the dialplan fallback
    SERVICE_RESTARTED = "service_restarted"  # found unfinished after a restart; the channel was gone
    TRANSFERRED = "transferred"  # the flow connected the caller to an allow-listed destination
    AGENT_ANSWERED = "agent_answered"  # a queue node connected the caller to an agent, and the call ended there


# IVR endings after which the channel is gone too (the others hand the caller back to the dialplan).
CHANNEL_ENDS_WITH_IVR = frozenset({EndReason.CALLER_HANGUP, EndReason.FLOW_HANGUP, EndReason.TRANSFERRED,
                                   EndReason.AGENT_ANSWERED})


class EndObservedBy(StrEnum):
    """Where the end of the channel was learnt: its Hangup event, Asterisk's hangup log (CEL) read after a
    restart or an AMI outage, or (neither had it) a resync after AMI was down: then the time is an upper bound."""

    AMI = "ami"
    HANGUP_LOG = "hangup_log"
    RESYNC = "resync"


@dataclass
class CallRecord:
    call_id: str  # Asterisk linkedid: the idempotency key of the row
    uniqueid: str  # the caller's channel
    channel: str
    caller_number: str
    caller_name: str
    dialed_number: str
    started_at: datetime
    flow_id: str | None = None
    flow_version: str | None = None
    answered_at: datetime | None = None
    ivr_ended_at: datetime | None = None
    ended_at: datetime | None = None
    ivr_path: list[dict[str, Any]] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)  # the flow's public variables (never secure ones)
    # Each time the caller waited in an ACD queue, in order; the KPIs are computed from these. While the caller
    # waits or talks, the last stint is its progress (outcome in_progress, its agent leg once an agent answered),
    # written as it goes so that a crash of the service loses at most the last flush of it.
    queue_stints: list[QueueStint] = field(default_factory=list)
    status: CallStatus = CallStatus.ACTIVE
    end_reason: EndReason | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    end_observed_by: EndObservedBy | None = None
    channel_gone_at: datetime | None = None
    requested_hangup_cause: int | None = None  # from a hangup request; used when the Hangup says 0 (unknown)

    @property
    def ivr_done(self) -> bool:
        return self.end_reason is not None

    @property
    def ready_to_close(self) -> bool:
        return self.status is CallStatus.ACTIVE and self.ivr_done and self.channel_gone_at is not None

    def mark_answered(self, at: datetime) -> None:
        if self.answered_at is None:
            self.answered_at = at

    def mark_ivr_ended(self, reason: EndReason, path: list[dict[str, Any]], at: datetime,
                       variables: dict[str, Any] | None = None) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self.ivr_ended_at = at
            self.ivr_path = path
            self.variables = dict(variables or {})

    def note_walk(self, path: list[dict[str, Any]], variables: dict[str, Any]) -> None:
        """The IVR walk so far (written while the call goes on); the walk's end sets it for good."""
        if self.end_reason is None:
            self.ivr_path = path
            self.variables = variables

    def note_transfer(self, step: dict[str, Any]) -> None:
        """A transfer leg took the caller on (docs/transfers.md): its path ends with where the caller went, even
        after the IVR part ended (the first session's end)."""
        if self.status is CallStatus.ACTIVE:
            self.ivr_path = [*self.ivr_path, step]

    def add_queue_stint(self, stint: QueueStint) -> None:
        """A finished stint; it takes the place of that stint's progress (keeping its agent leg's holds and
        wrap-up)."""
        if self.status is CallStatus.ACTIVE:
            self.queue_stints.append(_carried_over(stint, self.queue_stints.pop() if self.open_stint else None))

    def note_stint_progress(self, stint: QueueStint) -> None:
        """The stint going on now (outcome in_progress): queue entered, offers so far, who answered and when."""
        if self.status is CallStatus.ACTIVE:
            before = self.queue_stints.pop() if self.open_stint is not None else None
            self.queue_stints.append(_carried_over(replace(stint, outcome=STINT_IN_PROGRESS), before))

    def change_agent_leg(self, position: int, change: Callable[[AgentLeg], AgentLeg]) -> bool:
        """Apply `change` to the agent leg of the stint at `position` (a hold, a wrap-up); False if it has none."""
        if not 0 <= position < len(self.queue_stints) or self.queue_stints[position].agent_leg is None:
            return False
        stint = self.queue_stints[position]
        assert stint.agent_leg is not None
        self.queue_stints[position] = replace(stint, agent_leg=change(stint.agent_leg))
        return True

    @property
    def open_stint(self) -> QueueStint | None:
        last = self.queue_stints[-1] if self.queue_stints else None
        return last if last is not None and last.in_progress else None

    def end_open_stint(self, at: datetime, talk_ended_at: datetime | None = None) -> None:
        """A stint the service lost mid-way (it stopped): see QueueStint.lost."""
        stint = self.open_stint
        if stint is not None:
            self.queue_stints[-1] = stint.lost(at, talk_ended_at)

    def mark_channel_gone(
        self, at: datetime, observed_by: EndObservedBy, cause: int | None = None, cause_text: str | None = None
    ) -> None:
        """Record the channel's end once: the first observation wins (a Hangup event beats a later resync)."""
        if self.channel_gone_at is not None:
            return
        self.channel_gone_at = at
        self.end_observed_by = observed_by
        if not cause and self.requested_hangup_cause:
            # A channel held by AGI when the caller hangs up ends with cause 0; the request had the real one.
            cause, cause_text = self.requested_hangup_cause, None
        self.hangup_cause = cause
        self.hangup_cause_text = cause_text

    def mark_hangup_requested(self, cause: int) -> None:
        if self.requested_hangup_cause is None and cause:
            self.requested_hangup_cause = cause

    def close(self) -> None:
        """End the record with the best known end time."""
        if not self.ready_to_close:
            raise ValueError(f"call {self.call_id} is not ready to close")
        assert self.channel_gone_at is not None
        if (self.end_observed_by is EndObservedBy.RESYNC and self.end_reason in CHANNEL_ENDS_WITH_IVR
                and self.ivr_ended_at is not None):
            # The IVR itself ended the channel, so its end is the call's end (the resync only saw it late).
            self.ended_at = min(self.ivr_ended_at, self.channel_gone_at)
        else:
            # Either the Hangup event's own time, or (call handed back to the dialplan, end unseen) the
            # resync time: an upper bound, flagged by end_observed_by = resync.
            self.ended_at = self.channel_gone_at
        self.end_open_stint(self.ended_at)
        self.status = CallStatus.ENDED

    def snapshot(self) -> CallRecord:
        """An independent copy for the writer, so later changes do not race the write. Every field is immutable
        except the lists (stints are frozen) and the JSON ones (path, variables), which are copied list by list
        and dict by dict: the flusher snapshots each changing call twice a second, and copy.deepcopy cost four
        times as much."""
        copied = copy.copy(self)
        copied.ivr_path = _json_copy(self.ivr_path)
        copied.variables = _json_copy(self.variables)
        copied.queue_stints = list(self.queue_stints)
        return copied

    def summary(self) -> dict[str, Any]:
        """The fields of the canonical one-line log of a finished call."""
        return {
            "call_id": self.call_id,
            "caller_number": self.caller_number,
            "dialed_number": self.dialed_number,
            "flow": self.flow_id,
            "flow_version": self.flow_version,
            "path": [path_label(step) for step in self.ivr_path],
            "queues": [f"{stint.queue}:{stint.outcome}" for stint in self.queue_stints],
            "end_reason": str(self.end_reason) if self.end_reason else None,
            "hangup_cause": self.hangup_cause,
            "end_observed_by": str(self.end_observed_by) if self.end_observed_by else None,
            "duration_s": _seconds(self.started_at, self.ended_at),
            "ivr_s": _seconds(self.started_at, self.ivr_ended_at),
        }


# Path results that are a routing decision, shown as node(result): hours and branch nodes.
_DECISIONS = frozenset({"open", "closed", "holiday", "default"})
# Results of a node doing its job, shown as the node alone (or node:digits when digits were chosen).
_PLAIN = frozenset({"played", "digit", "hangup", "input", "said", "set", "language", "transferred", "score",
                    "subflow", "goto", "return"})


def path_label(step: dict[str, Any]) -> str:
    """How a path step reads in logs, summaries and flow tests.

    'main_menu:1' an option chosen, 'main_menu[no_input]' a retry or early end, 'office_hours(open)' a
    routing decision, 'tier(case_1)' the first branch case that matched; otherwise the node id. A node of
    a subflow is prefixed with its flow: 'billing/ask_amount'.
    """
    result = step["result"]
    node = (f"{step['flow']}/" if "flow" in step else "") + step["node"]  # a subflow's node: 'billing/ask'
    if result in _DECISIONS or result.startswith("case_"):
        return f"{node}({result})"
    label = node + (f":{step['digit']}" if "digit" in step else "")
    return label if result in _PLAIN else f"{label}[{result}]"


def _carried_over(stint: QueueStint, before: QueueStint | None) -> QueueStint:
    """`stint` as the ACD rebuilt it, keeping what was noted on its agent leg since (holds, wrap-up)."""
    if stint.agent_leg is None or before is None or before.agent_leg is None:
        return stint
    return replace(stint, agent_leg=stint.agent_leg.carried_over(before.agent_leg))


def _json_copy(value: Any) -> Any:
    """A copy of a JSON-like value: new lists and dicts all the way down; other values are immutable."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    if isinstance(value, (str, int, float, bool, type(None), datetime)):
        return value
    return copy.deepcopy(value)  # anything else a flow may have put in a variable


def parse_time(value: object) -> datetime | None:
    """An ISO time as the record's JSON fields keep it (path steps); None when absent or unreadable."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 3)
