"""Keeps the record of every call in progress, written as it goes, and closes each exactly once.

What a call does (its IVR walk, its queue stint so far) only marks its record dirty; one flusher task
(run_flusher, owned by the service) submits the dirty records at most every FLUSH_INTERVAL_S, so a crash of the
service loses at most that much of a call's story and a step costs a dict assignment, not a write.

Records are keyed by the call key (the record's call_id, Asterisk's linkedid), the key of the call path's methods
and of the ACD; the channel events of AMI find their record by the caller channel's uniqueid.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

import structlog

from callcontrol.core.calls import CallRecord, CallStatus, EndObservedBy, EndReason, parse_time
from callcontrol.core.domain_events import CallEnded, CallStarted
from callcontrol.core.events import (
    ChannelAnswered,
    ChannelEvent,
    ChannelHangupRequested,
    ChannelHungUp,
    ChannelsSnapshot,
    device_of,
)
from callcontrol.core.interactions import AgentLeg, QueueStint
from callcontrol.core.ivr import IvrState
from callcontrol.services.ports import Clock
from callcontrol.services.record_writer import RecordWriter

log = structlog.get_logger(__name__)

FLUSH_INTERVAL_S = 0.5


class Publisher(Protocol):
    """Where the log's CallStarted and CallEnded go (the event bus)."""

    def publish(self, event: object) -> None: ...


