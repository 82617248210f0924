"""The recordings directory: where the service finds the files Asterisk writes, measures, checks and deletes them.

The service sees the directory at `root` (CALLCONTROL_RECORDINGS_DIR); Asterisk writes it at `asterisk_root`
(CALLCONTROL_RECORDINGS_ASTERISK_DIR): the same directory through the sandbox's chroot or a shared volume. Every
path below is a recording's relative_path (YYYY/MM/DD/<id>.wav, made by the service from its own id), never a
request's text.
"""

from __future__ import annotations

import hashlib
import os
import wave
from pathlib import Path, PurePosixPath

from callcontrol.core.recordings import FileFacts

MIN_FREE_BYTES = 50 * 1024 * 1024  # below this the directory counts as full: a new recording would be cut short
CHUNK = 1 << 20


class RecordingDirectory:
    def __init__(self, root: Path, asterisk_root: str, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        self.root = Path(root)
        self.asterisk_root = asterisk_root.rstrip("/") or "/"
        self.min_free_bytes = min_free_bytes

    def problem(self) -> str | None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK | os.X_OK):
                return f"recordings directory {self.root} is not writable"
            probe = self.root / f".probe-{os.getpid()}"
            probe.write_bytes(b"")  # root ignores permission bits: a real write says whether it can
            probe.unlink()
            stats = os.statvfs(self.root)
        except OSError as exc:
            return f"recordings directory {self.root}: {exc.strerror or exc}"
        free = stats.f_bavail * stats.f_frsize
        if free < self.min_free_bytes:
            return f"recordings directory {self.root} is full ({free // 1024} KiB free)"
        return None

    def asterisk_path(self, relative_path: str) -> str:
        return f"{self.asterisk_root}/{_checked(relative_path)}"

    def path_of(self, relative_path: str) -> Path:
        return self.root / _checked(relative_path)

    def measure(self, relative_path: str) -> FileFacts | None:
        path = self.path_of(relative_path)
        try:
            size = path.stat().st_size
            digest = hashlib.sha256()
            with path.open("rb") as file:
                while chunk := file.read(CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        return FileFacts(size, _duration(path), digest.hexdigest())

    def size_of(self, relative_path: str) -> int | None:
        try:
            return self.path_of(relative_path).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, relative_path: str) -> bool:
        try:
            self.path_of(relative_path).unlink()
        except FileNotFoundError:
            return False
        return True


def _duration(path: Path) -> float:
    """Seconds of audio the WAV holds (0.0 for a header only or a file wave cannot read)."""
    try:
        with wave.open(str(path), "rb") as audio:
            rate = audio.getframerate()
            return round(audio.getnframes() / rate, 3) if rate else 0.0
    except (wave.Error, EOFError, OSError):
        return 0.0


def _checked(relative_path: str) -> str:
    """Defence in depth: a relative path of plain parts only (the registry makes them; nothing else may)."""
    parts = PurePosixPath(relative_path).parts
    if not parts or any(part in ("", ".", "..") or "/" in part or "\0" in part for part in parts) \
            or relative_path.startswith("/"):
        raise ValueError("not a recording's relative path")
    return relative_path
