"""Reads Asterisk .conf files with pyst2's parser; checks that AMI users have least privilege."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
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