class CallLog:
    def __init__(self, writer: RecordWriter, clock: Clock) -> None:
        self._writer = writer
        self._clock = clock
        self._active: dict[str, CallRecord] = {}  # by call_id
        self._by_uniqueid: dict[str, CallRecord] = {}  # the same records, by the caller channel's uniqueid
        self._walks: dict[str, IvrState] = {}  # the newest IVR state of each call still walking, not yet written
        self._dirty: set[str] = set()  # calls changed since the last flush
        # adopted calls still up whose conversation with an agent went on without us: by linkedid
        self._talking_unfollowed: dict[str, CallRecord] = {}
        self.closed = 0
        self.flushes = 0
        self.events: Publisher | None = None  # told CallStarted and CallEnded (the live calls view)

    @property
    def active_count(self) -> int:
        return len(self._active)

    def get(self, call_id: str) -> CallRecord | None:
        return self._active.get(call_id)

    def adopt_unfinished(self, records: list[CallRecord], hangups: Iterable[ChannelHungUp] = ()) -> None:
        """Take over records a previous run left open, with what they had written. Asterisk's hangup log
        (`hangups`, its lines of these calls) closes those that ended while the service was down, at their real
        end; the others stay open until the next snapshot says whether their channel is gone."""
        ended = _by_linkedid(hangups)
        for record in records:
            if record.call_id in self._active:
                continue
            walked_until = _last_step_at(record) or record.ivr_ended_at or record.started_at
            record.mark_ivr_ended(EndReason.SERVICE_RESTARTED, record.ivr_path, walked_until, record.variables)
            self._add(record)
            self._close_from_hangup_log(record, ended.get(record.call_id, ()))
            stint = record.open_stint
            if record.status is CallStatus.ACTIVE and stint is not None and stint.agent_leg is not None:
                self._talking_unfollowed[record.call_id] = record  # the agent's Hangup will end the talk
        if records:
            log.info("calls.adopted_unfinished", count=len(records), closed_from_hangup_log=sum(
                record.end_observed_by is EndObservedBy.HANGUP_LOG for record in records))

    def gone_in(self, snapshot: ChannelsSnapshot) -> list[CallRecord]:
        """The records whose channel this snapshot no longer has (apply() will close them)."""
        return [record for record in self._active.values()
                if record.started_at < snapshot.at and record.uniqueid not in snapshot.uniqueids]

    def call_started(self, record: CallRecord) -> None:
        self._add(record)
        self._writer.submit(record)
        if self.events is not None:
            self.events.publish(CallStarted(record.call_id, record.caller_number, record.caller_name,
                                            record.dialed_number, record.flow_id, record.started_at))

    def _add(self, record: CallRecord) -> None:
        replaced = self._active.get(record.call_id)
        if replaced is not None:  # the same call in the IVR again: its newer record is the one
            self._by_uniqueid.pop(replaced.uniqueid, None)
        self._active[record.call_id] = record
        self._by_uniqueid[record.uniqueid] = record

    def answered(self, call_id: str) -> None:
        record = self._active.get(call_id)
        if record is not None:
            record.mark_answered(self._clock.now())
            self._dirty.add(call_id)

    def walked(self, call_id: str, state: IvrState) -> None:
        """The IVR took a step: the walk so far is written with the next flush."""
        if call_id in self._active:
            self._walks[call_id] = state
            self._dirty.add(call_id)

    def stint_progress(self, call_id: str, stint: QueueStint) -> None:
        """The caller's queue stint moved on (queued, offered, answered): written with the next flush."""
        record = self._active.get(call_id)
        if record is not None:
            record.note_stint_progress(stint)
            self._dirty.add(call_id)

    def transfer_step(self, call_id: str, step: dict[str, Any]) -> None:
        """A transfer leg began: the step goes into the record's path (written with the next flush)."""
        record = self._active.get(call_id)
        if record is not None:
            record.note_transfer(step)
            self._dirty.add(call_id)

    def stints_of(self, call_id: str) -> list[QueueStint]:
        """The call's queue stints so far (none for a call not in progress)."""
        record = self._active.get(call_id)
        return list(record.queue_stints) if record is not None else []

    def queue_stint(self, call_id: str, stint: QueueStint) -> None:
        """A wait in an ACD queue ended; it is written with the next flush (or the call's end, if sooner)."""
        record = self._active.get(call_id)
        if record is not None:
            record.add_queue_stint(stint)
            self._dirty.add(call_id)

    def change_agent_leg(self, call_id: str, position: int, change: Callable[[AgentLeg], AgentLeg]) -> bool:
        """Change the agent leg of a call in progress (a hold, a wrap-up code): written with the next flush.
        False when the call is not in progress here or that stint has no agent leg."""
        record = self._active.get(call_id)
        if record is None or not record.change_agent_leg(position, change):
            return False
        self._dirty.add(call_id)
        return True

    def hold_changed(self, call_id: str, on_hold: bool, at: datetime) -> bool:
        """The agent put the caller of its open leg on hold (or took them back); False if the call has none."""
        record = self._active.get(call_id)
        stint = record.open_stint if record is not None else None
        if record is None or stint is None or stint.agent_leg is None:
            return False
        return self.change_agent_leg(call_id, len(record.queue_stints) - 1,
                                     lambda leg: leg.held(at) if on_hold else leg.unheld(at))

    def flush(self) -> int:
        """Submit the records that changed since the last flush (the writer copies each); how many."""
        dirty, self._dirty = self._dirty, set()
        for call_id in dirty:
            record = self._active.get(call_id)
            if record is None:
                continue
            walk = self._walks.pop(call_id, None)
            if walk is not None:
                record.note_walk([step.as_dict() for step in walk.path], walk.public_variables())
            self._writer.submit(record)
        self.flushes += bool(dirty)
        return len(dirty)

    async def run_flusher(self, interval_s: float = FLUSH_INTERVAL_S) -> None:
        """Flush every interval_s while calls change (cancel to stop; flush() once more after)."""
        while True:
            await asyncio.sleep(interval_s)
            self.flush()

    def ivr_ended(self, call_id: str, reason: EndReason, path: list[dict[str, Any]],
                  variables: dict[str, Any] | None = None) -> None:
        record = self._active.get(call_id)
        if record is None:
            return
        self._walks.pop(call_id, None)
        self._dirty.discard(call_id)  # written now (or at the close just below)
        record.mark_ivr_ended(reason, path, self._clock.now(), variables)
        if record.ready_to_close:
            self._close_if_ready(record)
        else:  # the channel lives on (fallback, or its hangup not seen yet): keep the walk on disk now
            self._writer.submit(record)

    def apply(self, event: ChannelEvent, hangups: Iterable[ChannelHungUp] = ()) -> None:
        """A channel event; for a snapshot, `hangups` are the hangup log's lines of the calls it finds gone."""
        if isinstance(event, ChannelsSnapshot):
            ended = _by_linkedid(hangups)
            for record in self.gone_in(event):  # a call that started after the snapshot cannot be in it
                self._close_from_hangup_log(record, ended.get(record.call_id, ()))
                record.mark_channel_gone(event.at, EndObservedBy.RESYNC)  # no line: the snapshot's time
                self._close_if_ready(record)
            return
        record = self._by_uniqueid.get(event.uniqueid)
        if record is None:
            if isinstance(event, ChannelHungUp) and event.linkedid in self._talking_unfollowed:
                self._agent_leg_ended(event)
            return
        if isinstance(event, ChannelHungUp):
            record.mark_channel_gone(event.at, EndObservedBy.AMI, event.cause, event.cause_text)
            self._close_if_ready(record)
        elif isinstance(event, ChannelAnswered):
            record.mark_answered(event.at)
        elif isinstance(event, ChannelHangupRequested):
            record.mark_hangup_requested(event.cause)

    def _agent_leg_ended(self, hangup: ChannelHungUp) -> None:
        """An adopted call's agent hung up (its Dial() went on without the service): the talk ends now."""
        record = self._talking_unfollowed[hangup.linkedid]
        stint = record.open_stint
        if stint is None or record.status is not CallStatus.ACTIVE:
            del self._talking_unfollowed[hangup.linkedid]
        elif stint.endpoint and device_of(hangup.channel) == stint.endpoint:
            del self._talking_unfollowed[hangup.linkedid]
            record.end_open_stint(hangup.at, hangup.at)
            self._dirty.add(record.call_id)

    def _close_from_hangup_log(self, record: CallRecord, hangups: Iterable[ChannelHungUp]) -> None:
        """Close the record at its channel's hangup in Asterisk's log, if the log has it; the conversation of
        a stint left open ends with the answering agent's channel."""
        hangups = list(hangups)
        own = next((hangup for hangup in hangups if hangup.uniqueid == record.uniqueid), None)
        if own is None:
            return
        stint = record.open_stint
        leg = stint.agent_leg if stint else None
        agent_end = min((hangup.at for hangup in hangups if leg and leg.endpoint
                         and hangup.uniqueid != record.uniqueid and device_of(hangup.channel) == leg.endpoint
                         and hangup.at >= leg.answered_at), default=None)
        record.end_open_stint(own.at, agent_end)
        record.mark_channel_gone(own.at, EndObservedBy.HANGUP_LOG, own.cause, own.cause_text or None)
        self._close_if_ready(record)

    def _close_if_ready(self, record: CallRecord) -> None:
        if not record.ready_to_close:
            return
        record.close()
        del self._active[record.call_id]
        self._by_uniqueid.pop(record.uniqueid, None)
        self._walks.pop(record.call_id, None)
        self._talking_unfollowed.pop(record.call_id, None)
        self._dirty.discard(record.call_id)
        self._writer.submit(record)
        self.closed += 1
        log.info("call.ended", **record.summary())  # the one canonical line per call
        if self.events is not None:
            self.events.publish(CallEnded(record.call_id, record.ended_at or self._clock.now()))


def _by_linkedid(hangups: Iterable[ChannelHungUp]) -> dict[str, list[ChannelHungUp]]:
    found: dict[str, list[ChannelHungUp]] = {}
    for hangup in hangups:
        found.setdefault(hangup.linkedid, []).append(hangup)
    return found


def _last_step_at(record: CallRecord) -> datetime | None:
    return parse_time(record.ivr_path[-1].get("at")) if record.ivr_path else None
