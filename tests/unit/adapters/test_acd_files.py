"""The ACD configuration file (callcontrol.adapters.acd_files): reading, every problem at file:line:col, writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcontrol.core.recording_policy import RecordingPolicy

from callcontrol.adapters.acd_files import dump_acd_yaml, load_acd_file, load_acd_text
from callcontrol.adapters.flow_files import LocatedProblem
from callcontrol.core.acd.model import AddTeam, Agent, EscalationRule, Overflow, Queue, RelaxSkill, Strategy
from tests.support.paths import REPO


GOOD = b"""\
agents:
  - {id: ada, name: Ada King, endpoint: PJSIP/agent1001, teams: [sales], skills: {english: 8, billing: 3}, wrap_up_s: 5}
  - id: bob
    name: Bob
    endpoint: PJSIP/agent1002
    teams: [support]
    skills: {english: 4}
queues:
  - id: sales
    name: Sales
    required_skills: {english: 3}
    preferred_skills: {}
    strategy: longest_idle
    ring_timeout_s: 15
    wrap_up_s: 10
    max_wait_s: 600
    escalations:
      - {after_s: 30, relax: {english: 1}}
      - {after_s: 60, add_team: support}
      - {after_s: 120, overflow: support}
  - id: support
    name: Support
    teams: [support]
"""


def messages(problems: list[LocatedProblem]) -> list[str]:
    return [str(p) for p in problems]


def test_good_file_gives_agents_and_queues_with_model_defaults() -> None:
    """A valid file loads with no problems; left-out queue fields take the model's defaults."""
    config, problems = load_acd_text(GOOD, "acd.yaml")
    assert problems == [] and config is not None
    assert config.agents[0] == Agent("ada", "Ada King", "PJSIP/agent1001", {"english": 8, "billing": 3},
                                     frozenset({"sales"}), 5)
    sales, support = config.queues
    assert sales == Queue("sales", "Sales", required_skills={"english": 3}, ring_timeout_s=15, wrap_up_s=10,
                          max_wait_s=600, escalations=(EscalationRule(30, RelaxSkill("english", 1)),
                                                       EscalationRule(60, AddTeam("support")),
                                                       EscalationRule(120, Overflow("support"))))
    assert support.strategy is Strategy.LONGEST_IDLE and support.priority == 0 and support.max_length is None
    assert support.expected_handle_s == 180.0 and support.teams == frozenset({"support"})


def test_export_of_an_import_reads_back_the_same() -> None:
    """dump_acd_yaml(load(x)) loads back into equal agents and queues, and is stable when dumped again."""
    config, _ = load_acd_text(GOOD, "acd.yaml")
    assert config is not None
    text = dump_acd_yaml(config.agents, config.queues)
    again, problems = load_acd_text(text.encode(), "export.yaml")
    assert problems == [] and again == config
    assert dump_acd_yaml(again.agents, again.queues) == text
    assert "  - {id: ada, name: Ada King, endpoint: PJSIP/agent1001, teams: [sales]" in text
    assert "      - {after_s: 120, overflow: support}" in text
    assert "pin" not in text.lower().replace("pins are set with `callcontrol acd pin`", "")


def test_relax_of_several_skills_is_one_rule_each_and_round_trips() -> None:
    """relax: {a: 1, b: 0} makes two rules at the same time; the export writes one line per rule."""
    text = b"queues:\n  - {id: q, required_skills: {a: 5, b: 5}, escalations: [{after_s: 10, relax: {a: 1, b: 0}}]}\n"
    config, problems = load_acd_text(text, "q.yaml")
    assert problems == [] and config is not None
    assert config.queues[0].escalations == (EscalationRule(10, RelaxSkill("a", 1)),
                                            EscalationRule(10, RelaxSkill("b", 0)))
    again, _ = load_acd_text(dump_acd_yaml([], config.queues).encode(), "x.yaml")
    assert again == config


