"""Keeps the record of every call in progress and closes each exactly once, from the IVR and channel events."""

from __future__ import annotations

from typing import Any

import structlog

from callcontrol.core.calls import CallRecord, EndObservedBy, EndReason
from callcontrol.core.events import (
    ChannelAnswered,
    ChannelEvent,
    ChannelHangupRequested,
    ChannelHungUp,
    ChannelsSnapshot,
)
from callcontrol.services.ports import Clock
from callcontrol.services.record_writer import RecordWriter

log = structlog.get_logger(__name__)


class CallLog:
    def __init__(self, writer: RecordWriter, clock: Clock) -> None:
        self._writer = writer
        self._clock = clock
        self._active: dict[str, CallRecord] = {}  # by the caller channel's uniqueid
        self.closed = 0

    @property
    def active_count(self) -> int:
        return len(self._active)

    def get(self, uniqueid: str) -> CallRecord | None:
        return self._active.get(uniqueid)

    def adopt_unfinished(self, records: list[CallRecord]) -> None:
        """Take over records a previous run left open; the next snapshot says whether their channel is gone."""
        for record in records:
            if record.uniqueid in self._active:
                continue
            record.mark_ivr_ended(EndReason.SERVICE_RESTARTED, record.ivr_path, record.ivr_ended_at or
                                  record.started_at)
            self._active[record.uniqueid] = record
        if records:
            log.info("calls.adopted_unfinished", count=len(records))

    def call_started(self, record: CallRecord) -> None:
        self._active[record.uniqueid] = record
        self._writer.submit(record)

    def answered(self, uniqueid: str) -> None:
        record = self._active.get(uniqueid)
        if record is not None:
            record.mark_answered(self._clock.now())

    def queue_stint(self, uniqueid: str, stint: dict[str, Any]) -> None:
        """A wait in an ACD queue ended; it is written with the call's next write."""
        record = self._active.get(uniqueid)
        if record is not None:
            record.add_queue_stint(stint)

    def ivr_ended(self, uniqueid: str, reason: EndReason, path: list[dict[str, Any]],
                  variables: dict[str, Any] | None = None) -> None:
        record = self._active.get(uniqueid)
        if record is None:
            return
        record.mark_ivr_ended(reason, path, self._clock.now(), variables)
        if record.ready_to_close:
            self._close_if_ready(record)
        else:  # the channel lives on (fallback, or its hangup not seen yet): keep the walk on disk now
            self._writer.submit(record)

    def apply(self, event: ChannelEvent) -> None:
        if isinstance(event, ChannelsSnapshot):
            for record in list(self._active.values()):
                # a call that started after the snapshot was taken cannot be in it
                if record.started_at < event.at and record.uniqueid not in event.uniqueids:
                    record.mark_channel_gone(event.at, EndObservedBy.RESYNC)
                    self._close_if_ready(record)
            return
        record = self._active.get(event.uniqueid)
        if record is None:
            return
        if isinstance(event, ChannelHungUp):
            record.mark_channel_gone(event.at, EndObservedBy.AMI, event.cause, event.cause_text)
            self._close_if_ready(record)
        elif isinstance(event, ChannelAnswered):
            record.mark_answered(event.at)
        elif isinstance(event, ChannelHangupRequested):
            record.mark_hangup_requested(event.cause)

    def _close_if_ready(self, record: CallRecord) -> None:
        if not record.ready_to_close:
            return
        record.close()
        del self._active[record.uniqueid]
        self._writer.submit(record)
        self.closed += 1
        log.info("call.ended", **record.summary())  # the one canonical line per call
