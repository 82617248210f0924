"""Every IVR node type on real calls: a SIPp caller and agent phone, the sandbox Asterisk 22, the service, the DB."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy

from callcontrol.adapters.db.store import make_engine
from callcontrol.core.calls import EndReason
from callcontrol.devtools.sipp import start_agent
from tests.integration.harness import call_and_record, labels
from tests.support.service_process import ServiceProcess

FLOW_TIMEZONE = "Pacific/Kiritimati"  # UTC+14: "today" there is often not today in UTC
AGENT_PORT = 5101  # agent1001's static contact (dialplan/pjsip.conf)
ACCOUNT = "12"
PIN = "7391"  # secure: must never reach the log or the database (not a year, a port or part of an id)
SCORE = "4"
RING_MS = 1000
TALK_MS = 2000
RING_TIMEOUT_S = 5  # the transfer node's; the smallest a flow may use

# Measured in the sandbox: prompts beep 0.44 s, digits/1 0.92 s, digits/2 0.76 s, im-sorry 1.04 s, vm-goodbye
# 0.88 s; ANSWER returns 0.5 s after the 200 OK (it waits for media, and SIPp sends none); a digit reaches
# the service ~0.15 s after SIPp sends it. Times from the caller's ACK (pauses count from the previous digit):
#   0.5-0.95 s  `account` plays beep, then waits 3 s for a first digit
#   1.5 s       1, 2, # 0.6 s apart (inter-digit timeout 2 s): # ends the input at ~2.85 s
#   2.85-4.55   `echo` says 1 2 (a digit meanwhile is lost); then `pin` plays beep and waits 4 s
#   5.5 s       7 3 9 1, 0.6 s apart: the 4th (max_digits) ends the input at ~7.45 s and, through the silent
#               lang/check/mark nodes, starts the transfer at once
#   +3.0 s      the agent rang 1 s, talked 2 s and hung up: `survey` plays beep and waits 6 s
#   +4.4 s      the score, ~1.4 s into the survey (the earliest safe moment is +3.0 s, the latest ~+9.4 s)
IDENTIFY = [(1500, ACCOUNT[0]), (600, ACCOUNT[1]), (600, "#")]
PIN_KEYS = [(2800, PIN[0]), *((600, digit) for digit in PIN[1:])]
SCORE_KEY = [(RING_MS + TALK_MS + 1400, SCORE)]
REACH_TRANSFER = ["hours(open)", f"account:{ACCOUNT}", "echo", "pin", "lang", "check(case_1)", "mark"]


def nodes_flow(holidays: Iterable[date] = ()) -> str:
    """The test flow for 5002: every node type, open 24/7 except on `holidays` (in the flow's timezone)."""
    every_day = ", ".join(f'{day}: ["00:00-24:00"]' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    holiday_dates = ", ".join(f'"{day.isoformat()}"' for day in holidays)
    return f"""\
id: nodes
numbers: ["5002"]
languages: [en, en_US]
timezone: {FLOW_TIMEZONE}
allow: {{extensions: ["1001"]}}
schedules: {{always: {{weekly: {{{every_day}}}, holidays: [{holiday_dates}]}}}}
start: hours
nodes:
  hours: {{type: hours, schedule: always, open: account, closed: bye, holiday: holiday}}
  holiday: {{type: play, prompts: [beep], next: bye}}
  account: {{type: input, prompts: [beep], variable: account, min_digits: 2, max_digits: 4, timeout_s: 3,
            inter_digit_timeout_s: 2, max_attempts: 1, next: echo, exhausted: bye}}
  echo: {{type: say, digits: vars.account, next: pin}}
  pin: {{type: input, prompts: [beep], variable: pin, secure: true, min_digits: 4, max_digits: 4, timeout_s: 4,
        inter_digit_timeout_s: 2, max_attempts: 1, next: lang, exhausted: bye}}
  lang: {{type: language, language: en_US, next: check}}
  check: {{type: branch, cases: [{{when: 'vars.account == "{ACCOUNT}"', goto: mark}}], default: bye}}
  mark: {{type: set, assign: {{vip: "true"}}, next: agent}}
  agent: {{type: transfer, extension: "1001", ring_timeout_s: {RING_TIMEOUT_S}, answered: survey, failed: sorry}}
  sorry: {{type: play, prompts: [im-sorry], next: bye}}
  survey: {{type: survey, questions: [{{prompts: [beep], variable: csat}}], timeout_s: 6, next: bye}}
  bye: {{type: hangup, prompts: [vm-goodbye]}}
"""


@pytest.fixture
def start_service(service_with_flow):
    """The service with the nodes test flow (holidays: dates its schedule is closed for)."""
    async def start(holidays: Iterable[date] = ()) -> ServiceProcess:
        return await service_with_flow("nodes.yaml", nodes_flow(holidays))
    return start


def standalone(digits: str) -> re.Pattern[str]:
    """`digits` as a number of its own, not inside a longer run of digits (timestamps, ids, ports)."""
    return re.compile(rf"(?<![0-9]){re.escape(digits)}(?![0-9])")


async def raw_rows(database_url: str) -> list[dict]:
    """The calls table as stored, every column."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return [dict(row._mapping) for row in await connection.execute(sqlalchemy.text("SELECT * FROM calls"))]
    finally:
        await engine.dispose()


def today_in_flow_timezone() -> list[date]:
    """Today in the flow's timezone, plus tomorrow when midnight there is less than a minute away."""
    now = datetime.now(ZoneInfo(FLOW_TIMEZONE))
    return sorted({now.date(), (now + timedelta(minutes=1)).date()})


async def test_transfer_answered_then_survey_walks_every_node(start_service, records, sqlite_url, no_channels_left):
    """Account, secure PIN, say, language, branch, set, a transfer the agent ends, and a survey score are recorded."""
    service = await start_service()
    agent = await start_agent(AGENT_PORT, RING_MS, TALK_MS, timeout_s=40)
    _, answered, record = await call_and_record(records, "15550601", [*IDENTIFY, *PIN_KEYS, *SCORE_KEY], "nodes",
                                                agent)

    assert labels(record) == [*REACH_TRANSFER, "agent", f"survey:{SCORE}", "bye"]
    assert re.search(r"<-{10} BYE\s+1\s", answered.output), "the agent, not Asterisk, should have hung up"
    pin_step = record.ivr_path[REACH_TRANSFER.index("pin")]
    assert pin_step["result"] == "input" and "digit" not in pin_step
    assert record.variables == {"account": ACCOUNT, "vip": True, "csat": int(SCORE)}
    assert record.end_reason is EndReason.FLOW_HANGUP
    secret = standalone(PIN)
    assert not secret.search(service.log_path.read_text()), "the secure PIN is in the service log"
    (row,) = await raw_rows(sqlite_url)
    assert not secret.search(json.dumps(row, default=str)), "the secure PIN is in the database"


async def test_transfer_nobody_answers_takes_the_failed_exit(start_service, records, no_channels_left):
    """An agent phone ringing past the transfer's ring timeout is cancelled: NOANSWER, the failed exit, `sorry`."""
    # Not "no phone at all": Asterisk's unanswered INVITE would then be retransmitted to the agent's port for
    # 32 s (Timer B), and a later test's agent phone would answer that stale INVITE instead of its own call.
    await start_service()
    agent = await start_agent(AGENT_PORT, (RING_TIMEOUT_S + 5) * 1000, 0, timeout_s=40)
    _, rang, record = await call_and_record(records, "15550602", [*IDENTIFY, *PIN_KEYS], "nodes", agent)

    assert labels(record) == [*REACH_TRANSFER, "agent:noanswer[transfer_failed]", "sorry", "bye"]
    assert re.search(r"-{10}> CANCEL\s+1\s", rang.output), "Asterisk should have cancelled the ringing agent"
    assert record.variables == {"account": ACCOUNT, "vip": True}
    assert record.end_reason is EndReason.FLOW_HANGUP


async def test_hours_node_takes_the_holiday_exit_on_a_listed_date(start_service, records, no_channels_left):
    """When today (in the flow's timezone) is one of the schedule's holidays, the hours node takes its holiday exit."""
    await start_service(holidays=today_in_flow_timezone())
    _, _, record = await call_and_record(records, "15550603", [], "nodes")

    assert labels(record) == ["hours(holiday)", "holiday", "bye"]
    assert record.variables == {}
    assert record.end_reason is EndReason.FLOW_HANGUP


async def test_input_without_digits_times_out_and_is_exhausted(start_service, records, no_channels_left):
    """A caller who keys nothing at the account input gets no_input, then exhausted, then the goodbye."""
    await start_service()
    _, _, record = await call_and_record(records, "15550604", [], "nodes")

    assert labels(record) == ["hours(open)", "account[no_input]", "account[exhausted]", "bye"]
    assert record.variables == {}
    assert record.end_reason is EndReason.FLOW_HANGUP