WAITING = b"""\
queues:
  - id: support
    moh_class: acme-jazz
    announce_position: true
    announce_estimated_wait: true
    announce_every_s: 45.5
    periodic_prompts: [queue-periodic-announce, custom/promo]
    recording: {mode: percent, percent: 50, beep_every_s: 15, retention_days: 30, agents_may_listen: true}
  - id: plain
"""


def test_music_announcements_and_recording_hook_read_and_round_trip() -> None:
    """The waiting-experience fields load (prompts in order, as a tuple), export as YAML (prompts a block list)
    and load back equal; left out, they take the model's defaults."""
    config, problems = load_acd_text(WAITING, "w.yaml")
    assert problems == [] and config is not None
    support, plain = config.queues
    assert support == Queue("support", "support", moh_class="acme-jazz", announce_position=True,
                            announce_estimated_wait=True, announce_every_s=45.5,
                            periodic_prompts=("queue-periodic-announce", "custom/promo"),
                            recording=RecordingPolicy("percent", 50, 15, 30, True))
    assert plain == Queue("plain", "plain")
    assert (plain.moh_class, plain.announce_position, plain.announce_estimated_wait, plain.announce_every_s,
            plain.periodic_prompts, plain.recording) == ("default", False, False, 60.0, (), None)
    text = dump_acd_yaml([], config.queues)
    assert ("    moh_class: acme-jazz\n    announce_position: true\n    announce_estimated_wait: true\n"
            "    announce_every_s: 45.5\n    periodic_prompts:\n      - queue-periodic-announce\n"
            "      - custom/promo\n    recording:\n      mode: percent\n      percent: 50\n      beep_every_s: 15\n"
            "      retention_days: 30\n      agents_may_listen: true\n") in text
    assert "    periodic_prompts: []\n    recording: null\n" in text  # the plain queue
    again, problems = load_acd_text(text.encode(), "export.yaml")
    assert problems == [] and again is not None
    assert sorted(again.queues, key=lambda q: q.id) == sorted(config.queues, key=lambda q: q.id)


BAD_WAITING = b"""\
queues:
  - id: support
    moh_class: acme jazz
    announce_position: yes please
    announce_estimated_wait: 1
    announce_every_s: 5
    periodic_prompts: [queue-periodic-announce, "bad prompt", ../etc/passwd]
    recording: Gold
  - id: sales
    moh_class: ""
    announce_every_s: 601
    periodic_prompts: queue-periodic-announce
    recording: 7
"""


def test_each_invalid_waiting_field_is_a_problem_at_its_line() -> None:
    """A bad music class, non-boolean announcement switches, a frequency outside 15-600, prompts that are not
    sound names and a recording policy that is not a lowercase identifier: each reported where it is."""
    config, problems = load_acd_text(BAD_WAITING, "w.yaml")
    assert config is None
    assert messages(problems) == [
        "w.yaml:3:5: error: queue support: moh_class 'acme jazz' must be a music-on-hold class: 1-64 letters, "
        "digits, _ or -",
        "w.yaml:4:5: error: queue support: announce_position must be true or false",
        "w.yaml:5:5: error: queue support: announce_estimated_wait must be true or false",
        "w.yaml:6:5: error: queue support: announce_every_s must be between 15 and 600, not 5",
        "w.yaml:7:49: error: queue support: periodic_prompts: 'bad prompt' is not an Asterisk sound name "
        "(e.g. queue-periodic-announce or custom/welcome)",
        "w.yaml:7:63: error: queue support: periodic_prompts: '../etc/passwd' is not an Asterisk sound name "
        "(e.g. queue-periodic-announce or custom/welcome)",
        "w.yaml:8:5: error: queue support: recording: 'Gold': a recording policy is now a mapping {mode: "
        "always|never|percent|on_demand, percent, beep_every_s, retention_days, agents_may_listen}, not a policy name",
        "w.yaml:10:5: error: queue sales: moh_class '' must be a music-on-hold class: 1-64 letters, digits, _ or -",
        "w.yaml:11:5: error: queue sales: announce_every_s must be between 15 and 600, not 601",
        "w.yaml:12:5: error: queue sales: periodic_prompts must be a list of sound names",
        "w.yaml:13:5: error: queue sales: recording: must be a mapping {mode, percent, beep_every_s, retention_days, "
        "agents_may_listen}",
    ]


