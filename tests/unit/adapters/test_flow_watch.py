"""The flows directory reader and watcher (callcontrol.adapters.flow_watch), in process: what is read and goes live."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcontrol.adapters.flow_files import MAX_FILE_BYTES
from callcontrol.adapters.flow_watch import FlowDirReader, FlowWatcher
from callcontrol.services.flow_catalog import FlowCatalog
from tests.support.flows import OTHER_ON_5000, SECRET, version_of
from tests.support.paths import REPO
from tests.support.polling import eventually

MAIN_YAML = (REPO / "ivr_flows" / "main.yaml").read_text()
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


# ---------------------------------------------------------------- the reader and the watcher, in process


def test_reader_parses_only_files_whose_bytes_changed(tmp_path: Path) -> None:
    """Reading again reuses the Flow of an unchanged file and parses the changed one."""
    (tmp_path / "main.yaml").write_text(MAIN_YAML)
    (tmp_path / "other.yaml").write_text(OTHER_ON_5000.replace("5000", "6000"))
    reader = FlowDirReader(tmp_path)
    first = {Path(f.source).name: f for f in reader.read()}
    (tmp_path / "other.yaml").write_text(OTHER_ON_5000.replace("5000", "6001"))
    second = {Path(f.source).name: f for f in reader.read()}
    assert second["main.yaml"].flow is first["main.yaml"].flow
    flow = second["other.yaml"].flow
    assert flow is not None and flow.numbers == ("6001",)


def test_reader_refuses_an_oversized_file_without_reading_it(tmp_path: Path) -> None:
    """A file over the size limit is an error at 1:1 and is not parsed."""
    (tmp_path / "huge.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    [file] = FlowDirReader(tmp_path).read()
    assert file.flow is None
    assert file.problems[0].endswith(f"huge.yaml:1:1: error: file larger than {MAX_FILE_BYTES} bytes")


def test_missing_directory_keeps_what_is_live(tmp_path: Path) -> None:
    """If the flows directory disappears nothing is removed; when it is back, it is read again."""
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    (flows_dir / "main.yaml").write_text(MAIN_YAML)
    catalog = FlowCatalog()
    watcher = FlowWatcher(flows_dir, catalog, now=lambda: T0)
    assert watcher.reload_now() is not None
    flows_dir.rename(tmp_path / "away")
    assert watcher.reload_now() is None
    assert catalog.for_number("5000") is not None
    (tmp_path / "away").rename(flows_dir)
    (flows_dir / "main.yaml").unlink()
    update = watcher.reload_now()
    assert update is not None and [s.status for s in update.changed] == ["removed"]


@pytest.fixture
async def watching(tmp_path: Path) -> AsyncIterator[tuple[Path, FlowCatalog, FlowWatcher]]:
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    (flows_dir / "main.yaml").write_text(MAIN_YAML)
    catalog = FlowCatalog()
    watcher = FlowWatcher(flows_dir, catalog, debounce_ms=100, rescan_ms=300)
    watcher.reload_now()
    task = asyncio.create_task(watcher.run())
    try:
        yield flows_dir, catalog, watcher
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 5)


def live_version(catalog: FlowCatalog) -> str | None:
    flow = catalog.for_number("5000")
    return flow.version if flow is not None else None


async def test_watcher_puts_an_edit_live_and_stops_cleanly(watching) -> None:
    """An edit written in place goes live within seconds; stop() ends the watch task."""
    flows_dir, catalog, _ = watching
    edited = MAIN_YAML.replace("hello-world", "beep")
    (flows_dir / "main.yaml").write_text(edited)
    await eventually(lambda: live_version(catalog) == version_of(edited), 10, what="the edit live")


async def test_watcher_rescan_sees_a_change_that_raised_no_event(watching) -> None:
    """A change behind a symlink inside the directory, laid out as a Kubernetes ConfigMap is (side.yaml ->
    ..data/side.yaml, ..data -> ..2026_01_05), is found by the periodic rescan (the watch is not recursive)."""
    flows_dir, catalog, _ = watching
    data = flows_dir / "..2026_01_05"
    data.mkdir()
    (data / "side.yaml").write_text(OTHER_ON_5000.replace("5000", "7000"))
    (flows_dir / "..data").symlink_to(data.name)
    (flows_dir / "side.yaml").symlink_to("..data/side.yaml")
    await eventually(lambda: catalog.for_number("7000") is not None, 10, what="the linked flow live")
    (data / "side.yaml").write_text(OTHER_ON_5000.replace("5000", "7001"))  # in a folder that is not watched
    await eventually(lambda: catalog.for_number("7001") is not None, 10, what="the rescan")


def test_a_link_out_of_the_flows_directory_is_never_read(tmp_path: Path) -> None:
    """A symbolic link to a file outside (as to /etc/shadow) is skipped by its name with the reason; nothing of
    the target (lines, path) reaches the problems. A FIFO or a folder named like a flow is skipped too."""
    flows_dir, outside = tmp_path / "flows", tmp_path / "etc"
    flows_dir.mkdir()
    outside.mkdir()
    (outside / "shadow").write_text(SECRET)
    (flows_dir / "main.yaml").write_text(MAIN_YAML)
    (flows_dir / "shadow.yaml").symlink_to(outside / "shadow")
    (flows_dir / "relative.yaml").symlink_to("../etc/shadow")
    (flows_dir / "loop.yaml").symlink_to("loop.yaml")
    os.mkfifo(flows_dir / "pipe.yaml")  # opening it for reading would block a reader that follows it
    (flows_dir / "folder.yaml").mkdir()
    files = {f.source: f for f in FlowDirReader(flows_dir).read()}
    assert sorted(files) == ["folder.yaml", "loop.yaml", "main.yaml", "pipe.yaml", "relative.yaml", "shadow.yaml"]
    assert files["main.yaml"].flow is not None and files["main.yaml"].problems == ()
    outside_reason = ("skipped: a symbolic link to a file outside the flows directory (flow files are read only "
                      "as regular files inside it)")
    for name in ("shadow.yaml", "relative.yaml"):
        assert files[name].flow is None and files[name].problems == (f"{name}:1:1: error: {outside_reason}",)
    assert files["loop.yaml"].problems == ("loop.yaml:1:1: error: cannot read: Too many levels of symbolic links",)
    for name in ("pipe.yaml", "folder.yaml"):
        assert files[name].problems == (f"{name}:1:1: error: skipped: not a regular file (flow files are read "
                                        "only as regular files inside the flows directory)",)
    shown = repr([f.problems for f in files.values()])
    assert "root" not in shown and "daemon" not in shown and str(tmp_path) not in shown


def test_a_link_swapped_for_one_going_outside_stops_being_read(tmp_path: Path) -> None:
    """A flow that was a link inside the directory and is made to point outside is skipped on the next read;
    the catalog keeps its last good version live, as for any bad edit."""
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    (flows_dir / ".real").mkdir()
    (flows_dir / ".real" / "main.yaml").write_text(MAIN_YAML)
    (flows_dir / "main.yaml").symlink_to(".real/main.yaml")
    (tmp_path / "shadow").write_text(SECRET)
    catalog = FlowCatalog()
    watcher = FlowWatcher(flows_dir, catalog, now=lambda: T0)
    watcher.reload_now()
    assert live_version(catalog) == version_of(MAIN_YAML)
    (flows_dir / "main.yaml").unlink()
    (flows_dir / "main.yaml").symlink_to(tmp_path / "shadow")
    update = watcher.reload_now()
    assert update is not None
    [state] = update.changed
    assert (state.source, state.status, live_version(catalog)) == ("main.yaml", "error", version_of(MAIN_YAML))
    assert "outside the flows directory" in state.problems[0] and "root" not in state.problems[0]


async def test_directory_created_after_start_is_watched_once_it_exists(tmp_path: Path) -> None:
    """A watch that cannot start (no directory yet) is retried, and the flows are read once the directory appears."""
    flows_dir = tmp_path / "flows"
    catalog = FlowCatalog()
    watcher = FlowWatcher(flows_dir, catalog, debounce_ms=100, rescan_ms=300, retry_s=0.2)
    assert watcher.reload_now() is None
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.sleep(0.5)
        assert not task.done()
        flows_dir.mkdir()
        (flows_dir / "main.yaml").write_text(MAIN_YAML)
        await eventually(lambda: live_version(catalog) == version_of(MAIN_YAML), 10, what="the new directory read")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
