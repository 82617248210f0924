"""Builds the sandbox's Debian sid root filesystem: host tools, debootstrap, packages, /etc/hosts, Asterisk's ids.

Debian bookworm ships no Asterisk, so the sandbox is a Debian sid root filesystem made with debootstrap
(asterisk, asterisk-modules, asterisk-core-sounds-en-gsm) and cached on disk. sid is never added to the host's
apt sources (the next apt-get upgrade would break the host): debootstrap fetches it from the host's own mirror.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from pathlib import Path

import structlog

from callcontrol.devtools.sandbox_host import ASTERISK, CHROOT_ENV, SandboxError, chroot, require_root, run

log = structlog.get_logger(__name__)

SUITE = "sid"
# asterisk-moh-opsound-gsm: music on hold for callers waiting in a queue (musiconhold.conf's default class)
ROOTFS_PACKAGES = ("asterisk", "asterisk-modules", "asterisk-core-sounds-en-gsm", "asterisk-moh-opsound-gsm")
# executable on the host -> Debian package that provides it
HOST_TOOLS = {"debootstrap": "debootstrap", "sipp": "sip-tester"}
FALLBACK_MIRROR = "http://deb.debian.org/debian"


def build_rootfs(root: Path) -> None:
    """Install the host tools if missing and debootstrap the rootfs unless it is cached."""
    require_root()
    install_host_tools()
    if not (root / ASTERISK.lstrip("/")).exists():
        debootstrap(root)
    else:
        install_missing_packages(root)
    write_hosts(root)
    isolate_asterisk_ids(root)


def isolate_asterisk_ids(root: Path) -> None:
    """Give the chroot's asterisk user a uid/gid no host account has.

    The chroot shares the host kernel: an Asterisk running as uid 101 in the chroot is, to the host,
    whatever account has uid 101 there (postgres on these machines), and could signal its processes.
    """
    uid, gid = _passwd_ids(root / "etc/passwd", "asterisk")
    host_uids, host_gids = _all_ids(Path("/etc/passwd")), _all_ids(Path("/etc/group"))
    if uid not in host_uids and gid not in host_gids:
        return
    taken = host_uids | host_gids | _all_ids(root / "etc/passwd") | _all_ids(root / "etc/group")
    new = next(candidate for candidate in range(64000, 65000) if candidate not in taken)
    for command, what in (
        (["groupmod", "-g", str(new), "asterisk"], "groupmod asterisk"),
        (["usermod", "-u", str(new), "-g", str(new), "asterisk"], "usermod asterisk"),
        (["find", "/", "-xdev", "-uid", str(uid), "-exec", "chown", "-h", str(new), "{}", "+"], "chown files"),
        (["find", "/", "-xdev", "-gid", str(gid), "-exec", "chgrp", "-h", str(new), "{}", "+"], "chgrp files"),
    ):
        run(chroot(root, *command), timeout=120, env=CHROOT_ENV, what=what)
    log.info("sandbox.asterisk_ids_moved", old_uid=uid, old_gid=gid, new_id=new)


def install_host_tools() -> None:
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    log.info("sandbox.host_packages.install", packages=missing)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], timeout=600, env=env, what="apt-get update")
    run(
        ["apt-get", "install", "-y", "--no-install-recommends", *missing],
        timeout=1200,
        env=env,
        what=f"apt-get install {' '.join(missing)}",
    )


def install_missing_packages(root: Path) -> None:
    """A rootfs cached by an older version of this list gets the packages added since, from its own apt."""
    status = root / "var/lib/dpkg/status"
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
    env = {**CHROOT_ENV, "DEBIAN_FRONTEND": "noninteractive"}
    # The mirror may serve a frozen snapshot of sid whose Release file is past its Valid-Until date;
    # debootstrap does not check that date, so apt must not either, or a cached rootfs could never update.
    apt = ("apt-get", "-o", "Acquire::Check-Valid-Until=false")
    run(chroot(root, *apt, "update"), timeout=600, env=env, what="apt-get update in the sandbox")
    run(chroot(root, *apt, "install", "-y", "--no-install-recommends", *missing), timeout=1200, env=env,
         what=f"apt-get install {' '.join(missing)} in the sandbox (or rm -rf {root} to rebuild it)")


def debootstrap(root: Path) -> None:
    partial = root.with_name(root.name + ".partial")
    if root.exists() and any(root.iterdir()):
        raise SandboxError(
            f"{root} exists but has no {ASTERISK}: it is not a sandbox rootfs; "
            f"remove it (rm -rf {root}) or set CALLCONTROL_SANDBOX_ROOT elsewhere"
        )
    if partial.exists():
        refuse_if_mounted(partial)
        log.info("sandbox.build.remove_partial", path=str(partial))
        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    mirror = host_debian_mirror()
    log.info("sandbox.build.debootstrap", suite=SUITE, target=str(partial), mirror=mirror)
    started = time.monotonic()
    run(
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


def write_hosts(root: Path) -> None:
    # No DNS here: without these names Asterisk blocks on lookups per call (408 under load).
    hostname = socket.gethostname()
    names = " ".join(dict.fromkeys(["localhost", hostname, "A.ROOT-SERVERS.NET"]))
    text = f"127.0.0.1\t{names}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    hosts = root / "etc/hosts"
    if not hosts.exists() or hosts.read_text() != text:
        hosts.write_text(text)


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


def refuse_if_mounted(path: Path) -> None:
    prefix = os.path.realpath(path) + "/"
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mount_point = line.split()[1]
        if (mount_point + "/").startswith(prefix):
            raise SandboxError(f"{mount_point} is mounted inside {path}: umount it before rebuilding")
