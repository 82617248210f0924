"""The Asterisk config an operator installs (dialplan/) against the sandbox's own (dialplan-sandbox/).

Read with the project's pyst2-based reader (adapters/asterisk_conf.py). Benchmark baselines and test numbers
ring agent phones around the ACD and leave no record: they belong to the sandbox only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from callcontrol.adapters.asterisk_conf import read_dialplan
from callcontrol.adapters.queues_conf import read_queues_conf
from callcontrol.devtools.sandbox import AsteriskSandbox
from callcontrol.devtools.sandbox_config import SANDBOX_CONFIG_DIR, config_files
from callcontrol.devtools.sandbox_host import SandboxError
from tests.support.paths import REPO

OPERATOR = REPO / "dialplan"


def test_every_number_of_the_operators_trunk_goes_to_the_service_or_is_refused() -> None:
    """[from-trunk] of the operator's extensions.conf: each DID jumps to callcontrol-ivr, and the catch-all
    refuses the rest; no benchmark number (5001, 5003), no Dial(), no Queue()."""
    contexts = read_dialplan(OPERATOR / "extensions.conf").contexts
    trunk = contexts["from-trunk"]
    assert trunk, "no [from-trunk] context"
    for extension in trunk:
        if extension.exten == "_X.":
            assert extension.steps == ["Hangup(1)"]
            continue
        assert extension.steps == ["Goto(callcontrol-ivr,${EXTEN},1)"], (
            f"extensions.conf:{extension.line}: {extension.exten} does not go to callcontrol-ivr: {extension.steps}")
    assert {e.exten for e in trunk} == {"5000", "5002", "_X."}


def test_the_operators_config_has_none_of_the_sandboxs_test_phones_queues_or_numbers() -> None:
    """The test customers (01555000NN), the Queue() baseline and the benchmark agent phones are sandbox-only."""
    dialplan = read_dialplan(OPERATOR / "extensions.conf")
    for extensions in dialplan.contexts.values():
        for extension in extensions:
            assert "01555000" not in extension.exten and not any("PJSIP/customer" in s for s in extension.steps)
    assert read_queues_conf(OPERATOR / "queues.conf").queues == ()
    pjsip = (OPERATOR / "pjsip.conf").read_text()
    assert "[customer]" not in pjsip and not re.search(r"\[agent10(0[5-9]|1\d)\]", pjsip)


def test_the_sandbox_adds_its_numbers_to_the_operators_contexts() -> None:
    """Each #tryinclude of dialplan/ names a dialplan-sandbox/ file; those files only add (no name clash) and
    give the sandbox back 5001, 5003 and the test customers."""
    operator, sandbox = config_files(OPERATOR), config_files(SANDBOX_CONFIG_DIR)
    assert not set(operator) & set(sandbox)
    tried = {m.group(1) for name in operator for m in re.finditer(r"^#tryinclude (\S+)$",
                                                                   (OPERATOR / name).read_text(), re.MULTILINE)}
    assert tried == set(sandbox) == {"extensions_sandbox.conf", "queues_sandbox.conf", "pjsip_sandbox.conf"}
    contexts = read_dialplan(SANDBOX_CONFIG_DIR / "extensions_sandbox.conf").contexts
    trunk = {e.exten: e.steps for e in contexts["from-trunk"]}
    assert set(trunk) == {"5001", "5003", "5012"} and "Queue(baseline,c,,,120)" in trunk["5003"]
    assert trunk["5012"] == ["Goto(callcontrol-ivr,${EXTEN},1)"]  # the ACME demo number, sandbox only
    assert [e.exten for e in contexts["callcontrol-outbound"]] == ["_01555000XX"]
    assert (SANDBOX_CONFIG_DIR / "extensions_sandbox.conf").read_text().count("[from-trunk](+)") == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="install_config needs root")
def test_a_sandbox_file_may_not_replace_an_operator_file(tmp_path: Path) -> None:
    """The sandbox's extra folder only adds files: one with the name of an operator file is refused before the
    chroot's config is touched."""
    root, extra = tmp_path / "root", tmp_path / "extra"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/asterisk").write_text("")  # a rootfs as far as install_config looks
    (root / "etc/asterisk").mkdir(parents=True)
    (root / "etc/asterisk/kept.conf").write_text("untouched")
    extra.mkdir()
    (extra / "extensions.conf").write_text("[from-trunk]\nexten => 5003,1,Queue(baseline)\n")
    box = AsteriskSandbox(OPERATOR, ami_secret="s3cret-secret", root=root, extra_config_dir=extra)
    with pytest.raises(SandboxError, match="may only add files: extensions.conf already in"):
        box.install_config()
    assert (root / "etc/asterisk/kept.conf").read_text() == "untouched"
    with pytest.raises(SandboxError, match="is not a directory"):
        config_files(tmp_path / "missing")
