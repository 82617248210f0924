"""Read commands of the CLI (`calls recent`, `acd export`): they find the demo's database, never create one, and
say in one line what to set or run instead of a traceback; `calls recent --json` carries what the ACD did."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcontrol.adapters.db import read_command
from callcontrol.adapters.db.schema import upgrade
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.cli import main
from callcontrol.core.calls import CallRecord
from callcontrol.core.interactions import AgentLeg, OfferAttempt, QueueStint
from tests.support.paths import REPO

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
STINTS = [
    QueueStint("sales", T0, "overflowed", left_at=T0 + timedelta(seconds=20), waited_s=20.0, estimated_wait_s=15.0,
               offers=(OfferAttempt("bob", T0 + timedelta(seconds=1), "noanswer"),)),
    QueueStint("support", T0 + timedelta(seconds=20), "answered", left_at=T0 + timedelta(seconds=40), waited_s=3.5,
               estimated_wait_s=5.0, offers=(OfferAttempt("ada", T0 + timedelta(seconds=22), "answered"),),
               agent_leg=AgentLeg("ada", "PJSIP/agent1001", T0 + timedelta(seconds=23.5),
                                  T0 + timedelta(seconds=32.6))),
]
# what `calls recent --json` shows of them: the shape of the JSON the stints were kept as before their tables
SHOWN_STINTS = [
    {"queue": "sales", "entered_at": "2026-11-23T10:00:00+00:00", "left_at": "2026-11-23T10:00:20+00:00",
     "outcome": "overflowed", "waited_s": 20.0, "agent": None, "talk_s": None,
     "offers": [{"agent": "bob", "at": "2026-11-23T10:00:01+00:00", "result": "noanswer"}], "estimated_wait_s": 15.0},
    {"queue": "support", "entered_at": "2026-11-23T10:00:20+00:00", "left_at": "2026-11-23T10:00:40+00:00",
     "outcome": "answered", "waited_s": 3.5, "agent": "ada", "talk_s": 9.1,
     "offers": [{"agent": "ada", "at": "2026-11-23T10:00:22+00:00", "result": "answered"}], "estimated_wait_s": 5.0,
     "answered_at": "2026-11-23T10:00:23.500000+00:00", "endpoint": "PJSIP/agent1001"},
]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with nothing in it, no database configured, and the demo's database at a path of ours."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("CALLCONTROL_DATABASE_URL", raising=False)
    monkeypatch.setattr(read_command, "DEMO_DATABASE", tmp_path / "var" / "demo" / "calls.sqlite3")
    return cwd


def demo_database_with_one_call() -> Path:
    path = read_command.DEMO_DATABASE
    path.parent.mkdir(parents=True)
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(REPO / "migrations", url)

    async def save() -> None:
        engine = make_engine(url)
        try:
            record = CallRecord("1764000000.1", "1764000000.1", "PJSIP/trunk-00000001", "15550001", "", "5002",
                                started_at=T0, flow_id="acme", queue_stints=list(STINTS))
            await SqlCallRecordStore(engine).save([record])
        finally:
            await engine.dispose()

    asyncio.run(save())
    return path


def test_with_nothing_set_and_no_demo_it_says_what_to_set_and_creates_nothing(elsewhere, capsys) -> None:
    assert main(["calls", "recent"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"no database at {elsewhere / 'callcontrol.sqlite3'}" in err and "CALLCONTROL_DATABASE_URL" in err
    assert str(read_command.DEMO_DATABASE) in err and "callcontrol db upgrade" in err
    assert list(elsewhere.iterdir()) == []  # no empty callcontrol.sqlite3 left behind
    assert main(["acd", "export"]) == 1 and list(elsewhere.iterdir()) == []


def test_a_configured_database_file_that_does_not_exist_is_not_created(elsewhere, monkeypatch, capsys) -> None:
    missing = elsewhere / "nope.sqlite3"
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", f"sqlite+aiosqlite:///{missing}")
    demo_database_with_one_call()  # a demo database does not replace one set explicitly
    assert main(["calls", "recent"]) == 1
    err = capsys.readouterr().err
    assert f"no database at {missing} (CALLCONTROL_DATABASE_URL)" in err and not missing.exists()


def test_an_unmigrated_database_is_one_line_not_a_traceback(elsewhere, monkeypatch, capsys) -> None:
    empty = elsewhere / "empty.sqlite3"
    empty.touch()
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", f"sqlite+aiosqlite:///{empty}")
    assert main(["calls", "recent", "--json"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "schema is out of date (empty database" in err and "run `callcontrol db upgrade`" in err


def test_the_demos_database_is_found_and_json_carries_agent_waits_talk_and_offers(elsewhere, capsys) -> None:
    path = demo_database_with_one_call()
    assert main(["calls", "recent", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.strip() == (f"callcontrol: reading the demo's database {path} (CALLCONTROL_DATABASE_URL is not set; "
                           "set it to read another)")
    (line,) = out.strip().splitlines()
    call = json.loads(line)
    assert (call["call_id"], call["flow"], call["queues"]) == ("1764000000.1", "acme",
                                                             ["sales:overflowed", "support:answered"])
    assert call["agent"] == "ada" and call["waits_s"] == [20.0, 3.5] and call["talk_s"] == 9.1
    assert call["offers"] == [offer for stint in SHOWN_STINTS for offer in stint["offers"]]
    assert call["queue_stints"] == SHOWN_STINTS
    assert main(["calls", "recent"]) == 0
    text = capsys.readouterr().out
    assert "sales:overflowed(no agent, waited 20s, talk 0s) support:answered(ada, waited 3.5s, talk 9.1s)" in text