BAD = b"""\
agents:
  - {id: ada, endpoint: PJSIP/agent1001, skills: {english: 11}}
  - {id: Bob, endpoint: PJSIP/agent1002, colour: red}
  - {id: ada, endpoint: agent1003, teams: sales}
  - {name: Nobody, endpoint: PJSIP/x, wrap_up_s: -1}
queues:
  - id: sales
    strategy: fastest
    ring_timeout_s: "15"
    max_length: 0
    callback_allowed: yes please
    escalations:
      - {after_s: 10, overflow: nowhere}
      - {after_s: 20, drop_preferred: french}
      - {after_s: 30, relax: {english: 12}}
      - {after_s: 40, add_team: sales, overflow: support}
  - id: sales
  - {id: support, preferred_skills: {english: 0}, escalations: [{after_s: 5, overflow: support}]}
extra: 1
"""


def test_every_problem_is_reported_at_once_with_file_line_col() -> None:
    """Unknown keys, wrong types, levels outside 1-10, unknown strategy, duplicate and non-identifier ids,
    escalation to an unknown queue: all of them in one pass, sorted by position."""
    config, problems = load_acd_text(BAD, "bad.yaml")
    assert config is None
    assert messages(problems) == [
        "bad.yaml:2:51: error: agent ada: skills english: level must be an integer 1-10, not 11",
        "bad.yaml:3:6: error: agent id 'Bob' must be a lowercase identifier (a-z, 0-9, _; starting with a letter; "
        "at most 64)",
        "bad.yaml:3:42: error: unknown key 'colour' (allowed: id, name, endpoint, teams, skills, wrap_up_s)",
        "bad.yaml:4:6: error: duplicate agent id 'ada'",
        "bad.yaml:4:15: error: agent ada: endpoint 'agent1003' is not PJSIP/<device>, the device 1-64 letters, "
        "digits, '.', '_' or '-' (e.g. PJSIP/agent1001)",
        "bad.yaml:4:36: error: agent ada: teams must be a list of names",
        "bad.yaml:5:5: error: agent: missing required key 'id'",
        "bad.yaml:5:39: error: agent (no id): wrap_up_s must be >= 0, not -1",
        "bad.yaml:8:5: error: queue sales: unknown strategy 'fastest' (one of: longest_idle, best_skill, "
        "fewest_calls, least_talk_time, round_robin, random)",
        "bad.yaml:9:5: error: queue sales: ring_timeout_s must be a number, not '15'",
        "bad.yaml:10:5: error: queue sales: max_length must be >= 1, not 0",
        "bad.yaml:11:5: error: queue sales: callback_allowed must be true or false",
        "bad.yaml:13:23: error: queue sales: overflow to unknown queue 'nowhere'",
        "bad.yaml:13:23: error: queue sales: an overflow must be the last rule (the rules after it are never "
        "reached)",
        "bad.yaml:14:23: error: queue sales: cannot drop 'french': not a preferred skill",
        "bad.yaml:15:31: error: queue sales: relax english: level must be an integer 0-10, not 12",
        "bad.yaml:16:9: error: queue sales: an escalation has exactly one of relax, drop_preferred, add_team, "
        "overflow",
        "bad.yaml:17:5: error: duplicate queue id 'sales'",
        "bad.yaml:18:38: error: queue support: preferred_skills english: level must be an integer 1-10, not 0",
        "bad.yaml:18:78: error: queue support: a queue cannot overflow to itself",
        "bad.yaml:19:1: error: unknown key 'extra' (allowed: agents, queues)",
    ]


