"""The sandbox's host side: SandboxError, commands run on the host or in the chroot, its ports and processes.

Asterisk runs in the chroot as the ``asterisk`` user and shares the host's network namespace: AMI (127.0.0.1:5038)
and SIP (127.0.0.1:5060) are reachable from the host. Everything here needs root (chroot, debootstrap, apt-get).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

AMI_HOST = "127.0.0.1"
AMI_PORT = 5038
SIP_PORT = 5060
ASTERISK = "/usr/sbin/asterisk"
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "HOME": "/var/lib/asterisk"}


class SandboxError(RuntimeError):
    """The sandbox cannot be built or run; the message says what to do about it."""


def chroot(root: Path, *args: str) -> list[str]:
    """The command line running args inside the chroot at root."""
    return ["chroot", str(root), *args]


def daemon_pids(sandbox_root: Path) -> list[int]:
    """Pids of Asterisk daemons whose root is this sandbox (remote consoles excluded)."""
    try:
        root = os.path.realpath(sandbox_root)
    except OSError:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "asterisk":
                continue
            if os.readlink(entry / "root") != root:
                continue
            if proc_state(entry) in ("Z", "X"):
                continue
            args = (entry / "cmdline").read_bytes().split(b"\0")[1:]
        except OSError:
            continue
        if any(re.fullmatch(rb"-[A-Za-z]*[rR][A-Za-z]*", arg) for arg in args):
            continue  # asterisk -r / -rx: a remote console, not the daemon
        pids.append(int(entry.name))
    return sorted(pids)


def require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError("the Asterisk sandbox needs root (chroot, debootstrap): run as root")


def run(
    args: list[str], *, timeout: float, what: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SandboxError(f"{what}: {exc.filename} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{what}: no result after {timeout:g} s") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-2000:]
        raise SandboxError(f"{what} failed (exit {result.returncode}): {detail}")
    return result


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ports_in_use() -> list[str]:
    busy = []
    if port_open(AMI_HOST, AMI_PORT):
        busy.append(f"TCP {AMI_HOST}:{AMI_PORT} (AMI)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.bind((AMI_HOST, SIP_PORT))
        except OSError:
            busy.append(f"UDP {AMI_HOST}:{SIP_PORT} (SIP)")
    return busy


def proc_state(proc_dir: Path) -> str:
    stat = (proc_dir / "stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def log_lines(path: Path, offset: int, level: str) -> list[str]:
    """Lines of Asterisk's log file written after offset that have the given level."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    marker = f"] {level}["
    return [line for line in text.splitlines() if marker in line]


def tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""
