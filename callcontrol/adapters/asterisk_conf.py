"""Reads Asterisk .conf files with pyst2's parser: AMI users and their privileges, and a dialplan's extensions."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from asterisk.config import Config, ParseError

# Classes that let an AMI user run shell commands, rewrite config or stop Asterisk.
DANGEROUS_CLASSES = frozenset({"system", "command", "config", "all"})


@dataclass(frozen=True)
class AmiUser:
    name: str
    read: frozenset[str]
    write: frozenset[str]
    permits: tuple[str, ...]
    denies: tuple[str, ...]


@dataclass(frozen=True)
class ManagerConf:
    bindaddr: str
    enabled: bool
    timestampevents: bool
    users: dict[str, AmiUser]


@dataclass(frozen=True)
class Extension:
    """One extension of a dialplan context: its steps (priority 1 first) as "App(args)", and where it starts."""

    context: str
    exten: str
    line: int
    steps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Dialplan:
    """An extensions.conf as written: contexts (a `[ctx](+)` section adds to ctx) and its #include lines."""

    contexts: dict[str, list[Extension]]
    includes: tuple[str, ...]  # the file names of #include / #tryinclude (not followed)


class _Lines(Config):  # type: ignore[misc]
    """pyst2's parser over lines we prepared (directives and section options taken out, numbering kept)."""

    def __init__(self, filename: str, lines: list[str]) -> None:
        self._prepared = lines
        super().__init__(filename)

    def load(self) -> None:
        self.raw_lines = self._prepared


_SECTION_OPTIONS = re.compile(r"^(\s*\[[^\]]+\])\s*\([^)]*\)")  # [name](+) or [name](!,template)
_INCLUDE = re.compile(r"^\s*#(?:try)?include\s+\"?([^\"\s]+)\"?")


def read_dialplan(path: Path) -> Dialplan:
    """Every extension of an extensions.conf by context, with pyst2; ValueError (file:line) if unreadable."""
    includes, lines = [], []
    try:
        raw = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    for line in raw:
        if line.lstrip().startswith("#"):
            match = _INCLUDE.match(line)
            if match:
                includes.append(match.group(1))
            lines.append("\n")
        else:
            lines.append(_SECTION_OPTIONS.sub(r"\1", line))
    try:
        config = _Lines(str(path), lines)
    except ParseError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    contexts: dict[str, list[Extension]] = {}
    for category in config.categories:
        extensions = contexts.setdefault(category.name, [])
        for item in category.items:
            name, value = item.name.strip().lower(), item.value.strip()
            if name == "exten":
                exten, _, rest = value.partition(",")
                extensions.append(Extension(category.name, exten.strip(), item.number))
            elif name != "same" or not extensions:
                continue
            _priority, _, step = (value if name == "same" else rest).partition(",")
            extensions[-1].steps.append(step.strip())
    return Dialplan(contexts, tuple(includes))


def _classes(value: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


def read_manager_conf(path: Path) -> ManagerConf:
    try:
        config = Config(str(path))
    except ParseError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    general: dict[str, str] = {}
    users: dict[str, AmiUser] = {}
    for category in config.categories:
        items = [(item.name.strip().lower(), item.value.strip()) for item in category.items]
        if category.name == "general":
            general = dict(items)
            continue
        values = dict(items)
        users[category.name] = AmiUser(
            name=category.name,
            read=_classes(values.get("read", "")),
            write=_classes(values.get("write", "")),
            permits=tuple(v for k, v in items if k == "permit"),
            denies=tuple(v for k, v in items if k == "deny"),
        )
    return ManagerConf(
        bindaddr=general.get("bindaddr", "0.0.0.0"),
        enabled=general.get("enabled", "no").lower() in ("yes", "true", "1"),
        timestampevents=general.get("timestampevents", "no").lower() in ("yes", "true", "1"),
        users=users,
    )


def least_privilege_problems(conf: ManagerConf, username: str) -> list[str]:
    """What is wrong with the AMI user callcontrol logs in as (empty when it is safe)."""
    problems = []
    if not conf.bindaddr.startswith("127."):
        problems.append(f"AMI is bound to {conf.bindaddr}, not loopback")
    if not conf.timestampevents:
        problems.append("timestampevents must be yes (call times come from event timestamps)")
    user = conf.users.get(username)
    if user is None:
        return [*problems, f"no AMI user [{username}]"]
    for kind, classes in (("read", user.read), ("write", user.write)):
        bad = sorted(classes & DANGEROUS_CLASSES)
        if bad:
            problems.append(f"user [{username}] has {kind} class(es) {', '.join(bad)}")
    denies_all = any(net is not None and net.prefixlen == 0 for net in map(_acl_network, user.denies))
    loopback_only = all(net is not None and net.is_loopback for net in map(_acl_network, user.permits))
    if not denies_all or not loopback_only:
        problems.append(f"user [{username}] must deny all and permit only loopback")
    return problems


def _acl_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An Asterisk ACL entry (address, address/bits or address/netmask) as a network; None if unreadable."""
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None