def test_overflow_may_name_a_queue_known_elsewhere() -> None:
    """An overflow target outside the file is accepted when the caller knows it (e.g. already in the database)."""
    text = b"queues:\n  - {id: sales, escalations: [{after_s: 60, overflow: support}]}\n"
    assert load_acd_text(text, "s.yaml")[0] is None
    config, problems = load_acd_text(text, "s.yaml", known_queues={"support"})
    assert problems == [] and config is not None


def test_a_queue_nobody_can_serve_is_a_warning() -> None:
    """When the file has agents, a queue none of them can ever take is flagged, but the file still loads."""
    text = GOOD + b"    required_skills: {german: 2}\n"
    config, problems = load_acd_text(text, "acd.yaml")
    assert config is not None
    assert messages(problems) == ["acd.yaml:21:5: warning: queue support: no agent of this file can take its calls, "
                                  "even after every escalation"]


@pytest.mark.parametrize("endpoint", [
    "PJSIP/x&Local/9001@callcontrol-outbound",  # a second device rung by the same Dial()
    "PJSIP/x,1,U(evil)",  # Dial() options: a subroutine on answer
    "${SHELL(id)}",  # a dialplan function evaluated by Dial()
    "SIP/agent1001", "Local/1003@agents/n",  # technologies the ACD does not dial
    "PJSIP/", "PJSIP/agent 1001", "PJSIP/agent1001\n", "PJSIP/" + "a" * 65,
])
def test_an_endpoint_the_acd_cannot_dial_is_an_error_at_its_line(endpoint: str) -> None:
    """The file accepts exactly what the dial path dials (identifiers.ENDPOINT), so no caller is offered to an agent
    whose phone cannot be rung."""
    text = f"agents:\n  - id: ada\n    endpoint: {endpoint!r}\n".replace("'", '"').encode()
    config, problems = load_acd_text(text, "e.yaml")
    assert config is None
    assert messages(problems) == [f"e.yaml:3:5: error: agent ada: endpoint {endpoint!r} is not PJSIP/<device>, the "
                                  "device 1-64 letters, digits, '.', '_' or '-' (e.g. PJSIP/agent1001)"]


def test_the_model_and_the_dial_path_share_the_endpoint_grammar() -> None:
    """An Agent cannot even be built with an endpoint the AGI Dial() or the AMI Originate would refuse."""
    from callcontrol.core.acd.model import InvalidConfig
    from callcontrol.core.identifiers import ENDPOINT
    with pytest.raises(InvalidConfig, match="agent ada: endpoint 'PJSIP/x&Local/9001@x' is not PJSIP/<device>"):
        Agent("ada", "Ada", "PJSIP/x&Local/9001@x")
    assert Agent("ada", "Ada", "PJSIP/agent-1001.a_b").endpoint == "PJSIP/agent-1001.a_b"
    assert ENDPOINT.match("PJSIP/agent-1001.a_b") and not ENDPOINT.match("PJSIP/x,1,U(evil)")


@pytest.mark.parametrize(("text", "expected"), [
    (b"", "e.yaml:1:1: error: empty ACD configuration file"),
    (b"agents: [\n", "e.yaml:2:1: error: YAML syntax: did not find expected node content"),
    (b"- 1\n", "e.yaml:1:1: error: an ACD configuration is a mapping with agents and queues"),
    (b"agents: {ada: 1}\n", "e.yaml:1:1: error: agents must be a list"),
    (b"queues: [sales]\n", "e.yaml:1:10: error: each entry of queues must be a mapping"),
    (b"a: &x 1\nb: *x\n", "e.yaml:1:4: error: YAML anchors and aliases are not allowed in flows"),
])
def test_malformed_documents(text: bytes, expected: str) -> None:
    """Broken YAML or the wrong shape is one located problem, not an exception."""
    config, problems = load_acd_text(text, "e.yaml")
    assert config is None and expected in messages(problems)


def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    config, problems = load_acd_file(tmp_path / "missing.yaml")
    assert config is None and messages(problems)[0].startswith(f"{tmp_path / 'missing.yaml'}:1:1: error: cannot read")


