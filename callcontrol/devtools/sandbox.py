"""Provisions and runs the sandbox Asterisk 22 (Debian sid chroot) that the demo and the tests use.

Debian bookworm ships no Asterisk, so the sandbox is a Debian sid root filesystem made with
debootstrap (asterisk, asterisk-modules, asterisk-core-sounds-en-gsm) and cached on disk.
Asterisk runs inside it with chroot as the ``asterisk`` user and shares the host's network
namespace: AMI (127.0.0.1:5038) and SIP (127.0.0.1:5060) are reachable from the host.
The configuration is the repository's ``dialplan/`` folder (what an operator installs) plus ``dialplan-sandbox/``
(the sandbox's own test phones and numbers), installed over the Debian samples.
Traps it avoids: no DNS on the host (Asterisk would block on lookups per call), ``-U root``
(Asterisk drops capabilities and cannot read its config), and sid in the host's apt sources
(never added: the next apt-get upgrade would break the host).

Everything here needs root (chroot, debootstrap, apt-get).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

DEFAULT_ROOT = Path(os.environ.get("CALLCONTROL_SANDBOX_ROOT", "/var/cache/callcontrol/sandbox-sid"))

SUITE = "sid"
# asterisk-moh-opsound-gsm: music on hold for callers waiting in a queue (musiconhold.conf's default class)
ROOTFS_PACKAGES = ("asterisk", "asterisk-modules", "asterisk-core-sounds-en-gsm", "asterisk-moh-opsound-gsm")
# executable on the host -> Debian package that provides it
HOST_TOOLS = {"debootstrap": "debootstrap", "sipp": "sip-tester"}
FALLBACK_MIRROR = "http://deb.debian.org/debian"

AMI_HOST = "127.0.0.1"
AMI_PORT = 5038
SIP_PORT = 5060

ASTERISK = "/usr/sbin/asterisk"
CONFIG_DIR_IN_ROOT = "etc/asterisk"
LOG_IN_ROOT = "var/log/asterisk/messages"
# Asterisk's hangup log (dialplan/cel_custom.conf), for the service's CALLCONTROL_ASTERISK_HANGUP_LOG
HANGUP_LOG_IN_ROOT = "var/log/asterisk/callcontrol-hangups.csv"
STARTUP_OUTPUT_IN_ROOT = "var/log/asterisk/sandbox-startup.out"
# Directories Asterisk writes at runtime; /run is a tmpfs on a real system, empty in the chroot.
RUNTIME_DIRS = ("run/asterisk", "var/cache/asterisk")
SECRET_FILES = ("manager.conf",)
# The sandbox's own config (benchmark baselines, test phones and test numbers): files added next to the operator's
# dialplan/, which reads them with #tryinclude. Only the sandbox installs them; an operator's Asterisk never has them.
SANDBOX_CONFIG_DIR = Path(__file__).resolve().parents[2] / "dialplan-sandbox"

_CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "HOME": "/var/lib/asterisk"}
_SAFE_SECRET = re.compile(r"[A-Za-z0-9_.:+/=-]{8,128}")
_AGI_ADDRESS = re.compile(r"[A-Za-z0-9.\-]+:\d{1,5}")
_CHANNELS = re.compile(r"^(\d+) active channels?", re.MULTILINE)


class SandboxError(RuntimeError):
    """The sandbox cannot be built or run; the message says what to do about it."""


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

    # ------------------------------------------------------------------ build

    def build(self) -> None:
        """Install the host tools if missing and debootstrap the rootfs unless it is cached."""
        _require_root()
        self._install_host_tools()
        if not self._asterisk_binary().exists():
            self._debootstrap()
        else:
            self._install_missing_packages()
        self._write_hosts()
        self._isolate_asterisk_ids()

    def _isolate_asterisk_ids(self) -> None:
        """Give the chroot's asterisk user a uid/gid no host account has.

        The chroot shares the host kernel: an Asterisk running as uid 101 in the chroot is, to the host,
        whatever account has uid 101 there (postgres on these machines), and could signal its processes.
        """
        uid, gid = _passwd_ids(self.root / "etc/passwd", "asterisk")
        host_uids, host_gids = _all_ids(Path("/etc/passwd")), _all_ids(Path("/etc/group"))
        if uid not in host_uids and gid not in host_gids:
            return
        taken = host_uids | host_gids | _all_ids(self.root / "etc/passwd") | _all_ids(self.root / "etc/group")
        new = next(candidate for candidate in range(64000, 65000) if candidate not in taken)
        for command, what in (
            (["groupmod", "-g", str(new), "asterisk"], "groupmod asterisk"),
            (["usermod", "-u", str(new), "-g", str(new), "asterisk"], "usermod asterisk"),
            (["find", "/", "-xdev", "-uid", str(uid), "-exec", "chown", "-h", str(new), "{}", "+"], "chown files"),
            (["find", "/", "-xdev", "-gid", str(gid), "-exec", "chgrp", "-h", str(new), "{}", "+"], "chgrp files"),
        ):
            _run(self._chroot(*command), timeout=120, env=_CHROOT_ENV, what=what)
        log.info("sandbox.asterisk_ids_moved", old_uid=uid, old_gid=gid, new_id=new)

    def _install_host_tools(self) -> None:
        missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
        if not missing:
            return
        log.info("sandbox.host_packages.install", packages=missing)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update"], timeout=600, env=env, what="apt-get update")
        _run(
            ["apt-get", "install", "-y", "--no-install-recommends", *missing],
            timeout=1200,
            env=env,
            what=f"apt-get install {' '.join(missing)}",
        )

    def _install_missing_packages(self) -> None:
        """A rootfs cached by an older version of this list gets the packages added since, from its own apt."""
        status = self.root / "var/lib/dpkg/status"
        installed = set()
        package = ""
        for line in status.read_text(errors="replace").splitlines():
            if line.startswith("Package: "):
                package = line.removeprefix("Package: ").strip()
            elif line.startswith("Status: ") and line.endswith(" installed"):
                installed.add(package)
        missing = [name for name in ROOTFS_PACKAGES if name not in installed]
        if not missing:
            return
        log.info("sandbox.build.install_missing", packages=missing)
        env = {**_CHROOT_ENV, "DEBIAN_FRONTEND": "noninteractive"}
        # The mirror may serve a frozen snapshot of sid whose Release file is past its Valid-Until date;
        # debootstrap does not check that date, so apt must not either, or a cached rootfs could never update.
        apt = ("apt-get", "-o", "Acquire::Check-Valid-Until=false")
        _run(self._chroot(*apt, "update"), timeout=600, env=env, what="apt-get update in the sandbox")
        _run(self._chroot(*apt, "install", "-y", "--no-install-recommends", *missing), timeout=1200, env=env,
             what=f"apt-get install {' '.join(missing)} in the sandbox (or rm -rf {self.root} to rebuild it)")

    def _debootstrap(self) -> None:
        root = self.root
        partial = root.with_name(root.name + ".partial")
        if root.exists() and any(root.iterdir()):
            raise SandboxError(
                f"{root} exists but has no {ASTERISK}: it is not a sandbox rootfs; "
                f"remove it (rm -rf {root}) or set CALLCONTROL_SANDBOX_ROOT elsewhere"
            )
        if partial.exists():
            _refuse_if_mounted(partial)
            log.info("sandbox.build.remove_partial", path=str(partial))
            shutil.rmtree(partial)
        partial.parent.mkdir(parents=True, exist_ok=True)
        mirror = host_debian_mirror()
        log.info("sandbox.build.debootstrap", suite=SUITE, target=str(partial), mirror=mirror)
        started = time.monotonic()
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(ROOTFS_PACKAGES),
                SUITE,
                str(partial),
                mirror,
            ],
            timeout=3600,
            what="debootstrap",
        )
        if not (partial / ASTERISK.lstrip("/")).exists():
            raise SandboxError(f"debootstrap finished but {partial}{ASTERISK} is missing; see its output")
        if root.exists():
            root.rmdir()  # empty, checked above
        os.rename(partial, root)
        log.info("sandbox.build.done", root=str(root), seconds=round(time.monotonic() - started, 1))

    def _write_hosts(self) -> None:
        # No DNS here: without these names Asterisk blocks on lookups per call (408 under load).
        hostname = socket.gethostname()
        names = " ".join(dict.fromkeys(["localhost", hostname, "A.ROOT-SERVERS.NET"]))
        text = f"127.0.0.1\t{names}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        hosts = self.root / "etc/hosts"
        if not hosts.exists() or hosts.read_text() != text:
            hosts.write_text(text)

    # ------------------------------------------------------------------ config

    def install_config(self) -> None:
        """Replace the chroot's /etc/asterisk with config_dir plus the files of extra_config_dir (added, never
        replacing one of config_dir), placeholders substituted."""
        _require_root()
        if not self._asterisk_binary().exists():
            raise SandboxError(f"no sandbox rootfs at {self.root}: call build() first")
        if not self.config_dir.is_dir():
            raise SandboxError(f"config_dir {self.config_dir} is not a directory")
        if not self.ami_secret:
            raise SandboxError("no AMI secret: pass ami_secret (8-128 characters) to install the config")
        files = _config_files(self.config_dir)
        if self.extra_config_dir is not None:
            extra = _config_files(self.extra_config_dir)
            clashes = sorted(set(files) & set(extra))
            if clashes:
                raise SandboxError(f"{self.extra_config_dir} may only add files: {', '.join(clashes)} "
                                   f"already in {self.config_dir}")
            files |= extra
        self._write_hosts()
        etc = self.root / CONFIG_DIR_IN_ROOT
        etc.mkdir(parents=True, exist_ok=True)
        # Remove the Debian samples (every file, subfolders too) so no sample config loads.
        for entry in etc.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        substitutions = {"@AMI_SECRET@": self.ami_secret, "@AGI_ADDRESS@": self.agi_address}
        for relative, source in sorted(files.items()):
            target = etc / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            text = source.read_text()
            for placeholder, value in substitutions.items():
                text = text.replace(placeholder, value)
            mode = 0o640 if relative in SECRET_FILES else 0o644
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.chmod(target, mode)
        for directory in RUNTIME_DIRS:
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        _run(
            self._chroot("chown", "-R", "asterisk:asterisk", "/etc/asterisk", *("/" + d for d in RUNTIME_DIRS)),
            timeout=60,
            env=_CHROOT_ENV,
            what="chown asterisk config",
        )
        log.info("sandbox.config.installed", source=str(self.config_dir), extra=str(self.extra_config_dir),
                 target=str(etc))

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30) -> None:
        """(Re)start Asterisk with freshly installed config; return once AMI accepts connections."""
        _require_root()
        if self.is_running():
            self.stop()
        busy = _ports_in_use()
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
                env=_CHROOT_ENV,
                timeout=max(1.0, timeout),
                check=False,
            )
        if proc.returncode != 0:
            raise SandboxError(f"asterisk exited with {proc.returncode}: {_tail(output)}")
        try:
            self._wait_booted(deadline)
        except SandboxError:
            errors = _log_lines(log_path, log_offset, "ERROR")
            self.stop()
            raise SandboxError(
                f"asterisk did not boot within {timeout:g} s; errors: {errors[-5:]}; "
                f"startup output: {_tail(output)}"
            ) from None
        self.last_boot_errors = _log_lines(log_path, log_offset, "ERROR")
        self.last_boot_warnings = _log_lines(log_path, log_offset, "WARNING")
        for line in self.last_boot_errors:
            log.warning("sandbox.boot_error", line=line)
        log.info(
            "sandbox.started",
            root=str(self.root),
            pids=self._daemon_pids(),
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
                        env=_CHROOT_ENV,
                        timeout=remaining,
                        check=False,
                    )
                except subprocess.TimeoutExpired:
                    break
                booted = result.returncode == 0 and b"fully booted" in result.stdout
            if booted and _port_open(AMI_HOST, AMI_PORT):
                return
            time.sleep(0.1)
        raise SandboxError("timeout")

    def stop(self, timeout: float = 15) -> None:
        """Stop Asterisk ('core stop now', then signals); does nothing if it is not running."""
        pids = self._daemon_pids()
        if not pids:
            return
        started = time.monotonic()
        deadline = started + timeout
        try:
            subprocess.run(
                self._chroot(ASTERISK, "-rx", "core stop now"),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=_CHROOT_ENV,
                timeout=max(1.0, min(5.0, timeout / 2)),
                check=False,
            )
        except subprocess.TimeoutExpired:
            pass
        escalation = [(deadline - 2.0, signal.SIGTERM), (deadline, signal.SIGKILL)]
        while True:
            pids = self._daemon_pids()
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
        return bool(self._daemon_pids())

    def __enter__(self) -> AsteriskSandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection

    def cli(self, command: str) -> str:
        """Run one Asterisk CLI command (asterisk -rx) and return its output."""
        result = _run(
            self._chroot(ASTERISK, "-rx", command),
            timeout=30,
            env=_CHROOT_ENV,
            what=f"asterisk -rx {command!r} (is the sandbox running?)",
        )
        return result.stdout

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
                self._chroot(ASTERISK, "-V"), capture_output=True, text=True, env=_CHROOT_ENV, timeout=10, check=False
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
        return ["chroot", str(self.root), *args]

    def _daemon_pids(self) -> list[int]:
        """Pids of Asterisk daemons whose root is this sandbox (remote consoles excluded)."""
        try:
            root = os.path.realpath(self.root)
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
                if _proc_state(entry) in ("Z", "X"):
                    continue
                args = (entry / "cmdline").read_bytes().split(b"\0")[1:]
            except OSError:
                continue
            if any(re.fullmatch(rb"-[A-Za-z]*[rR][A-Za-z]*", arg) for arg in args):
                continue  # asterisk -r / -rx: a remote console, not the daemon
            pids.append(int(entry.name))
        return sorted(pids)


# ---------------------------------------------------------------------- module helpers


def host_debian_mirror() -> str:
    """The first Debian archive URI the host's own apt sources name (never sid itself)."""
    candidates: list[str] = []
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        try:
            text = sources.read_text()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields = _deb822_fields(stanza)
            if "deb" not in fields.get("types", "deb").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            candidates.extend(fields.get("uris", "").split())
    for list_file in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        try:
            lines = list_file.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 2 and words[0] == "deb":
                candidates.append(words[1])
    for uri in candidates:
        path = uri.rstrip("/")
        if path.endswith("/debian") and "security" not in path:
            return path
    return FALLBACK_MIRROR


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t" and key:
            fields[key] += " " + line.strip()
            continue
        if ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields


