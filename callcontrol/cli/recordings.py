"""The `callcontrol recordings` commands: list, export, verify (sizes and checksums) and purge [--dry-run]."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callcontrol.settings import Settings


def add_recordings_parser(commands: Any) -> None:
    recordings = commands.add_parser("recordings", help="call recordings").add_subparsers(
        dest="recordings_command", required=True)
    listing = recordings.add_parser("list", help="print recordings, newest first")
    for name in ("call", "agent", "queue"):
        listing.add_argument(f"--{name}")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    export = recordings.add_parser("export", help="copy one recording's file (and its registry row as JSON)")
    export.add_argument("recording_id")
    export.add_argument("directory", type=Path)
    recordings.add_parser("verify", help="re-measure every kept file: size and sha256 against the registry")
    purge = recordings.add_parser("purge", help="delete recordings past their retention (legal holds kept)")
    purge.add_argument("--dry-run", action="store_true", help="say what would be purged, delete nothing")


def recordings_command(settings: Settings, args: argparse.Namespace) -> int:
    """0 done (verify: every file matches), 1 a problem (a mismatch, an unknown id, an unreadable database)."""
    from callcontrol.adapters.db.people_store import SqlAuditTrail
    from callcontrol.adapters.db.read_command import NotReadable, open_for_reading
    from callcontrol.adapters.db.recording_store import RecordingFilter, SqlRecordingRegistry
    from callcontrol.adapters.recording_files import RecordingDirectory
    from callcontrol.core.audit import AuditEntry, Outcome
    from callcontrol.core.identifiers import is_recording_id
    from callcontrol.services.ports import SystemClock
    from callcontrol.services.recording_retention import RecordingPurger

    files = RecordingDirectory(settings.recordings_dir, settings.recordings_asterisk_dir or
                               str(settings.recordings_dir))

    async def run() -> int:
        engine, note = await open_for_reading(settings)
        if note:
            print(note, file=sys.stderr)
        registry = SqlRecordingRegistry(engine)
        try:
            if args.recordings_command == "list":
                found = await registry.find(RecordingFilter(args.call, args.agent, args.queue,
                                                            limit=max(1, min(args.limit, 1000))))
                for recording in found:
                    print(json.dumps(_row(recording)) if args.json else _line(recording))
                return 0
            if args.recordings_command == "export":
                recording = await registry.get(args.recording_id) if is_recording_id(args.recording_id) else None
                if recording is None:
                    print("callcontrol recordings export: no such recording", file=sys.stderr)
                    return 1
                args.directory.mkdir(parents=True, exist_ok=True)
                source = files.path_of(recording.relative_path)
                if recording.purged_at is not None or not source.is_file():
                    print(f"callcontrol recordings export: {recording.id} has no file ({recording.state})",
                          file=sys.stderr)
                    return 1
                shutil.copy2(source, args.directory / f"{recording.id}.{recording.format}")
                (args.directory / f"{recording.id}.json").write_text(json.dumps(_row(recording), indent=2))
                await SqlAuditTrail(engine).record(AuditEntry(  # an export is a download: audited like the API's
                    datetime.now(UTC), f"cli:{_os_user()}", "recording.export", "recording", recording.id,
                    Outcome.ALLOWED, source="cli", detail={"directory": str(args.directory)[:200]}))
                print(args.directory / f"{recording.id}.{recording.format}")
                return 0
            if args.recordings_command == "verify":
                return await _verify(registry, files)
            report = await RecordingPurger(registry, files, SystemClock()).purge(dry_run=args.dry_run)
            for recording in report.purged:
                print(f"{'would purge' if report.dry_run else 'purged'} {recording.id} "
                      f"started {recording.started_at:%Y-%m-%d} retention {recording.retention_days} d")
            print(f"{len(report.purged)} recording(s) {'to purge' if report.dry_run else 'purged'}")
            return 0
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except NotReadable as exc:
        print(f"callcontrol recordings: {exc}", file=sys.stderr)
        return 1


def _os_user() -> str:
    """Who ran the command, as the system names them (the audit trail's actor: cli:<name>)."""
    try:
        return getpass.getuser()[:40]
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


async def _verify(registry: Any, files: Any) -> int:
    from callcontrol.adapters.db.recording_store import RecordingFilter

    bad = checked = 0
    since = None
    while True:  # every recording, newest first, in pages of 1000
        page = await registry.find(RecordingFilter(until=since, limit=1000))
        for recording in page:
            if recording.purged_at is not None or recording.sha256 is None:
                continue
            checked += 1
            facts = files.measure(recording.relative_path)
            if facts is None:
                bad += 1
                print(f"MISSING  {recording.id}  registered {recording.size_bytes} bytes, no file")
            elif (facts.size_bytes, facts.sha256) != (recording.size_bytes, recording.sha256):
                bad += 1
                print(f"CHANGED  {recording.id}  size {facts.size_bytes} (registered {recording.size_bytes}), "
                      f"sha256 {'matches' if facts.sha256 == recording.sha256 else 'differs'}")
        if len(page) < 1000:
            break
        since = page[-1].started_at
    print(f"{checked} file(s) checked, {bad} problem(s)")
    return 1 if bad else 0


def _row(recording: Any) -> dict[str, Any]:
    def at(value: datetime | None) -> str | None:
        return value.astimezone(UTC).isoformat() if value is not None else None
    return {"id": recording.id, "call_id": recording.call_id, "queue": recording.queue, "agent": recording.agent,
            "state": recording.state, "started_at": at(recording.started_at), "ended_at": at(recording.ended_at),
            "duration_s": recording.duration_s, "size_bytes": recording.size_bytes, "sha256": recording.sha256,
            "legal_hold": recording.legal_hold, "purged_at": at(recording.purged_at), "file": recording.relative_path,
            "paused_spans": [[at(s.started_at), at(s.ended_at), s.reason] for s in recording.spans]}


def _line(recording: Any) -> str:
    duration = f"{recording.duration_s:.1f}s" if recording.duration_s is not None else "-"
    flags = " ".join(flag for flag, on in (("hold", recording.legal_hold), ("purged", recording.purged_at))
                     if on)
    return (f"{recording.started_at:%Y-%m-%dT%H:%M:%S}  {recording.id}  call={recording.call_id}  "
            f"queue={recording.queue or '-'}  agent={recording.agent or '-'}  {recording.state:<9} {duration:>7}"
            f"  spans={len(recording.spans)} {flags}").rstrip()