def test_sandbox_configuration_is_valid_and_serves_the_acme_queues() -> None:
    """acd/sandbox.yaml loads cleanly, has the four sandbox agents and the queues the acme flow sends callers to."""
    config, problems = load_acd_file(REPO / "acd" / "sandbox.yaml")
    assert problems == [] and config is not None
    assert sorted(a.endpoint for a in config.agents) == [f"PJSIP/agent100{n}" for n in range(1, 5)]
    assert {q.id for q in config.queues} >= {"sales", "support", "billing"}
    assert any(a.skills.get("billing", 0) >= 5 for a in config.agents)  # the acme billing node asks for billing 5
    queues = {q.id: q for q in config.queues}
    assert queues["support"].periodic_prompts == ("queue-periodic-announce",)
    assert queues["support"].announce_position and queues["support"].announce_estimated_wait
    assert queues["sales"].announce_estimated_wait and not queues["sales"].announce_position


# ---------------------------------------------------------------- the CLI: callcontrol acd import / export / pin


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite database the CLI is configured to use."""
    from callcontrol.adapters.db.schema import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    upgrade(REPO / "migrations", url)
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", url)
    return url


def test_cli_import_export_round_trip_and_pin(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """acd import stores the file, acd export writes it back equal, acd pin reads the PIN from stdin."""
    import asyncio
    import io

    from callcontrol.adapters.db.acd_store import SqlAcdStore
    from callcontrol.adapters.db.store import make_engine
    from callcontrol.cli import main

    assert main(["acd", "import", str(REPO / "acd" / "sandbox.yaml"), "--replace"]) == 0
    assert "imported 4 agent(s) and 3 queue(s)" in capsys.readouterr().out
    exported = tmp_path / "out.yaml"
    assert main(["acd", "export", "-o", str(exported)]) == 0
    (written, problems), (original, _) = load_acd_file(exported), load_acd_file(REPO / "acd" / "sandbox.yaml")
    assert problems == [] and written is not None and original is not None
    assert written.agents == tuple(sorted(original.agents, key=lambda a: a.id))
    assert written.queues == tuple(sorted(original.queues, key=lambda q: q.id))  # exported in id order
    monkeypatch.setattr("sys.stdin", io.StringIO("4711\n"))
    assert main(["acd", "pin", "ada"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("47\n"))
    assert main(["acd", "pin", "ada"]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("4711\n"))
    assert main(["acd", "pin", "nobody"]) == 1

    async def verify() -> tuple[bool, bool]:
        engine = make_engine(cli_db)
        try:
            store = SqlAcdStore(engine)
            return await store.verify_agent_pin("ada", "4711"), await store.verify_agent_pin("ada", "47")
        finally:
            await engine.dispose()

    assert asyncio.run(verify()) == (True, False)


def test_cli_import_of_an_invalid_file_prints_problems_and_exits_1(cli_db: str, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Problems are printed as file:line:col, nothing is stored, and the exit code is 1; no file is usage (2)."""
    from callcontrol.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("queues:\n  - {id: sales, strategy: fastest}\n")
    assert main(["acd", "import", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:2:17: error: queue sales: unknown strategy 'fastest'" in out and "nothing imported" in out
    assert main(["acd", "export"]) == 0
    assert "queues: []" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["acd", "import"])
    assert exit_info.value.code == 2


def test_cli_imports_a_queues_conf(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file named *.conf is read as app_queue's queues.conf; its warnings are printed."""
    from callcontrol.cli import main

    conf = tmp_path / "queues.conf"
    conf.write_text("[sales]\nstrategy = ringall\nmember => PJSIP/1001,2,Ada\n")
    assert main(["acd", "import", str(conf)]) == 0
    out = capsys.readouterr().out
    assert f"warning: {conf}:2: [sales]: strategy ringall has no counterpart: longest_idle instead" in out
    assert main(["acd", "export"]) == 0
    assert "  - {id: ada, name: Ada, endpoint: PJSIP/1001, teams: [], skills: {sales: 8}}" in capsys.readouterr().out
