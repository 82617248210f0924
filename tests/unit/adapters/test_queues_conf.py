"""Importing an app_queue queues.conf (callcontrol.adapters.queues_conf): queues, members as agents, warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcontrol.adapters.acd_files import dump_acd_yaml, load_acd_text
from callcontrol.adapters.queues_conf import QueuesConfImport, read_queues_conf
from callcontrol.core.acd.model import Strategy
from tests.support.paths import REPO


# A site that grew on app_queue: a template, members with penalties and names, Local channels, an include.
QUEUES_CONF = """\
; queues.conf - ACME contact centre
[general]
persistentmembers = yes
autofill = yes
monitor-type = MixMonitor
shared_lastcall = yes

[support-common](!)            ; settings every support queue shares
musicclass = default
strategy = rrmemory
timeout = 20
wrapuptime = 15
announce-frequency = 60
joinempty = paused,unavailable

[sales]
strategy = leastrecent
timeout = 15
wrapuptime = 10
maxlen = 20
servicelevel = 30
weight = 2
ringinuse = no
member => PJSIP/1001,0,Ada
member => PJSIP/1002,3
member => PJSIP/agent1004,12,Margaret Hamilton,PJSIP/agent1004
member => PJSIP/1001,5,Ada      ; listed twice by mistake

[support](support-common)
member => PJSIP/1002,1,Grace
member = Local/1003@agents/n,2,Linus
member => PJSIP/1001,-3,ada

#include queues_custom.conf

[Billing-Team]
strategy = ringall
timeout = 0
maxlen = 0
member => PJSIP/1001,4,Ada
member => PJSIP/1005,x

