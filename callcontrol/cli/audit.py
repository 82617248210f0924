"""The `callcontrol audit` command: the admin's read of the audit trail (as GET /api/audit), never a change to it.

It reads the service's database (CALLCONTROL_DATABASE_URL; open_for_reading never creates one) through the same
AuditReader the API uses, newest first, filtered by actor, action and time; nothing here writes, edits or deletes
an audit row, and no command does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from callcontrol.settings import Settings

MAX_ROWS = 10_000
ZONED_EXAMPLE = "2026-12-02T09:00:00+00:00"


def add_audit_parser(commands: Any) -> None:
    audit = commands.add_parser(
        "audit", help="read the audit trail (read-only), newest first",
        description="Print audit entries, newest first: who did or was refused what, to which object, when, from "
                    "where. Read-only: nothing changes or deletes an audit entry.")
    audit.add_argument("--actor", type=_text("--actor"), help="only this actor (a user name, api-token, cli:<name>)")
    audit.add_argument("--action", type=_text("--action"), help="only this action, e.g. supervision.start")
    audit.add_argument("--from", dest="since", type=_when, metavar="ISO",
                       help=f"entries at or after this time, with its zone (e.g. {ZONED_EXAMPLE})")
    audit.add_argument("--to", dest="until", type=_when, metavar="ISO", help="entries before this time, with its zone")
    audit.add_argument("--limit", type=_limit, default=100, help=f"at most this many (1 to {MAX_ROWS}; 100)")
    audit.add_argument("--format", choices=["table", "json"], default="table",
                       help="table (default) or json: one JSON object per line, the fields of GET /api/audit")


def _when(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            raise argparse.ArgumentTypeError(f"{value!r} has no time zone: write e.g. {ZONED_EXAMPLE} or ...Z")
        return when.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a zone pushing the time outside the years datetime holds
        raise argparse.ArgumentTypeError(f"{value[:60]!r} is not an ISO 8601 time with a zone "
                                         f"(e.g. {ZONED_EXAMPLE})") from None


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 0 < limit <= MAX_ROWS:
        raise argparse.ArgumentTypeError(f"{value[:20]!r}: a whole number from 1 to {MAX_ROWS}")
    return limit


def _text(option: str):
    def check(value: str) -> str:
        if not value or len(value) > 64 or not value.isprintable():
            raise argparse.ArgumentTypeError(f"{option} is 1 to 64 printable characters")
        return value
    return check


def audit_command(settings: Settings, args: argparse.Namespace) -> int:
    """0 printed (perhaps nothing); 1 the database cannot be read; 2 --from is not before --to."""
    from callcontrol.adapters.db.people_store import SqlAuditTrail
    from callcontrol.adapters.db.read_command import NotReadable, open_for_reading

    if args.since is not None and args.until is not None and args.since >= args.until:
        print("callcontrol audit: --from must be before --to", file=sys.stderr)
        return 2

    async def run() -> list[Any]:
        engine, note = await open_for_reading(settings)
        if note:
            print(note, file=sys.stderr)
        try:
            return await SqlAuditTrail(engine).entries(args.actor, args.action, args.since, args.until, args.limit)
        finally:
            await engine.dispose()

    try:
        entries = asyncio.run(run())
    except NotReadable as exc:
        print(f"callcontrol audit: {exc}", file=sys.stderr)
        return 1
    rows = [_row(entry) for entry in entries]
    if args.format == "json":
        for row in rows:
            print(json.dumps(row, default=str))
    else:
        _print_table(rows)
    return 0


def _row(entry: Any) -> dict[str, Any]:
    """An entry as GET /api/audit gives it."""
    return {"at": entry.at.astimezone(UTC).isoformat(), "actor": entry.actor, "role": entry.role,
            "action": entry.action, "object_type": entry.object_type, "object_id": entry.object_id,
            "outcome": entry.outcome.value, "source": entry.source, "detail": dict(entry.detail)}


COLUMNS = ("at", "actor", "role", "action", "object", "outcome", "source")


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no audit entries match", file=sys.stderr)
        return
    cells = [[row["at"], row["actor"], row["role"] or "-", row["action"], f"{row['object_type']}:{row['object_id']}",
              row["outcome"], row["source"] or "-"] for row in rows]
    widths = [max(len(name), *(len(_plain(line[index])) for line in cells)) for index, name in enumerate(COLUMNS)]
    print("  ".join(name.upper().ljust(width) for name, width in zip(COLUMNS, widths)) + "  DETAIL")
    for line, row in zip(cells, rows):
        detail = json.dumps(row["detail"], separators=(",", ":"), sort_keys=True, default=str)
        print("  ".join(_plain(value).ljust(width) for value, width in zip(line, widths)) + "  " + detail)


def _plain(value: str) -> str:
    """A value as one line of printable text (an actor or object id recorded from a request is shown, not obeyed)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(value))
