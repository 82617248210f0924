"""Hot reload of the flows directory: watches it (watchfiles), reads it whole, and hands it to the flow catalog.

What goes live is the catalog's decision (services/flow_catalog.py); this module only reads files and logs:
- `flows.loaded` (at start): every live flow's version and the numbers answered;
- `flows.reloaded` (afterwards, only when something changed): each changed file's id, version and status;
- `flows.rejected`: a file whose newest content is not live, with each of its problems at file:line:col;
- `flows.warnings`: a file live with warnings.

Events from the file system trigger a reload about `debounce_ms` after the last one of a burst. Every
`rescan_ms` without events the directory is read again anyway, which costs a read and a hash per file
(unchanged content is not parsed again): it covers what file system events miss (a directory
replaced, network file systems, a change made before the watch started).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from watchfiles import Change, awatch

from callcontrol.adapters.flow_files import (
    FLOW_SUFFIXES,
    LocatedProblem,
    SkippedFile,
    flow_dir_entries,
    load_flow_file,
    read_flow_dir_file,
)
from callcontrol.services.flow_catalog import CatalogUpdate, FlowCatalog, FlowFile, describe

log = structlog.get_logger(__name__)


class FlowDirUnavailable(OSError):
    """The flows directory cannot be listed; nothing is changed."""


def _now() -> datetime:
    return datetime.now(UTC)


def _is_flow_file(_: Change, path: str) -> bool:
    return path.endswith(FLOW_SUFFIXES)


class FlowDirReader:
    """Reads every flow file of a directory; content already read (same path, same bytes) is not parsed again."""

    def __init__(self, flows_dir: Path, sounds_dir: Path | None = None) -> None:
        self.flows_dir = flows_dir
        self.sounds_dir = sounds_dir
        self._cache: dict[str, tuple[str, FlowFile]] = {}  # path -> (sha256 of the bytes, what they gave)

    def read(self) -> list[FlowFile]:
        """Every flow file, named relative to the flows directory (`main.yaml`): that name is what the catalog,
        the logs and /api/flows show. A symbolic link or anything but a regular file is not read: it is
        reported by its name with the reason."""
        if not self.flows_dir.is_dir():
            raise FlowDirUnavailable(f"flows directory {self.flows_dir} is missing or not a directory")
        try:
            names, skipped = flow_dir_entries(self.flows_dir)
        except OSError as exc:
            raise FlowDirUnavailable(f"cannot list flows directory {self.flows_dir}: {exc.strerror}") from None
        cache: dict[str, tuple[str, FlowFile]] = {}
        files: list[FlowFile] = [_problem(name, reason) for name, reason in skipped.items()]
        for source in names:
            try:
                text = read_flow_dir_file(self.flows_dir, source)
            except SkippedFile as exc:  # replaced by a link (or grown too large) since it was listed
                files.append(_problem(source, exc.reason))
                continue
            except FileNotFoundError:
                continue  # deleted since it was listed: it is gone
            except OSError as exc:
                files.append(_problem(source, f"cannot read: {exc.strerror}"))
                continue
            digest = hashlib.sha256(text).hexdigest()
            known = self._cache.get(source)
            if known is not None and known[0] == digest:
                file = known[1]
            else:
                file, _ = load_flow_file(text, source, self.sounds_dir)
            cache[source] = (digest, file)
            files.append(file)
        self._cache = cache
        return files


def _problem(source: str, message: str) -> FlowFile:
    return FlowFile(source, None, (str(LocatedProblem(source, 1, 1, message)),))


class FlowWatcher:
    """Keeps the catalog in step with the flows directory; `run` is a task owned by the service."""

    def __init__(
        self,
        flows_dir: Path,
        catalog: FlowCatalog,
        *,
        now: Callable[[], datetime] = _now,
        debounce_ms: int = 300,
        rescan_ms: int = 5_000,
        retry_s: float = 5.0,
        force_polling: bool | None = None,
        sounds_dir: Path | None = None,
    ) -> None:
        self.flows_dir = flows_dir
        self.catalog = catalog
        self._reader = FlowDirReader(flows_dir, sounds_dir)
        self._now = now
        self._debounce_ms = debounce_ms
        self._rescan_ms = rescan_ms
        self._retry_s = retry_s
        self._force_polling = force_polling
        self._stop = asyncio.Event()
        self._unavailable: str | None = None  # the last "directory unavailable" reason logged
        self._watch_error: str | None = None  # the last watch failure logged

    def reload_now(self) -> CatalogUpdate | None:
        """Read and apply the directory in the caller's thread (at start, before anything is served)."""
        try:
            files = self._reader.read()
        except FlowDirUnavailable as exc:
            self._dir_unavailable(exc)
            return None
        return self._apply(files, "flows.loaded")

    async def reload(self) -> CatalogUpdate | None:
        """Read the directory in a worker thread, then apply it on the event loop."""
        try:
            files = await asyncio.to_thread(self._reader.read)
        except FlowDirUnavailable as exc:
            self._dir_unavailable(exc)
            return None
        return self._apply(files, "flows.reloaded")

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Watch until stopped or cancelled; a watch that fails is logged and started again."""
        while not self._stop.is_set():
            try:
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the watch must outlive any failure; said in the log
                error = f"{type(exc).__name__}: {exc}"
                if error != self._watch_error:  # once per reason, not every retry
                    log.error("flows.watch_failed", flows_dir=str(self.flows_dir), error=error,
                              retry_every_s=self._retry_s)
                    self._watch_error = error
                try:
                    await asyncio.wait_for(self._stop.wait(), self._retry_s)
                except TimeoutError:
                    pass

    async def _watch(self) -> None:
        identity = _identity(self.flows_dir)
        established = False
        async for changes in awatch(self.flows_dir, watch_filter=_is_flow_file, debounce=self._debounce_ms,
                                    stop_event=self._stop, rust_timeout=self._rescan_ms, yield_on_timeout=True,
                                    recursive=False, force_polling=self._force_polling):
            if not established:  # the first answer: the watch was in place before it
                established, self._watch_error = True, None
                log.info("flows.watching", flows_dir=str(self.flows_dir), debounce_ms=self._debounce_ms,
                         rescan_ms=self._rescan_ms)
            await self._reload_logged()
            if not changes and _identity(self.flows_dir) != identity:
                log.info("flows.dir_replaced", flows_dir=str(self.flows_dir))
                return  # watch the new directory

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bug in one reload must not stop the watch
            log.exception("flows.reload_failed")

    def _apply(self, files: list[FlowFile], event: str) -> CatalogUpdate:
        if self._unavailable is not None:
            log.info("flows.dir_available", flows_dir=str(self.flows_dir))
            self._unavailable = None
        update = self.catalog.apply(files, self._now())
        if event == "flows.loaded":
            log.info(event, flows=update.versions, numbers=sorted(n for state in update.files for n in state.numbers))
        elif update.changed:
            log.info(event, changed=describe(update.changed), live=len(update.versions))
        for state in update.changed:
            if state.status == "error":
                log.warning("flows.rejected", source=state.source, problems=list(state.problems),
                            live_version=state.version)
            elif state.status == "ok_with_warnings":
                log.warning("flows.warnings", source=state.source, problems=list(state.problems),
                            version=state.version)
        return update

    def _dir_unavailable(self, exc: FlowDirUnavailable) -> None:
        if str(exc) != self._unavailable:  # once per reason, not every rescan
            log.error("flows.dir_unavailable", problem=str(exc),
                      kept={flow.id: flow.version for flow in self.catalog.flows})
            self._unavailable = str(exc)


def _identity(path: Path) -> Any:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino
