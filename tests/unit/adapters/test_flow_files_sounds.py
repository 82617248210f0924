"""Flows against a sounds directory: a prompt missing in one of the flow's languages is an error at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcontrol.adapters.flow_files import load_flow_text, load_flows
from callcontrol.settings import REPO_ROOT

FLOW = b'''id: t
numbers: ["7000"]
languages: [en, fr]
language: en
start: menu
nodes:
  menu:
    type: menu
    prompts: [hello-world, digits/1]
    options: {"1": bye}
    timeout_s: 3
    max_attempts: 1
    invalid_prompts: [oops]
    exhausted: bye
  bye: {type: hangup, prompts: [vm-goodbye]}
'''


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    for language in ("en", "fr"):
        for name in ("hello-world.gsm", "digits/1.wav", "vm-goodbye.ulaw", "oops.gsm"):
            path = tmp_path / language / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    return tmp_path


def test_all_prompts_present_in_every_language_is_valid(sounds):
    """Any format counts (gsm, wav, ulaw), and sub-folders like digits/ are found."""
    flow, problems = load_flow_text(FLOW, "t.yaml", sounds)
    assert flow is not None and problems == []


def test_missing_prompt_is_an_error_at_its_line_naming_the_language(sounds):
    """A prompt absent in one language fails the flow with file:line:col and the language."""
    (sounds / "fr" / "oops.gsm").unlink()
    flow, problems = load_flow_text(FLOW, "t.yaml", sounds)
    assert flow is None
    assert [str(p) for p in problems] == [
        f"t.yaml:13:23: error: prompt 'oops' is not in the sounds directory {sounds} for language(s) fr"]


def test_without_a_sounds_directory_nothing_is_checked():
    """No sounds directory configured: prompts are only checked for their form."""
    flow, problems = load_flow_text(FLOW, "t.yaml")
    assert flow is not None and problems == []


def test_shipped_flows_only_use_sounds_the_sandbox_has():
    """Every prompt of ivr_flows/ exists in the sandbox's English sounds (when the sandbox rootfs is built)."""
    sounds = Path("/var/cache/callcontrol/sandbox-sid/usr/share/asterisk/sounds/en_US_f_Allison")
    if not sounds.is_dir():
        pytest.skip("the sandbox rootfs is not built on this machine")
    # The sandbox's language folders are links inside the chroot; its one voice has no language folder.
    flows, problems = load_flows([REPO_ROOT / "ivr_flows"], sounds)
    assert [str(p) for p in problems] == [] and len(flows) >= 2
