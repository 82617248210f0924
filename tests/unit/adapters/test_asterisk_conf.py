"""Reading manager.conf and checking the callcontrol AMI user for least privilege (adapters/asterisk_conf)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcontrol.adapters.asterisk_conf import least_privilege_problems, read_manager_conf
from tests.support.paths import REPO

SHIPPED = REPO / "dialplan" / "manager.conf"

SAFE = """\
[general]
enabled = yes
bindaddr = 127.0.0.1
port = 5038
timestampevents = yes

[callcontrol]
secret = s3cret ; a comment
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = call,agent,user,dtmf,reporting
write = call,agent,user,originate,reporting

[admin]
secret = other
read = all
write = all
"""


def problems_for(tmp_path: Path, text: str, username: str = "callcontrol") -> list[str]:
    path = tmp_path / "manager.conf"
    path.write_text(text)
    return least_privilege_problems(read_manager_conf(path), username)


def test_shipped_manager_conf_is_least_privilege(tmp_path: Path) -> None:
    """The repository's dialplan/manager.conf (or, while it is absent, the reference one) passes for callcontrol."""
    path = SHIPPED if SHIPPED.is_file() else tmp_path / "manager.conf"
    if not SHIPPED.is_file():
        path.write_text(SAFE)
    conf = read_manager_conf(path)
    assert conf.enabled
    assert least_privilege_problems(conf, "callcontrol") == []


def test_reference_conf_is_read_field_by_field(tmp_path: Path) -> None:
    """Classes, ACL entries and general options are parsed, comments stripped."""
    path = tmp_path / "manager.conf"
    path.write_text(SAFE)
    conf = read_manager_conf(path)
    user = conf.users["callcontrol"]
    assert (conf.bindaddr, conf.enabled, conf.timestampevents) == ("127.0.0.1", True, True)
    assert user.read == {"call", "agent", "user", "dtmf", "reporting"}
    assert user.denies == ("0.0.0.0/0.0.0.0",) and user.permits == ("127.0.0.1/255.255.255.255",)
    assert set(conf.users) == {"callcontrol", "admin"}
    assert problems_for(tmp_path, SAFE) == []


def test_checking_an_all_powerful_user_reports_it(tmp_path: Path) -> None:
    """Checking the read=all, write=all admin user reports its dangerous classes."""
    found = problems_for(tmp_path, SAFE, "admin")
    assert "user [admin] has read class(es) all" in found and "user [admin] has write class(es) all" in found
    assert "user [admin] must deny all and permit only loopback" in found


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("write = call,agent,user,originate,reporting", "write = call,system,command",
         "has write class(es) command, system"),
        ("read = call,agent,user,dtmf,reporting", "read = all", "has read class(es) all"),
        ("write = call,agent,user,originate,reporting", "write = call, Config", "has write class(es) config"),
        ("bindaddr = 127.0.0.1", "bindaddr = 0.0.0.0", "AMI is bound to 0.0.0.0, not loopback"),
        ("bindaddr = 127.0.0.1\n", "", "AMI is bound to 0.0.0.0, not loopback"),
        ("timestampevents = yes", "timestampevents = no", "timestampevents must be yes"),
        ("deny = 0.0.0.0/0.0.0.0\n", "", "must deny all and permit only loopback"),
        ("deny = 0.0.0.0/0.0.0.0", "deny = 10.0.0.0/255.0.0.0", "must deny all and permit only loopback"),
        ("permit = 127.0.0.1/255.255.255.255", "permit = 192.168.1.0/24", "must deny all and permit only loopback"),
        ("permit = 127.0.0.1/255.255.255.255", "permit = 127.0.0.1/0.0.0.0", "must deny all and permit only"),
        ("permit = 127.0.0.1/255.255.255.255", "permit = 127.0.0.1\npermit = 10.1.2.3",
         "must deny all and permit only loopback"),
        ("permit = 127.0.0.1/255.255.255.255", "permit = localhost", "must deny all and permit only loopback"),
        ("[callcontrol]", "[someoneelse]", "no AMI user [callcontrol]"),
    ],
)
def test_unsafe_configurations_are_reported(tmp_path: Path, old: str, new: str, expected: str) -> None:
    """Each way of giving the AMI user too much reach is reported with a readable reason."""
    assert SAFE.count(old) == 1
    found = problems_for(tmp_path, SAFE.replace(old, new))
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    "permit", ["127.0.0.1", "127.0.0.0/8", "127.0.0.1/32", "::1", "127.0.0.1/255.255.255.255"]
)
def test_loopback_permit_forms_are_accepted(tmp_path: Path, permit: str) -> None:
    """Loopback written as a bare address, CIDR or netmask, IPv4 or IPv6, is accepted."""
    text = SAFE.replace("permit = 127.0.0.1/255.255.255.255", f"permit = {permit}")
    assert problems_for(tmp_path, text) == []


def test_deny_all_in_cidr_form_is_accepted(tmp_path: Path) -> None:
    """deny = 0.0.0.0/0 is the same deny-all as 0.0.0.0/0.0.0.0."""
    assert problems_for(tmp_path, SAFE.replace("deny = 0.0.0.0/0.0.0.0", "deny = 0.0.0.0/0")) == []


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    """A wide-open configuration lists every problem, not only the first."""
    text = SAFE.replace("bindaddr = 127.0.0.1", "bindaddr = 0.0.0.0").replace("read = call,agent,user,dtmf,reporting",
                                                                              "read = system")
    text = text.replace("deny = 0.0.0.0/0.0.0.0\n", "")
    assert len(problems_for(tmp_path, text)) == 3


def test_unparseable_conf_is_a_value_error(tmp_path: Path) -> None:
    """A line that is neither a category nor name = value raises ValueError naming the file."""
    path = tmp_path / "manager.conf"
    path.write_text("[general]\nthis is not valid\n")
    with pytest.raises(ValueError, match="manager.conf"):
        read_manager_conf(path)
