"""Asterisk's hangup log (callcontrol.adapters.hangup_log): the CEL lines cel_custom writes, read backwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callcontrol.adapters import hangup_log
from callcontrol.adapters.hangup_log import CelHangupLog, parse_line, read_hangups

# A line as Asterisk 22.10 wrote it on the sandbox (dialplan/cel_custom.conf), a caller hung up by the dialplan.
REAL_LINE = ('"HANGUP","1796172905.299450","1796172892.0","1796172892.0","PJSIP/trunk-00000000",'
             '"{""hangupcause"":16,""hangupsource"":""dialplan/builtin"",""dialstatus"":""""}"')
T0 = datetime.fromtimestamp(1796172900, UTC)


def line(epoch: float, uniqueid: str, linkedid: str, channel: str = "PJSIP/trunk-00000001", cause: int = 16) -> str:
    extra = f'{{""hangupcause"":{cause},""hangupsource"":"""",""dialstatus"":""ANSWER""}}'
    return f'"HANGUP","{epoch:.6f}","{uniqueid}","{linkedid}","{channel}","{extra}"'


def test_a_real_line_gives_the_channel_its_end_and_cause() -> None:
    hangup = parse_line(REAL_LINE)
    assert hangup is not None
    assert (hangup.uniqueid, hangup.linkedid, hangup.channel, hangup.cause) == (
        "1796172892.0", "1796172892.0", "PJSIP/trunk-00000000", 16)
    assert hangup.at == datetime(2026, 12, 2, 0, 55, 5, 299450, tzinfo=UTC)


def test_lines_that_are_not_well_formed_hangups_are_none() -> None:
    assert parse_line("") is None
    assert parse_line('"CHAN_START","1.0","a.1","a.1","PJSIP/x-1",""') is None
    assert parse_line('"HANGUP","soon","a.1","a.1","PJSIP/x-1",""') is None
    assert parse_line('"HANGUP","1.0","a 1;rm","a.1","PJSIP/x-1",""') is None  # not an Asterisk id
    assert parse_line('"HANGUP","1.0","a.1","a.1","PJSIP/x-1"') is None  # a field missing


def test_an_unreadable_or_odd_cause_is_unknown_not_an_error() -> None:
    assert parse_line('"HANGUP","1796172905.5","a.1","a.1","PJSIP/x-1","not json"').cause is None
    assert parse_line('"HANGUP","1796172905.5","a.1","a.1","PJSIP/x-1","{""hangupcause"":9999}"').cause is None
    assert parse_line('"HANGUP","1796172905.5","a.1","a.1","PJSIP/x-1",""').cause is None


def test_read_finds_every_leg_of_the_asked_calls_and_skips_junk(tmp_path: Path) -> None:
    path = tmp_path / "hangups.csv"
    path.write_text("\n".join([
        line(1796172901, "c.1", "c.1"),
        "garbage line, not from Asterisk",
        line(1796172902, "c.2", "c.1", channel="PJSIP/agent1001-00000002", cause=16),
        line(1796172903, "o.1", "o.1"),
    ]) + "\n")
    found = read_hangups(path, {"c.1"}, T0)
    assert [(h.uniqueid, h.channel) for h in found] == [("c.2", "PJSIP/agent1001-00000002"),
                                                        ("c.1", "PJSIP/trunk-00000001")]


def test_read_stops_before_the_oldest_asked_call(tmp_path: Path, monkeypatch) -> None:
    """It reads backwards from the end and stops a minute before `since`: an old line of the same id is not
    reached (a day-old file would otherwise be read whole at every restart)."""
    monkeypatch.setattr(hangup_log, "BLOCK_BYTES", 64)  # many blocks: lines cut across block edges
    old = [line(1796172900 - 3600 + n, f"x.{n}", "c.1") for n in range(50)]
    new = [line(1796172900 + n, f"n.{n}", f"n.{n}") for n in range(50)]
    path = tmp_path / "hangups.csv"
    path.write_text("\n".join([*old, *new, line(1796172960, "c.1", "c.1")]) + "\n")
    found = read_hangups(path, {"c.1", "n.7"}, T0)
    assert sorted(h.uniqueid for h in found) == ["c.1", "n.7"]
    assert sorted(h.uniqueid for h in read_hangups(path, {"c.1"}, T0 - timedelta(hours=2))) == [
        "c.1", *sorted(f"x.{n}" for n in range(50))]


def test_a_last_line_still_being_written_and_a_missing_file_lose_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "hangups.csv"
    path.write_text(line(1796172901, "c.1", "c.1") + "\n" + '"HANGUP","17961729')
    assert [h.uniqueid for h in read_hangups(path, {"c.1"}, T0)] == ["c.1"]
    assert read_hangups(tmp_path / "absent.csv", {"c.1"}, T0) == []
    assert read_hangups(path, set(), T0) == []


def test_the_port_reads_in_a_thread(tmp_path: Path) -> None:
    path = tmp_path / "hangups.csv"
    path.write_text(REAL_LINE + "\n")
    found = asyncio.run(CelHangupLog(path).hangups(["1796172892.0"], T0))
    assert [h.cause for h in found] == [16]
