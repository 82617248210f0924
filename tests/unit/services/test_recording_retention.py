"""Retention and purge (services/recording_retention.py): expired files and rows go, legal holds and live stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from callcontrol.adapters.recording_files import RecordingDirectory
from callcontrol.core.recordings import COMPLETE, Recording
from callcontrol.services.recording_retention import RecordingPurger
from tests.support.clock import T0, SettableClock
from tests.support.recording import MemoryRecordingRegistry, write_wav


def recording(number: int, **changes: object) -> Recording:
    values: dict[str, object] = dict(id=f"rec_{number:032x}", call_id=f"c.{number}", channel="PJSIP/c-1",
                                     queue="support", agent="ada", started_at=T0, retention_days=30,
                                     state=COMPLETE, ended_at=T0 + timedelta(minutes=1))
    return Recording(**(values | changes))  # type: ignore[arg-type]


async def test_purge_deletes_expired_files_marks_rows_and_keeps_holds(tmp_path: Path) -> None:
    files = RecordingDirectory(tmp_path, str(tmp_path))
    registry = MemoryRecordingRegistry()
    rows = [recording(1), recording(2, legal_hold=True), recording(3, retention_days=90),
            recording(4, state="recording")]
    for row in rows:
        await registry.save(row)
        write_wav(files.path_of(row.relative_path), 0.1)
    clock = SettableClock(T0 + timedelta(days=31))
    purger = RecordingPurger(registry, files, clock)
    dry = await purger.purge(dry_run=True)
    assert [r.id for r in dry.purged] == [rows[0].id] and files.path_of(rows[0].relative_path).exists()
    report = await purger.purge()
    assert [r.id for r in report.purged] == [rows[0].id]
    assert not files.path_of(rows[0].relative_path).exists()
    assert registry.rows[rows[0].id].purged_at == clock.current
    assert all(files.path_of(r.relative_path).exists() for r in rows[1:])
    assert (await purger.purge()).purged == ()  # already purged
