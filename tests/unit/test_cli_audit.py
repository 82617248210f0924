"""`callcontrol audit`: the audit trail read from a migrated SQLite database, filtered, as a table or JSON lines;
bad arguments are one clear line; the database is never changed (nor created)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcontrol.adapters.db.people_store import SqlAuditTrail
from callcontrol.adapters.db.schema import upgrade
from callcontrol.adapters.db.store import make_engine
from callcontrol.cli import main
from callcontrol.core.audit import AuditEntry, Outcome
from tests.support.paths import REPO

T = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ENTRIES = [
    AuditEntry(T, "sup.support", "supervision.start", "call", "1764650000.1", Outcome.DENIED, "supervisor",
               "10.0.0.8", {"mode": "listen", "reason": "unknown_call"}),
    AuditEntry(T + timedelta(minutes=1), "sup.sales", "supervision.start", "call", "1764650000.1", Outcome.ALLOWED,
               "supervisor", "10.0.0.7", {"session": "sup_0123456789abcdef", "mode": "listen"}),
    AuditEntry(T + timedelta(minutes=2), "sup.sales", "supervision.mode_change", "call", "1764650000.1",
               Outcome.ALLOWED, None, None, {"from": "listen", "to": "barge", "by": "phone"}),
    AuditEntry(T + timedelta(minutes=3), "root", "recording.listen", "recording", "rec_" + "0" * 32, Outcome.ALLOWED,
               "admin", "10.0.0.1", {"range": "bytes=0-"}),
    AuditEntry(T + timedelta(minutes=4), "sup.sales", "supervision.end", "call", "1764650000.1", Outcome.ALLOWED,
               None, None, {"session": "sup_0123456789abcdef", "end_reason": "ended_by_request"}),
]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    file = tmp_path / "calls.sqlite3"
    url = f"sqlite+aiosqlite:///{file}"
    upgrade(REPO / "migrations", url)
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", url)

    async def save() -> None:
        engine = make_engine(url)
        try:
            for entry in ENTRIES:
                await SqlAuditTrail(engine).record(entry)
        finally:
            await engine.dispose()

    asyncio.run(save())
    return file


def digest(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def json_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_the_table_is_newest_first_with_every_field(database: Path, capsys) -> None:
    assert main(["audit"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["AT", "ACTOR", "ROLE", "ACTION", "OBJECT", "OUTCOME", "SOURCE", "DETAIL"]
    assert [line.split()[3] for line in lines[1:]] == ["supervision.end", "recording.listen",
                                                      "supervision.mode_change", "supervision.start",
                                                      "supervision.start"]
    denied = lines[-1].split(maxsplit=7)
    assert denied == ["2026-12-02T09:00:00+00:00", "sup.support", "supervisor", "supervision.start",
                      "call:1764650000.1", "denied", "10.0.0.8", '{"mode":"listen","reason":"unknown_call"}']
    assert lines[-3].split()[2] == "-" and lines[-3].split()[6] == "-"  # no role, no source
    # the detail column starts at the same place on every line
    assert len({line.index("DETAIL") if i == 0 else len(line.split("{")[0]) for i, line in enumerate(lines)}) == 1


def test_json_lines_carry_the_apis_fields_and_the_filters_combine(database: Path, capsys) -> None:
    assert main(["audit", "--format", "json"]) == 0
    rows = json_lines(capsys)
    assert len(rows) == 5 and rows[-1] == {
        "at": "2026-12-02T09:00:00+00:00", "actor": "sup.support", "role": "supervisor",
        "action": "supervision.start", "object_type": "call", "object_id": "1764650000.1", "outcome": "denied",
        "source": "10.0.0.8", "detail": {"mode": "listen", "reason": "unknown_call"}}
    assert main(["audit", "--format", "json", "--actor", "sup.sales"]) == 0
    assert [r["action"] for r in json_lines(capsys)] == ["supervision.end", "supervision.mode_change",
                                                         "supervision.start"]
    assert main(["audit", "--format", "json", "--action", "supervision.start"]) == 0
    assert [r["actor"] for r in json_lines(capsys)] == ["sup.sales", "sup.support"]
    # --from inclusive, --to exclusive (as GET /api/audit), in any zone
    assert main(["audit", "--format", "json", "--from", "2026-12-02T10:01:00+01:00",
                 "--to", "2026-12-02T09:04:00Z"]) == 0
    assert [r["at"] for r in json_lines(capsys)] == ["2026-12-02T09:03:00+00:00", "2026-12-02T09:02:00+00:00",
                                                     "2026-12-02T09:01:00+00:00"]
    assert main(["audit", "--format", "json", "--actor", "sup.sales", "--action", "supervision.start",
                 "--from", "2026-12-02T09:01:00+00:00"]) == 0
    assert [r["detail"].get("session") for r in json_lines(capsys)] == ["sup_0123456789abcdef"]
    assert main(["audit", "--format", "json", "--limit", "2"]) == 0
    assert [r["action"] for r in json_lines(capsys)] == ["supervision.end", "recording.listen"]


def test_nothing_matching_is_said_on_stderr_and_exits_0(database: Path, capsys) -> None:
    assert main(["audit", "--actor", "nobody"]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "no audit entries match" in out.err
    assert main(["audit", "--actor", "nobody", "--format", "json"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(("arguments", "said"), [
    (["--from", "2026-12-02T09:00:00"], "has no time zone"),
    (["--to", "yesterday"], "is not an ISO 8601 time with a zone"),
    (["--from", "0001-01-01T00:00:00+05:00"], "is not an ISO 8601 time with a zone"),
    (["--limit", "0"], "a whole number from 1 to 10000"),
    (["--limit", "10001"], "a whole number from 1 to 10000"),
    (["--limit", "ten"], "a whole number from 1 to 10000"),
    (["--format", "csv"], "invalid choice"),
    (["--actor", ""], "--actor is 1 to 64 printable characters"),
    (["--action", "x" * 65], "--action is 1 to 64 printable characters"),
    (["--actor", "sup\nroot"], "--actor is 1 to 64 printable characters"),
    (["delete"], "unrecognized arguments: delete"),  # no command edits the trail
    (["--purge"], "unrecognized arguments: --purge"),
])
def test_bad_arguments_are_one_clear_line_and_exit_2(database: Path, capsys, arguments: list[str],
                                                     said: str) -> None:
    before = digest(database)
    with pytest.raises(SystemExit) as exited:
        main(["audit", *arguments])
    assert exited.value.code == 2
    out = capsys.readouterr()
    assert said in out.err and out.out == "" and "Traceback" not in out.err
    assert digest(database) == before


def test_from_not_before_to_is_refused(database: Path, capsys) -> None:
    assert main(["audit", "--from", "2026-12-02T09:03:00+00:00", "--to", "2026-12-02T09:03:00+00:00"]) == 2
    assert "--from must be before --to" in capsys.readouterr().err


def test_reading_changes_nothing_in_the_database(database: Path, capsys) -> None:
    before = digest(database)
    for arguments in ([], ["--format", "json"], ["--action", "supervision.end", "--limit", "1"]):
        assert main(["audit", *arguments]) == 0
    capsys.readouterr()
    assert digest(database) == before


def test_a_missing_database_is_one_line_and_is_not_created(tmp_path: Path, monkeypatch, capsys) -> None:
    file = tmp_path / "nowhere.sqlite3"
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", f"sqlite+aiosqlite:///{file}")
    assert main(["audit"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("callcontrol audit: no database at") and len(err.strip().splitlines()) == 1
    assert not file.exists()


def test_an_unmigrated_database_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    file = tmp_path / "empty.sqlite3"
    file.write_bytes(b"")
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", f"sqlite+aiosqlite:///{file}")
    assert main(["audit"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("callcontrol audit: the database") and "Traceback" not in err


def test_a_stored_actor_with_control_characters_is_shown_escaped(database: Path, capsys) -> None:
    async def save() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{database}")
        try:
            await SqlAuditTrail(engine).record(AuditEntry(T + timedelta(minutes=9), "anonymous", "auth.login_failed",
                                                          "user", "ro\x1b[2Jot\n", Outcome.DENIED, None, "10.0.0.9",
                                                          {"name": "ro\x1b[2Jot\n"}))
        finally:
            await engine.dispose()

    asyncio.run(save())
    assert main(["audit", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "user:ro\\x1b[2Jot\\n" in out and len(out.splitlines()) == 2
