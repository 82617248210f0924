"""`callcontrol recordings list|export|verify|purge` and `calls recent` linking a call's recordings."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcontrol.adapters.db.people_store import SqlAuditTrail
from callcontrol.adapters.db.recording_store import SqlRecordingRegistry
from callcontrol.adapters.db.schema import upgrade
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.adapters.recording_files import RecordingDirectory
from callcontrol.cli import main
from callcontrol.core.calls import CallRecord
from callcontrol.core.recordings import COMPLETE, Recording
from tests.support.paths import REPO
from tests.support.recording import write_wav

OLD = datetime(2020, 1, 2, 9, tzinfo=UTC)


def recording(number: int, **changes: object) -> Recording:
    values: dict[str, object] = dict(id=f"rec_{number:032x}", call_id="1764000000.1", channel="PJSIP/c-1",
                                     queue="support", agent="ada", started_at=OLD + timedelta(minutes=number),
                                     retention_days=30, state=COMPLETE,
                                     ended_at=OLD + timedelta(minutes=number, seconds=1))
    return Recording(**(values | changes))  # type: ignore[arg-type]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RecordingDirectory, list[Recording]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    upgrade(REPO / "migrations", url)
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", url)
    monkeypatch.setenv("CALLCONTROL_RECORDINGS_DIR", str(tmp_path / "recordings"))
    files = RecordingDirectory(tmp_path / "recordings", str(tmp_path / "recordings"))
    rows = []
    for number, hold in ((1, False), (2, True)):
        path = files.path_of(recording(number).relative_path)
        write_wav(path, 0.5)
        facts = files.measure(recording(number).relative_path)
        assert facts is not None
        rows.append(recording(number, legal_hold=hold, size_bytes=facts.size_bytes, sha256=facts.sha256,
                              duration_s=facts.duration_s))

    async def save() -> None:
        engine = make_engine(url)
        try:
            await SqlCallRecordStore(engine).save([CallRecord("1764000000.1", "1764000000.1", "PJSIP/t-1", "1555",
                                                              "", "5002", started_at=OLD)])
            for row in rows:
                await SqlRecordingRegistry(engine).save(row)
        finally:
            await engine.dispose()

    asyncio.run(save())
    return files, rows


async def _audit_entries() -> list:
    engine = make_engine(os.environ["CALLCONTROL_DATABASE_URL"])
    try:
        return await SqlAuditTrail(engine).entries()
    finally:
        await engine.dispose()


def test_list_verify_export_purge_and_calls_recent(setup, tmp_path: Path, capsys) -> None:
    files, (expired, held) = setup
    assert main(["recordings", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out] == [held.id, expired.id] and "hold" in out[0]
    assert main(["calls", "recent", "--json"]) == 0
    call = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in call["recordings"]] == [expired.id, held.id]  # the call record links its recordings
    assert main(["recordings", "verify"]) == 0
    assert "2 file(s) checked, 0 problem(s)" in capsys.readouterr().out
    assert main(["recordings", "export", expired.id, str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / f"{expired.id}.wav").read_bytes() == files.path_of(expired.relative_path).read_bytes()
    assert json.loads((tmp_path / "out" / f"{expired.id}.json").read_text())["sha256"] == expired.sha256
    assert main(["recordings", "export", "../../etc/passwd", str(tmp_path / "out")]) == 1
    (exported,) = asyncio.run(_audit_entries())  # the export is audited; the refused one exported nothing
    assert exported.action == "recording.export" and exported.object_id == expired.id
    assert exported.actor.startswith("cli:") and exported.source == "cli"
    capsys.readouterr()
    assert main(["recordings", "purge", "--dry-run"]) == 0
    assert f"would purge {expired.id}" in capsys.readouterr().out
    assert files.path_of(expired.relative_path).exists()
    assert main(["recordings", "purge"]) == 0
    assert "1 recording(s) purged" in capsys.readouterr().out
    assert not files.path_of(expired.relative_path).exists() and files.path_of(held.relative_path).exists()
    files.path_of(held.relative_path).write_bytes(b"RIFF tampered")
    assert main(["recordings", "verify"]) == 1
    assert f"CHANGED  {held.id}" in capsys.readouterr().out
