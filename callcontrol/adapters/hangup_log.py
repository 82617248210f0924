"""Reads Asterisk's hangup log (CEL through cel_custom, see dialplan/cel_custom.conf): when and why channels ended.

Asterisk writes one CSV line per channel hangup the moment it happens (open, append, close), so the file
knows the calls that ended while the service was down or AMI was cut; AMI does not replay those events.
A line is ``"HANGUP","<epoch>.<usec>","<uniqueid>","<linkedid>","<channel>","<JSON extra>"``; the JSON extra
carries ``hangupcause``. The file is read backwards from its end, only as far back as the calls asked about.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from callcontrol.core.events import ChannelHungUp
from callcontrol.core.identifiers import ASTERISK_ID

log = structlog.get_logger(__name__)

BLOCK_BYTES = 64 * 1024
MAX_LINE_BYTES = 4096  # longer lines are not Asterisk's (channel names and the extra are short): skipped
# CEL lines come out in about the order channels hung up; read this far past the oldest call asked about
ORDER_SLACK = timedelta(seconds=60)
_CHANNEL_MAX = 128


def parse_line(line: str) -> ChannelHungUp | None:
    """One line of the hangup log as a ChannelHungUp; None for any line that is not a well-formed HANGUP."""
    try:
        fields = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None
    if len(fields) != 6 or fields[0] != "HANGUP":
        return None
    _, when, uniqueid, linkedid, channel, extra = fields
    if not ASTERISK_ID.match(uniqueid) or not ASTERISK_ID.match(linkedid) or len(channel) > _CHANNEL_MAX:
        return None
    try:
        at = datetime.fromtimestamp(float(when), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    cause: int | None = None
    try:
        value = json.loads(extra).get("hangupcause") if extra else None
        cause = value if isinstance(value, int) and 0 <= value <= 255 else None
    except (ValueError, AttributeError):
        cause = None
    return ChannelHungUp(uniqueid=uniqueid, linkedid=linkedid, cause=cause, cause_text="", at=at, channel=channel)


def read_hangups(path: Path, call_ids: Collection[str], since: datetime) -> list[ChannelHungUp]:
    """The hangups of these calls (by linkedid: the caller's channel and every leg of the call), newest first,
    reading from the end of the file back to `since` (less ORDER_SLACK). A missing file: none."""
    wanted = set(call_ids)
    if not wanted:
        return []
    stop_at = since - ORDER_SLACK
    found = []
    skipped = 0
    try:
        for line in _lines_backwards(path):
            hangup = parse_line(line)
            if hangup is None:
                skipped += bool(line.strip())
                continue
            if hangup.at < stop_at:
                break
            if hangup.linkedid in wanted:
                found.append(hangup)
    except FileNotFoundError:
        log.warning("hangup_log.missing", path=str(path))
        return []
    if skipped:
        log.warning("hangup_log.lines_skipped", path=str(path), count=skipped)
    return found


def _lines_backwards(path: Path) -> Iterator[str]:
    """The file's lines from the last to the first, read in blocks (a partly written last line included)."""
    with open(path, "rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        rest = b""
        while position > 0:
            size = min(BLOCK_BYTES, position)
            position -= size
            handle.seek(position)
            chunk = handle.read(size) + rest
            lines = chunk.split(b"\n")
            rest = lines.pop(0)  # may continue in the block before
            if len(rest) > MAX_LINE_BYTES:
                rest = b""
            for raw in reversed(lines):
                if raw and len(raw) <= MAX_LINE_BYTES:
                    yield raw.decode("utf-8", "replace")
        if rest:
            yield rest.decode("utf-8", "replace")


class CelHangupLog:
    """Implements the HangupLog port over the file cel_custom writes (read in a thread: it is file I/O)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def hangups(self, call_ids: Collection[str], since: datetime) -> list[ChannelHungUp]:
        return await asyncio.to_thread(read_hangups, self.path, list(call_ids), since)