[vip]
strategy = fewestcalls
"""


@pytest.fixture
def imported(tmp_path: Path) -> tuple[QueuesConfImport, str]:
    path = tmp_path / "queues.conf"
    path.write_text(QUEUES_CONF)
    return read_queues_conf(path), str(path)


def test_each_queue_section_becomes_a_queue_with_mapped_settings(imported: tuple[QueuesConfImport, str]) -> None:
    """Strategy, timeout, wrapuptime, maxlen, servicelevel and weight map; templates are applied, not imported."""
    result, _ = imported
    queues = {queue.id: queue for queue in result.queues}
    assert sorted(queues) == ["billing_team", "sales", "support", "vip"]
    sales = queues["sales"]
    assert (sales.name, sales.strategy, sales.ring_timeout_s, sales.wrap_up_s) == ("sales", Strategy.LONGEST_IDLE,
                                                                                 15, 10)
    assert (sales.max_length, sales.service_level_s, sales.priority) == (20, 30, 2)
    assert dict(sales.required_skills) == {"sales": 1}
    support = queues["support"]  # from the template
    assert (support.strategy, support.ring_timeout_s, support.wrap_up_s) == (Strategy.ROUND_ROBIN, 20, 15)
    billing = queues["billing_team"]
    assert billing.name == "Billing-Team" and billing.strategy is Strategy.LONGEST_IDLE
    assert billing.ring_timeout_s == 15 and billing.max_length is None
    assert queues["vip"].strategy is Strategy.FEWEST_CALLS


def test_members_become_agents_with_penalties_as_skill_levels(imported: tuple[QueuesConfImport, str]) -> None:
    """One agent per interface; level = 10 - penalty clamped to 1-10; ids from the member name or the interface."""
    result, _ = imported
    agents = {agent.id: agent for agent in result.agents}
    assert sorted(agents) == ["ada", "grace", "pjsip_1005", "pjsip_agent1004"]  # Local/1003 (linus): not dialled
    ada = agents["ada"]
    assert (ada.endpoint, ada.name) == ("PJSIP/1001", "Ada")
    assert dict(ada.skills) == {"sales": 10, "support": 10, "billing_team": 6}  # penalties 0, -3 (clamped), 4
    assert dict(agents["grace"].skills) == {"sales": 7, "support": 9}  # PJSIP/1002: penalty 3 in sales, named later
    margaret = agents["pjsip_agent1004"]  # "Margaret Hamilton" is no identifier
    assert margaret.name == "Margaret Hamilton" and dict(margaret.skills) == {"sales": 1}  # penalty 12 -> 1
    assert dict(agents["pjsip_1005"].skills) == {"billing_team": 10}  # unreadable penalty -> 0


def test_what_cannot_be_mapped_is_warned_with_file_and_line(imported: tuple[QueuesConfImport, str]) -> None:
    """Unmapped strategies, ignored keys, duplicates, includes and odd values each give a located warning."""
    result, path = imported
    warnings = "\n".join(result.warnings)
    for expected in [
        f"{path}:27: [sales]: member PJSIP/1001 listed twice: the first entry counts",
        f"{path}:26: [sales]: member PJSIP/agent1004: state interface, ringinuse, wrap-up and paused not carried over",
        f"{path}:16: [sales]: not carried over: ringinuse",
        f"{path}:29: [support]: not carried over: joinempty",
        f"{path}:34: '#include queues_custom.conf' not followed (only this file is read)",
        f"{path}:36: [Billing-Team]: queue id 'billing_team' (ids are lowercase identifiers)",
        f"{path}:37: [Billing-Team]: strategy ringall has no counterpart: longest_idle instead",
        f"{path}:38: [Billing-Team]: timeout 0 (ring until answered) has no counterpart: ring_timeout_s 15",
        f"{path}:41: [Billing-Team]: member PJSIP/1005: penalty 'x' is not a number: 0",
        f"{path}:31: [support]: member 'Local/1003@agents/n,2,Linus' skipped: endpoint 'Local/1003@agents/n' is "
        "not PJSIP/<device>, the device 1-64 letters, digits, '.', '_' or '-' (e.g. PJSIP/agent1001)",
        f"{path}: queue vip has no members: no agent has its skill 'vip' yet",
    ]:
        assert expected in result.warnings, f"missing {expected!r} in\n{warnings}"
    assert any(w.startswith(f"{path}:16: [sales]: penalties became levels 1, 7, 10 of skill 'sales'")
               for w in result.warnings), warnings


def test_imported_configuration_is_a_valid_acd_file(imported: tuple[QueuesConfImport, str]) -> None:
    """What queues.conf gives can be exported as an ACD file that loads back equal."""
    result, _ = imported
    text = dump_acd_yaml(result.agents, result.queues)
    config, problems = load_acd_text(text.encode(), "export.yaml")
    assert [p for p in problems if p.severity == "error"] == [] and config is not None
    assert sorted(config.agents, key=lambda a: a.id) == sorted(result.agents, key=lambda a: a.id)
    assert sorted(config.queues, key=lambda q: q.id) == sorted(result.queues, key=lambda q: q.id)


# Music on hold and announcements: each app_queue form of the settings, and the odd values.
ANNOUNCING_CONF = """\
[hold](!)
musicclass = acme-jazz
announce-frequency = 45

[support](hold)
announce-position = limit
announce-holdtime = once
periodic-announce = queue-periodic-announce,custom/promo|bad prompt
periodic-announce-frequency = 90

[sales]
announce-position = more
announce-holdtime = yes
announce-frequency = 5
musicclass = acme jazz

[billing]
announce-position = no
announce-holdtime = no
periodic-announce = queue-periodic-announce
periodic-announce-frequency = 1000

