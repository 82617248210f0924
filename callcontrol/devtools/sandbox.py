"""Runs the sandbox Asterisk 22 (a cached Debian sid chroot) that the demo, the tests and the benchmarks use.

AsteriskSandbox builds the chroot (sandbox_rootfs.py), installs the config (sandbox_config.py), starts, stops and
inspects Asterisk; sandbox_host.py has what they share (SandboxError, commands, ports, processes).
Traps it avoids: no DNS on the host (Asterisk would block on lookups per call, sandbox_rootfs writes /etc/hosts),
``-U root`` (Asterisk drops capabilities and cannot read its config), and sid in the host's apt sources.

Everything here needs root (chroot, debootstrap, apt-get).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import structlog

from callcontrol.devtools.sandbox_config import SANDBOX_CONFIG_DIR, install_config
from callcontrol.devtools.sandbox_host import (
    AMI_HOST,
    AMI_PORT,
    ASTERISK,
    CHROOT_ENV,
    SandboxError,
    chroot,
    daemon_pids,
    log_lines,
    port_open,
    ports_in_use,
    require_root,
    run,
    tail,
)
from callcontrol.devtools.sandbox_rootfs import HOST_TOOLS, build_rootfs

log = structlog.get_logger(__name__)

DEFAULT_ROOT = Path(os.environ.get("CALLCONTROL_SANDBOX_ROOT", "/var/cache/callcontrol/sandbox-sid"))

LOG_IN_ROOT = "var/log/asterisk/messages"
# Asterisk's hangup log (dialplan/cel_custom.conf), for the service's CALLCONTROL_ASTERISK_HANGUP_LOG
RECORDINGS_IN_ROOT = "/var/spool/asterisk/callcontrol-recordings"  # where the sandbox's MixMonitor writes
HANGUP_LOG_IN_ROOT = "var/log/asterisk/callcontrol-hangups.csv"
STARTUP_OUTPUT_IN_ROOT = "var/log/asterisk/sandbox-startup.out"

_SAFE_SECRET = re.compile(r"[A-Za-z0-9_.:+/=-]{8,128}")
_AGI_ADDRESS = re.compile(r"[A-Za-z0-9.\-]+:\d{1,5}")
_CHANNELS = re.compile(r"^(\d+) active channels?", re.MULTILINE)


class AsteriskSandbox:
    """One Asterisk in one cached Debian sid chroot, configured from a dialplan/ folder."""

    def __init__(
        self,
        config_dir: Path,
        ami_secret: str,
        root: Path = DEFAULT_ROOT,
        agi_address: str = "127.0.0.1:4573",
        extra_config_dir: Path | None = SANDBOX_CONFIG_DIR,
    ) -> None:
        # An empty secret is fine for stop()/status(); install_config() and start() refuse it.
        if ami_secret and not _SAFE_SECRET.fullmatch(ami_secret):
            raise ValueError("ami_secret must be 8-128 characters of [A-Za-z0-9_.:+/=-]")
        if not _AGI_ADDRESS.fullmatch(agi_address):
            raise ValueError(f"agi_address must be host:port, got {agi_address!r}")
        self.config_dir = Path(config_dir)
        self.extra_config_dir = None if extra_config_dir is None else Path(extra_config_dir)
        self.ami_secret = ami_secret
        self.root = Path(root)
        self.agi_address = agi_address
        self.last_boot_errors: list[str] = []
        self.last_boot_warnings: list[str] = []

    # ------------------------------------------------------------------ checks

    @staticmethod
    def prerequisites_missing() -> str | None:
        """None when this process can build and run the sandbox, else why not (and the fix)."""
        reasons = []
        if os.geteuid() != 0:
            reasons.append("run as root (chroot, debootstrap and apt-get need it)")
        for tool, package in HOST_TOOLS.items():
            if shutil.which(tool) is None:
                reasons.append(f"{tool} not found: apt-get install {package}")
        return "; ".join(reasons) or None

    # ------------------------------------------------------------------ build and config

    def build(self) -> None:
        """Install the host tools if missing and debootstrap the rootfs unless it is cached."""
        build_rootfs(self.root)

    def install_config(self) -> None:
        """Replace the chroot's /etc/asterisk with config_dir plus the files of extra_config_dir (added, never
        replacing one of config_dir), placeholders substituted."""
        require_root()
        if not self._asterisk_binary().exists():
            raise SandboxError(f"no sandbox rootfs at {self.root}: call build() first")
        if not self.config_dir.is_dir():
            raise SandboxError(f"config_dir {self.config_dir} is not a directory")
        if not self.ami_secret:
            raise SandboxError("no AMI secret: pass ami_secret (8-128 characters) to install the config")
        install_config(self.root, self.config_dir, self.extra_config_dir,
                       {"@AMI_SECRET@": self.ami_secret, "@AGI_ADDRESS@": self.agi_address})

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30) -> None:
        """(Re)start Asterisk with freshly installed config; return once AMI accepts connections."""
        require_root()
        if self.is_running():
            self.stop()
        busy = ports_in_use()
        if busy:
            raise SandboxError(
                f"{', '.join(busy)} already in use by another process (another Asterisk?): "
                "stop it first (ss -lntup shows who holds it)"
            )
        self.install_config()
        started = time.monotonic()
        deadline = started + timeout
        log_path = self.root / LOG_IN_ROOT
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        output = self.root / STARTUP_OUTPUT_IN_ROOT
        with open(output, "wb") as out:
            # Without -f Asterisk daemonizes; -U/-G asterisk (never root: with -U root it drops
            # capabilities and cannot read its own config).
            proc = subprocess.run(
                self._chroot(ASTERISK, "-U", "asterisk", "-G", "asterisk", "-C", "/etc/asterisk/asterisk.conf"),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=CHROOT_ENV,
                timeout=max(1.0, timeout),
                check=False,
            )
        if proc.returncode != 0:
            raise SandboxError(f"asterisk exited with {proc.returncode}: {tail(output)}")
        try:
            self._wait_booted(deadline)
        except SandboxError:
            errors = log_lines(log_path, log_offset, "ERROR")
            self.stop()
            raise SandboxError(
                f"asterisk did not boot within {timeout:g} s; errors: {errors[-5:]}; "
                f"startup output: {tail(output)}"
            ) from None
        self.last_boot_errors = log_lines(log_path, log_offset, "ERROR")
        self.last_boot_warnings = log_lines(log_path, log_offset, "WARNING")
        for line in self.last_boot_errors:
            log.warning("sandbox.boot_error", line=line)
        log.info(
            "sandbox.started",
            root=str(self.root),
            pids=daemon_pids(self.root),
            seconds=round(time.monotonic() - started, 2),
            boot_errors=len(self.last_boot_errors),
            boot_warnings=len(self.last_boot_warnings),
        )

    def _wait_booted(self, deadline: float) -> None:
        booted = False
        while time.monotonic() < deadline:
            if not self.is_running():
                time.sleep(0.1)
                if not self.is_running():
                    raise SandboxError("asterisk process is gone")
            if not booted:
                remaining = max(0.5, deadline - time.monotonic())
                try:
                    result = subprocess.run(
                        self._chroot(ASTERISK, "-rx", "core waitfullybooted"),
                        stdin=subprocess.DEVNULL,
                        capture_output=True,
                        env=CHROOT_ENV,
                        timeout=remaining,
                        check=False,
                    )
                except subprocess.TimeoutExpired:
                    break
                booted = result.returncode == 0 and b"fully booted" in result.stdout
            if booted and port_open(AMI_HOST, AMI_PORT):
                return
            time.sleep(0.1)
        raise SandboxError("timeout")

    def stop(self, timeout: float = 15) -> None:
        """Stop Asterisk ('core stop now', then signals); does nothing if it is not running."""
        pids = daemon_pids(self.root)
        if not pids:
            return
        started = time.monotonic()
        deadline = started + timeout
        try:
            subprocess.run(
                self._chroot(ASTERISK, "-rx", "core stop now"),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=CHROOT_ENV,
                timeout=max(1.0, min(5.0, timeout / 2)),
                check=False,
            )
        except subprocess.TimeoutExpired:
            pass
        escalation = [(deadline - 2.0, signal.SIGTERM), (deadline, signal.SIGKILL)]
        while True:
            pids = daemon_pids(self.root)
            if not pids:
                break
            now = time.monotonic()
            if escalation and now >= escalation[0][0]:
                _, sig = escalation.pop(0)
                log.warning("sandbox.stop.signal", pids=pids, signal=sig.name)
                for pid in pids:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            elif not escalation and now >= deadline + 5:
                raise SandboxError(f"asterisk (pids {pids}) survived SIGKILL; check `ps -p {pids[0]}`")
            time.sleep(0.05)
        log.info("sandbox.stopped", seconds=round(time.monotonic() - started, 2))

    def restart(self) -> None:
        """Stop, reinstall the config, start."""
        self.stop()
        self.start()

    def is_running(self) -> bool:
        """True if an Asterisk daemon runs in this sandbox's root."""
        return bool(daemon_pids(self.root))

    def __enter__(self) -> AsteriskSandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection

    def cli(self, command: str) -> str:
        """Run one Asterisk CLI command (asterisk -rx) and return its output."""
        result = run(
            self._chroot(ASTERISK, "-rx", command),
            timeout=30,
            env=CHROOT_ENV,
            what=f"asterisk -rx {command!r} (is the sandbox running?)",
        )
        return result.stdout

    def recordings_dir(self, name: str = "callcontrol") -> tuple[Path, str]:
        """A recordings directory Asterisk (user asterisk, in the chroot) may write: (the path the service
        reads it at, the path Asterisk writes it at), for CALLCONTROL_RECORDINGS_DIR and
        CALLCONTROL_RECORDINGS_ASTERISK_DIR."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise ValueError("a recordings directory name is 1-64 letters, digits, _ or -")
        inside = f"{RECORDINGS_IN_ROOT}/{name}"
        (self.root / inside.lstrip("/")).mkdir(parents=True, exist_ok=True)
        subprocess.run(self._chroot("chown", "-R", "asterisk:asterisk", RECORDINGS_IN_ROOT), env=CHROOT_ENV,
                       timeout=30, check=True, capture_output=True)
        return self.root / inside.lstrip("/"), inside

    def active_channels(self) -> int:
        """Number of channels Asterisk has right now."""
        output = self.cli("core show channels count")
        match = _CHANNELS.search(output)
        if match is None:
            raise SandboxError(f"unexpected 'core show channels count' output: {output!r}")
        return int(match.group(1))

    def status(self) -> dict:
        """running, version, channels (None when stopped), root."""
        running = self.is_running()
        version = None
        if self._asterisk_binary().exists():
            result = subprocess.run(
                self._chroot(ASTERISK, "-V"), capture_output=True, text=True, env=CHROOT_ENV, timeout=10, check=False
            )
            version = result.stdout.strip() or None
        return {
            "running": running,
            "version": version,
            "channels": self.active_channels() if running else None,
            "root": str(self.root),
        }

    # ------------------------------------------------------------------ helpers

    def hangup_log_path(self) -> Path:
        """Where the service reads Asterisk's hangup log from the host (inside the chroot root)."""
        return self.root / HANGUP_LOG_IN_ROOT

    def _asterisk_binary(self) -> Path:
        return self.root / ASTERISK.lstrip("/")

    def _chroot(self, *args: str) -> list[str]:
        return chroot(self.root, *args)
