"""The supervision line (services/supervisor_phone.py) with a scripted caller, People on a migrated SQLite database
and the real Supervision: the device, the PIN and its lockout, a shared phone, the agent's number, the scope, the
one variable handed to the dialplan, the audit trail, and no PIN in any log or audit entry."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from callcontrol.adapters.db.people_store import SqlPeopleStore
from callcontrol.adapters.db.schema import upgrade
from callcontrol.adapters.db.store import make_engine
from callcontrol.core.audit import Outcome
from callcontrol.core.domain_events import AgentAnswered
from callcontrol.core.events import DialEnded
from callcontrol.core.permissions import Principal, Role
from callcontrol.core.supervision import Mode, State
from callcontrol.services.agent_calls import AgentCall, AgentCallTracker
from callcontrol.services.login_attempts import LOGIN_POLICY, LoginAttempts
from callcontrol.services.people import People
from callcontrol.services.supervision import Supervision
from callcontrol.services.supervisor_phone import (
    NUMBER_ATTEMPTS,
    PIN_ATTEMPTS,
    TARGET_VARIABLE,
    SupervisorLine,
    agent_number,
)
from tests.support.agi_channel import LineCaller
from tests.support.clock import T0, SettableClock
from tests.support.paths import MIGRATIONS
from tests.support.stores import fast_passwords
from tests.support.supervision import MemoryAuditLog, RecordedPhones

SUP1, SHARED, SUP3, DESK = "PJSIP/supervisor1", "PJSIP/supervisor2", "PJSIP/supervisor3", "PJSIP/reception7"
LINE = "1764650100.9"  # the uniqueid of the supervisor phone's own channel on the line
ADA_CALL, ADA_LEG, ADA_CHANNEL = "1764650000.1", "1764650000.2", "PJSIP/agent1001-0000002a"
ED_CALL, ED_LEG, ED_CHANNEL = "1764650000.3", "1764650000.4", "PJSIP/agent10011-0000002b"
AGENTS = {"ada": "PJSIP/agent1001", "ed": "PJSIP/agent10011", "bo": "PJSIP/agent1003", "nemo": "PJSIP/lobby"}
# the phones each user is allowed (CALLCONTROL_SUPERVISOR_PHONES): supervisor2 is shared by two supervisors
PHONES = {"sup.sales": (SUP1, SHARED), "sup.support": (SUP3, SHARED), "rita": (DESK,)}
QUEUE_TEAMS = {"sales": "sales", "support": "support"}
PINS = {"sup.sales": "483920", "sup.support": "739104", "rita": "620481"}
WRONG = "555123"


def sees_call(principal: Principal, call: AgentCall) -> bool:
    return principal.role is Role.ADMIN or QUEUE_TEAMS.get(call.queue_id or "") in principal.teams


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "people.sqlite3"
    upgrade(MIGRATIONS, f"sqlite+aiosqlite:///{path}")
    return path


class Line:
    """The line and everything around it: the calls Asterisk reported, the people, supervision, the audit."""

    def __init__(self, people: People) -> None:
        self.clock = SettableClock(T0)
        self.people = people
        self.phones, self.audit, self.calls = RecordedPhones(), MemoryAuditLog(), AgentCallTracker()
        self.supervision = Supervision(self.phones, self.calls, self.audit, self.clock, sees_call,
                                       lambda user: PHONES.get(user, ()), audit_reader=self.audit)
        self.attempts = LoginAttempts()
        self.line = SupervisorLine(self.supervision, self.calls, people, self.attempts, self.clock,
                                   lambda device: tuple(user for user, own in PHONES.items() if device in own),
                                   lambda: dict(AGENTS))

    def talking(self, call_id: str, leg: str, channel: str, agent: str, queue: str = "sales") -> None:
        """A queue caller the agent answered: DialEnd ANSWER (the agent's channel) and the ACD's AgentAnswered."""
        self.calls.dial_ended(DialEnded(call_id, channel, "ANSWER", self.clock.now(), leg))
        self.calls.agent_answered(AgentAnswered(call_id, agent, queue, self.clock.now()))

    async def call(self, device: str, *entries: str, uniqueid: str = LINE) -> tuple[str, LineCaller]:
        caller = LineCaller(entries)
        return await self.line.answer(caller, device, uniqueid), caller

    async def starts(self) -> list:
        await self.supervision.drain()
        return [e for e in self.audit.written if e.action == "supervision.start"]


@pytest.fixture
async def desk(migrated: Path, tmp_path: Path) -> AsyncIterator[Line]:
    path = tmp_path / "people.sqlite3"
    shutil.copy(migrated, path)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    people = People(SqlPeopleStore(engine), SettableClock(T0), passwords=fast_passwords())
    await people.add_user("sup.sales", Role.SUPERVISOR, frozenset({"sales"}))
    await people.add_user("sup.support", Role.SUPERVISOR, frozenset({"support"}))
    await people.add_user("rita", Role.REPORTING)
    for name, pin in PINS.items():
        await people.set_phone_pin(name, pin)
    desk = Line(people)
    desk.talking(ADA_CALL, ADA_LEG, ADA_CHANNEL, "ada")
    desk.talking(ED_CALL, ED_LEG, ED_CHANNEL, "ed")
    yield desk
    await engine.dispose()


def test_the_agents_number_is_the_digits_its_device_ends_with() -> None:
    assert agent_number("PJSIP/agent1001") == "1001" and agent_number("PJSIP/agent10011") == "10011"
    assert agent_number("PJSIP/lobby") is None and agent_number("PJSIP/a1b22") == "22"


async def test_a_device_no_user_is_allowed_is_refused_and_asked_nothing(desk: Line) -> None:
    outcome, caller = await desk.call("PJSIP/agent1001", PINS["sup.sales"], "1001")
    assert outcome == "unknown_device"
    assert caller.log == [("answer",), ("play", "vm-incorrect")] and caller.asked == []
    assert await desk.starts() == [] and desk.supervision.sessions(Principal("root", Role.ADMIN)) == []


async def test_three_wrong_pins_end_the_call_and_count_against_the_phone(desk: Line) -> None:
    outcome, caller = await desk.call(SUP1, WRONG, "1234", "")
    assert outcome == "wrong_pin" and PIN_ATTEMPTS == 3
    assert caller.asked == ["vm-password"] * 3 and caller.played == ["vm-incorrect"] * 3
    assert caller.variables == [] and await desk.starts() == []
    assert desk.attempts.attempts.tracked() == 1  # one key: this phone


async def test_the_phone_is_locked_after_the_policys_failures_and_then_asked_nothing(desk: Line) -> None:
    """The password policy's failures, over several calls (redialling gives no fresh tries): the call with the
    failure that locks says so at once; the next ones are not asked a PIN, the right one included (no hint);
    another phone is not locked; once the lockout is over the right PIN works."""
    failures, outcomes = 0, []
    while failures < LOGIN_POLICY.max_failures:
        outcome, caller = await desk.call(SUP1, *[WRONG] * PIN_ATTEMPTS)
        failures += len(caller.asked)
        outcomes.append(outcome)
    assert failures == LOGIN_POLICY.max_failures
    assert outcomes[-1] == "locked" and set(outcomes[:-1]) == {"wrong_pin"}
    assert caller.log[-1] == ("play", "vm-incorrect") and len(caller.entries) == PIN_ATTEMPTS - len(caller.asked)
    outcome, caller = await desk.call(SUP1, PINS["sup.sales"], "1001")
    assert outcome == "locked" and caller.asked == [] and caller.played == ["vm-incorrect"]
    outcome, caller = await desk.call(SUP3, PINS["sup.support"], "1001", "1001", "1001")  # another phone: asked
    assert outcome == "unknown_agent" and caller.asked[0] == "vm-password"
    desk.clock.current += timedelta(seconds=LOGIN_POLICY.lockout_s)
    outcome, caller = await desk.call(SUP1, PINS["sup.sales"], "1001")
    assert outcome == "supervising" and caller.variables == [(TARGET_VARIABLE, ADA_LEG)]


async def test_a_shared_phone_tells_its_users_apart_by_their_pin(desk: Line) -> None:
    outcome, caller = await desk.call(SHARED, PINS["sup.support"], "1001", "1001", "1001")
    assert outcome == "unknown_agent" and caller.variables == []  # sup.support: ada's sales call is not in scope
    outcome, caller = await desk.call(SHARED, PINS["sup.sales"], "1001")
    assert outcome == "supervising" and caller.variables == [(TARGET_VARIABLE, ADA_LEG)]
    [session] = desk.supervision.sessions(Principal("root", Role.ADMIN))
    assert (session.supervisor, session.endpoint, session.spyer_uniqueid) == ("sup.sales", SHARED, LINE)
    assert [(e.actor, e.outcome) for e in await desk.starts()] == [("sup.support", Outcome.DENIED)] * 3 + [
        ("sup.sales", Outcome.ALLOWED)]


async def test_every_user_of_a_shared_phone_is_checked_whichever_pin_matches(desk: Line) -> None:
    """The time a PIN takes does not tell which of the phone's users it belongs to: each is checked, always."""
    checked: list[str] = []
    matches = desk.people.phone_pin_matches

    async def counted(name: str, pin: str) -> bool:
        checked.append(name)
        return await matches(name, pin)

    desk.people.phone_pin_matches = counted  # type: ignore[method-assign]
    for pin in (PINS["sup.sales"], PINS["sup.support"], WRONG):
        checked.clear()
        await desk.call(SHARED, pin)
        assert sorted(checked) == ["sup.sales", "sup.support"], pin


async def test_parallel_calls_from_one_phone_get_no_more_tries_than_calls_one_after_another(desk: Line) -> None:
    checked: list[str] = []
    matches = desk.people.phone_pin_matches

    async def counted(name: str, pin: str) -> bool:
        checked.append(name)
        return await matches(name, pin)

    desk.people.phone_pin_matches = counted  # type: ignore[method-assign]
    calls = 2 * LOGIN_POLICY.max_failures // PIN_ATTEMPTS + 1
    outcomes = await asyncio.gather(*[desk.call(SUP1, *[WRONG] * PIN_ATTEMPTS, uniqueid=f"1764650100.{n}")
                                      for n in range(calls)])
    assert len(checked) == LOGIN_POLICY.max_failures and "locked" in {outcome for outcome, _ in outcomes}
    assert (await desk.call(SUP1, PINS["sup.sales"]))[0] == "locked"


async def test_knowing_one_users_pin_gives_no_fresh_tries_at_another_users_on_a_shared_phone(desk: Line) -> None:
    for _ in range((LOGIN_POLICY.max_failures - 1) // PIN_ATTEMPTS):
        assert (await desk.call(SHARED, *[WRONG] * PIN_ATTEMPTS))[0] == "wrong_pin"
    assert (await desk.call(SHARED, PINS["sup.sales"], "1001"))[0] == "supervising"
    left = (LOGIN_POLICY.max_failures - 1) % PIN_ATTEMPTS + 1
    outcome, caller = await desk.call(SHARED, *[WRONG] * PIN_ATTEMPTS, uniqueid="1764650100.10")
    assert outcome == "locked" and len(caller.asked) == left


async def test_another_users_pin_does_not_sign_in_on_a_phone_not_allowed_to_it(desk: Line) -> None:
    outcome, _ = await desk.call(SUP3, PINS["sup.sales"], PINS["sup.sales"], PINS["sup.sales"])
    assert outcome == "wrong_pin" and await desk.starts() == []


async def test_a_revoked_user_is_refused_with_its_old_pin(desk: Line) -> None:
    assert await desk.people.revoke("sup.sales")
    outcome, caller = await desk.call(SUP1, PINS["sup.sales"], "1001", "1001")
    assert outcome == "wrong_pin" and caller.asked == ["vm-password"] * PIN_ATTEMPTS  # "1001" taken as a PIN
    assert caller.variables == [] and await desk.starts() == []


async def test_a_number_that_is_only_a_prefix_is_refused_then_the_agents_own_accepted(desk: Line) -> None:
    """100 is the start of 1001 and 10011: neither; 1001 is ada's, whose device name (agent1001) is also the start
    of ed's (agent10011): ada's channel, never ed's."""
    outcome, caller = await desk.call(SUP1, PINS["sup.sales"], "100", "1001")
    assert outcome == "supervising"
    assert caller.asked == ["vm-password", "extension", "extension"] and caller.played == ["pbx-invalid"]
    assert caller.variables == [(TARGET_VARIABLE, ADA_LEG)]
    denied, allowed = await desk.starts()
    assert (denied.outcome, denied.object_id, denied.detail) == (Outcome.DENIED, "(none)",
                                                                  {"mode": "listen", "reason": "unknown_call"})
    assert (allowed.outcome, allowed.object_id, allowed.detail["agent"]) == (Outcome.ALLOWED, ADA_CALL, "ada")


async def test_an_agent_with_no_live_call_and_an_unknown_number_are_refused_each_time(desk: Line) -> None:
    outcome, caller = await desk.call(SUP1, PINS["sup.sales"], "1003", "9999", "")
    assert outcome == "unknown_agent" and NUMBER_ATTEMPTS == 3
    assert caller.asked == ["vm-password"] + ["extension"] * 3 and caller.played == ["pbx-invalid"] * 3
    assert caller.variables == []
    assert [(e.outcome, e.detail["reason"]) for e in await desk.starts()] == [(Outcome.DENIED, "unknown_call")] * 3


async def test_a_supervisor_out_of_scope_is_refused_as_if_there_were_no_call_and_audited_denied(desk: Line) -> None:
    outcome, caller = await desk.call(SUP3, PINS["sup.support"], "1001", "10011", "1003")
    assert outcome == "unknown_agent" and caller.variables == [] and desk.phones.rung == []
    starts = await desk.starts()
    assert [(e.actor, e.role, e.outcome, e.source, e.detail) for e in starts] == [
        ("sup.support", "supervisor", Outcome.DENIED, f"phone:{SUP3}", {"mode": "listen", "reason": "unknown_call"})
    ] * 3
    assert [e.object_id for e in starts] == [ADA_CALL, ED_CALL, "(none)"]


async def test_a_user_whose_role_may_not_supervise_is_refused_at_once(desk: Line) -> None:
    outcome, caller = await desk.call(DESK, PINS["rita"], "1001", "1001")
    assert outcome == "refused" and caller.asked == ["vm-password", "extension"] and caller.played == ["pbx-invalid"]
    [denied] = await desk.starts()
    assert (denied.actor, denied.outcome, denied.detail["reason"]) == ("rita", Outcome.DENIED, "forbidden")


async def test_a_phone_already_in_a_session_is_refused(desk: Line) -> None:
    assert (await desk.call(SUP1, PINS["sup.sales"], "1001"))[0] == "supervising"
    outcome, caller = await desk.call(SUP1, PINS["sup.sales"], "10011", uniqueid="1764650100.10")
    assert outcome == "refused" and caller.variables == []
    assert [e.detail.get("reason") for e in await desk.starts()] == [None, "phone_busy"]


async def test_success_hands_the_dialplan_only_the_agent_channels_uniqueid_and_audits_via_phone(desk: Line) -> None:
    outcome, caller = await desk.call(SUP1, PINS["sup.sales"], "10011")
    assert outcome == "supervising"
    assert caller.variables == [(TARGET_VARIABLE, ED_LEG)] and caller.log[-1] == ("set", TARGET_VARIABLE, ED_LEG)
    assert desk.phones.rung == []  # the phone is on the line already: nothing is rung
    [session] = desk.supervision.sessions(Principal("sup.sales", Role.SUPERVISOR, frozenset({"sales"})))
    assert (session.call_id, session.agent_id, session.target_uniqueid, session.target_channel) == (
        ED_CALL, "ed", ED_LEG, ED_CHANNEL)
    assert (session.endpoint, session.spyer_uniqueid, session.mode, session.state) == (SUP1, LINE, Mode.LISTEN,
                                                                                       State.RINGING)
    [start] = await desk.starts()
    assert (start.actor, start.role, start.outcome, start.object_id, start.source) == (
        "sup.sales", "supervisor", Outcome.ALLOWED, ED_CALL, f"phone:{SUP1}")
    assert start.detail["via"] == "phone" and start.detail["session"] == session.id
    assert (start.detail["spyer_uniqueid"], start.detail["target_uniqueid"], start.detail["endpoint"]) == (
        LINE, ED_LEG, SUP1)


async def test_a_caller_hanging_up_mid_line_changes_nothing(desk: Line) -> None:
    assert (await desk.call(SUP1))[0] == "caller_hangup"
    assert (await desk.call(SUP1, PINS["sup.sales"]))[0] == "caller_hangup"
    assert await desk.starts() == [] and desk.attempts.attempts.tracked() == 0


async def test_no_pin_reaches_a_log_or_an_audit_entry(desk: Line) -> None:
    with structlog.testing.capture_logs() as logs:
        await desk.call(SUP1, WRONG, PINS["sup.sales"], "100", "1001")
        await desk.call(SHARED, PINS["sup.support"], "1001", "1001", "1001")
        await desk.call(DESK, PINS["rita"], "1001")
        await desk.call(SUP3, *[WRONG] * PIN_ATTEMPTS)
    events = {entry["event"] for entry in logs}
    assert {"supervisor_phone.wrong_pin", "supervisor_phone.refused", "supervisor_phone.supervising"} <= events
    await desk.supervision.drain()
    written = repr(logs) + repr(desk.audit.written)
    assert [pin for pin in (*PINS.values(), WRONG) if pin in written] == []


async def test_a_number_two_agents_devices_end_with_is_refused_never_guessed(desk: Line) -> None:
    """ada (PJSIP/agent1001) and a sales agent on PJSIP/sales1001, both talking: 1001 names neither."""
    AGENTS_WITH_TWIN = {**AGENTS, "sam": "PJSIP/sales1001"}
    desk.line = SupervisorLine(desk.supervision, desk.calls, desk.people, desk.attempts, desk.clock,
                               lambda device: tuple(user for user, own in PHONES.items() if device in own),
                               lambda: dict(AGENTS_WITH_TWIN))
    desk.talking("1700000000.77", "1700000000.78", "PJSIP/sales1001-00000009", "sam")
    outcome, caller = await desk.call(SUP1, PINS["sup.sales"], "1001", "", "")
    assert outcome == "unknown_agent" and caller.variables == [] and caller.played == ["pbx-invalid"] * 3