[quiet]
announce-position = yes
announce-frequency = 0
periodic-announce = queue-periodic-announce
periodic-announce-frequency = 0
"""


def test_music_on_hold_and_announcements_are_mapped(tmp_path: Path) -> None:
    """musicclass -> moh_class; announce-position (but no) and announce-holdtime (yes, once) switch the
    announcements on; periodic-announce -> periodic_prompts; announce-frequency -> announce_every_s, clamped
    to 15-600; one frequency: periodic-announce-frequency only without announce-frequency; 0 turns them off."""
    path = tmp_path / "queues.conf"
    path.write_text(ANNOUNCING_CONF)
    result = read_queues_conf(path)
    queues = {queue.id: queue for queue in result.queues}

    def waiting(queue_id: str) -> tuple[object, ...]:
        q = queues[queue_id]
        return (q.moh_class, q.announce_position, q.announce_estimated_wait, q.announce_every_s,
                q.periodic_prompts)

    assert waiting("support") == ("acme-jazz", True, True, 45, ("queue-periodic-announce", "custom/promo"))
    assert waiting("sales") == ("default", True, True, 15, ())
    assert waiting("billing") == ("default", False, False, 600, ("queue-periodic-announce",))
    assert waiting("quiet") == ("default", False, False, 60, ())
    for expected in [
        f"{path}:8: [support]: periodic-announce 'bad prompt' is not a sound name: skipped",
        f"{path}:9: [support]: periodic-announce-frequency 90: one frequency serves announcements and periodic "
        "prompts: announce_every_s 45 (from announce-frequency)",
        f"{path}:14: [sales]: announce-frequency 5 outside 15-600 s: announce_every_s 15",
        f"{path}:15: [sales]: musicclass 'acme jazz' is not a music-on-hold class name: default instead",
        f"{path}:21: [billing]: periodic-announce-frequency 1000 outside 15-600 s: announce_every_s 600",
        f"{path}:25: [quiet]: announce-frequency 0 turns position and hold time announcements off",
        f"{path}:27: [quiet]: periodic-announce-frequency 0 turns the periodic announcements off",
    ]:
        assert expected in result.warnings, f"missing {expected!r} in\n" + "\n".join(result.warnings)
    assert not any("not carried over" in warning for warning in result.warnings), result.warnings
    text = dump_acd_yaml(result.agents, result.queues)
    config, problems = load_acd_text(text.encode(), "export.yaml")
    assert [p for p in problems if p.severity == "error"] == [] and config is not None
    assert sorted(config.queues, key=lambda q: q.id) == sorted(result.queues, key=lambda q: q.id)


def test_unknown_template_is_warned(tmp_path: Path) -> None:
    path = tmp_path / "queues.conf"
    path.write_text("[sales](nothere)\nmember => PJSIP/1001\n")
    result = read_queues_conf(path)
    assert f"{path}:1: [sales] uses unknown template 'nothere'" in result.warnings
    assert [a.id for a in result.agents] == ["pjsip_1001"] and dict(result.agents[0].skills) == {"sales": 10}


def test_unparsable_file_names_file_and_line(tmp_path: Path) -> None:
    """A line pyst2 cannot parse is a ValueError naming the file and line."""
    path = tmp_path / "queues.conf"
    path.write_text("[sales]\nstrategy = leastrecent\nthis is not a setting\n")
    with pytest.raises(ValueError, match=rf"{path}:3: Item must be in name = value pairs"):
        read_queues_conf(path)
    with pytest.raises(ValueError, match="cannot read"):
        read_queues_conf(tmp_path / "missing.conf")


def test_the_sandbox_queues_conf_imports_its_benchmark_baseline() -> None:
    """The sandbox's queues (dialplan-sandbox/queues_sandbox.conf) hold only the benchmark's [baseline] queue: it
    imports as one longest_idle queue served by the 16 agent phones, each at the top level (no penalties)."""
    result = read_queues_conf(REPO / "dialplan-sandbox" / "queues_sandbox.conf")
    (queue,) = result.queues
    assert queue.id == "baseline" and queue.strategy.value == "longest_idle" and queue.ring_timeout_s == 10
    assert sorted(agent.endpoint for agent in result.agents) == [f"PJSIP/agent{n}" for n in range(1001, 1017)]
    assert {agent.skills["baseline"] for agent in result.agents} == {10}