def _passwd_ids(passwd: Path, name: str) -> tuple[int, int]:
    for line in passwd.read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise SandboxError(f"no user {name} in {passwd}: the rootfs is incomplete (delete it to rebuild)")


def _all_ids(path: Path) -> set[int]:
    """Every numeric id (third field) in a passwd or group file."""
    return {int(line.split(":")[2]) for line in path.read_text().splitlines() if line.count(":") >= 3}


def _config_files(folder: Path) -> dict[str, Path]:
    """Every file under folder by its relative path (hidden files and folders left out)."""
    if not folder.is_dir():
        raise SandboxError(f"config folder {folder} is not a directory")
    files = {}
    for source in folder.rglob("*"):
        relative = source.relative_to(folder)
        if source.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = source
    return files


def _require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError("the Asterisk sandbox needs root (chroot, debootstrap): run as root")


def _refuse_if_mounted(path: Path) -> None:
    prefix = os.path.realpath(path) + "/"
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mount_point = line.split()[1]
        if (mount_point + "/").startswith(prefix):
            raise SandboxError(f"{mount_point} is mounted inside {path}: umount it before rebuilding")


def _run(
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


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _ports_in_use() -> list[str]:
    busy = []
    if _port_open(AMI_HOST, AMI_PORT):
        busy.append(f"TCP {AMI_HOST}:{AMI_PORT} (AMI)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.bind((AMI_HOST, SIP_PORT))
        except OSError:
            busy.append(f"UDP {AMI_HOST}:{SIP_PORT} (SIP)")
    return busy


def _proc_state(proc_dir: Path) -> str:
    stat = (proc_dir / "stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def _log_lines(path: Path, offset: int, level: str) -> list[str]:
    """Lines of Asterisk's log file written after offset that have the given level."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    marker = f"] {level}["
    return [line for line in text.splitlines() if marker in line]


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""
