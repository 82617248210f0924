"""Installs the sandbox's Asterisk config: the operator's dialplan/ plus dialplan-sandbox/, placeholders filled.

The configuration is the repository's dialplan/ folder (what an operator installs) plus dialplan-sandbox/ (the
sandbox's own test phones and numbers, which dialplan/ reads with #tryinclude), installed over the Debian samples.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import structlog

from callcontrol.devtools.sandbox_host import CHROOT_ENV, SandboxError, chroot, run
from callcontrol.devtools.sandbox_rootfs import write_hosts

log = structlog.get_logger(__name__)

CONFIG_DIR_IN_ROOT = "etc/asterisk"
# Directories Asterisk writes at runtime; /run is a tmpfs on a real system, empty in the chroot.
RUNTIME_DIRS = ("run/asterisk", "var/cache/asterisk")
SECRET_FILES = ("manager.conf",)
# The sandbox's own config (benchmark baselines, test phones and test numbers): files added next to the operator's
# dialplan/, which reads them with #tryinclude. Only the sandbox installs them; an operator's Asterisk never has them.
SANDBOX_CONFIG_DIR = Path(__file__).resolve().parents[2] / "dialplan-sandbox"


def install_config(root: Path, config_dir: Path, extra_config_dir: Path | None,
                   substitutions: dict[str, str]) -> None:
    """Replace the chroot's /etc/asterisk with config_dir plus the files of extra_config_dir (added, never
    replacing one of config_dir), each placeholder of substitutions replaced by its value."""
    files = config_files(config_dir)
    if extra_config_dir is not None:
        extra = config_files(extra_config_dir)
        clashes = sorted(set(files) & set(extra))
        if clashes:
            raise SandboxError(f"{extra_config_dir} may only add files: {', '.join(clashes)} "
                               f"already in {config_dir}")
        files |= extra
    write_hosts(root)
    etc = root / CONFIG_DIR_IN_ROOT
    etc.mkdir(parents=True, exist_ok=True)
    # Remove the Debian samples (every file, subfolders too) so no sample config loads.
    for entry in etc.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
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
        (root / directory).mkdir(parents=True, exist_ok=True)
    run(
        chroot(root, "chown", "-R", "asterisk:asterisk", "/etc/asterisk", *("/" + d for d in RUNTIME_DIRS)),
        timeout=60,
        env=CHROOT_ENV,
        what="chown asterisk config",
    )
    log.info("sandbox.config.installed", source=str(config_dir), extra=str(extra_config_dir),
             target=str(etc))


def config_files(folder: Path) -> dict[str, Path]:
    """Every file under folder by its relative path (hidden files and folders left out)."""
    if not folder.is_dir():
        raise SandboxError(f"config folder {folder} is not a directory")
    files = {}
    for source in folder.rglob("*"):
        relative = source.relative_to(folder)
        if source.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = source
    return files
