"""The Supervision service (services/supervision.py) over recorded phones and an in-memory audit trail: refusals,
a session's audit entries in order, a wrong spyee, ringing expiry, AMI resyncs and a restart's open sessions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from callcontrol.core.audit import Outcome
from callcontrol.core.domain_events import AgentAnswered
from callcontrol.core.events import (
    ChannelAnswered,
    ChannelHungUp,
    ChannelsSnapshot,
    DialEnded,
    KeyReceived,
    OriginateFailed,
    SpyStarted,
    SpyStopped,
)
from callcontrol.core.permissions import Principal, Role
from callcontrol.core.supervision import EndReason, Mode, State
from callcontrol.services import supervision as supervision_module
from callcontrol.services.agent_calls import AgentCall, AgentCallTracker
from callcontrol.services.supervision import Supervision, SupervisionRefused
from tests.support.clock import T0, SettableClock
from tests.support.supervision import MemoryAuditLog, RecordedPhones

ADA_CALL, ADA_LEG, ADA_CHANNEL = "1764650000.1", "1764650000.2", "PJSIP/agent1001-0000002a"
ED_CALL, ED_LEG, ED_CHANNEL = "1764650000.3", "1764650000.4", "PJSIP/agent10011-0000002b"
BO_CALL, BO_LEG, BO_CHANNEL = "1764650000.5", "1764650000.6", "PJSIP/agent1003-0000002c"
CY_CALL, CY_LEG, CY_CHANNEL = "1764650000.7", "1764650000.8", "PJSIP/agent1004-0000002d"
SALES = Principal("sup.sales", Role.SUPERVISOR, teams={"sales"})
SUPPORT = Principal("sup.support", Role.SUPERVISOR, teams={"support"})
NO_PHONE = Principal("sup.nophone", Role.SUPERVISOR, teams={"sales"})
ADMIN = Principal("root", Role.ADMIN)
ADA = Principal("ada", Role.AGENT, agent_id="ada")
PHONES = {"sup.sales": ("PJSIP/supervisor1", "PJSIP/supervisor2"), "sup.support": ("PJSIP/supervisor3",),
          "root": ("PJSIP/supervisor9",)}
QUEUE_TEAMS = {"sales": "sales", "support": "support"}


def sees_call(principal: Principal, call: AgentCall) -> bool:
    return principal.role is Role.ADMIN or QUEUE_TEAMS.get(call.queue_id or "") in principal.teams


class Desk:
    def __init__(self, phones: RecordedPhones | None = None, audit: MemoryAuditLog | None = None) -> None:
        self.clock = SettableClock(T0)
        self.phones = phones or RecordedPhones()
        self.audit = audit or MemoryAuditLog()
        self.calls = AgentCallTracker()
        self.supervision = Supervision(self.phones, self.calls, self.audit, self.clock, sees_call,
                                       lambda user: PHONES.get(user, ()), audit_reader=self.audit,
                                       ring_timeout_s=20.0)

    def talking(self, call_id: str = ADA_CALL, leg: str = ADA_LEG, channel: str = ADA_CHANNEL, agent: str = "ada",
                queue: str = "sales") -> None:
        """A queue caller the agent answered: DialEnd ANSWER (the agent's channel) and the ACD's AgentAnswered."""
        self.calls.dial_ended(DialEnded(call_id, channel, "ANSWER", self.clock.now(), leg))
        self.calls.agent_answered(AgentAnswered(call_id, agent, queue, self.clock.now()))

    def later(self, seconds: float) -> None:
        self.clock.current += timedelta(seconds=seconds)

    def hung_up(self, uniqueid: str) -> None:
        """A Hangup as ami_routing delivers it: the agent-call tracker first, then supervision."""
        event = ChannelHungUp(uniqueid, uniqueid, 16, "Normal Clearing", self.clock.now())
        self.calls.channel_hung_up(event)
        self.supervision.channel_hung_up(event)

    async def joined(self, principal: Principal = SALES, mode: Mode = Mode.LISTEN, call_id: str = ADA_CALL,
                     leg: str = ADA_LEG, channel: str = ADA_CHANNEL, endpoint: str | None = None):
        session = await self.supervision.start(principal, call_id, mode, endpoint, "10.0.0.7")
        self.later(2)
        self.supervision.channel_answered(ChannelAnswered(session.spyer_uniqueid, session.spyer_uniqueid,
                                                          self.clock.now()))
        await self.supervision.spy_started(SpyStarted(session.spyer_uniqueid, leg, channel, self.clock.now()))
        return self.supervision.session(principal, session.id)

    async def written(self) -> list:
        await self.supervision.drain()
        return [e for e in self.audit.written if e.action.startswith("supervision.")]


@pytest.fixture
def desk() -> Desk:
    desk = Desk()
    desk.talking()
    desk.talking(ED_CALL, ED_LEG, ED_CHANNEL, agent="ed")
    return desk


@pytest.mark.parametrize(("principal", "call_id", "endpoint", "status", "code"), [
    (ADA, ADA_CALL, None, 403, "forbidden"),  # an agent may not supervise
    (Principal("rep", Role.REPORTING), ADA_CALL, None, 403, "forbidden"),
    (SUPPORT, ADA_CALL, None, 404, "unknown_call"),  # another team's call: as if there were none
    (SALES, "1764650000.999", None, 404, "unknown_call"),
    (SALES, ADA_LEG, None, 404, "unknown_call"),  # the agent's own leg is not a call id
    (SALES, ADA_CALL, "PJSIP/agent1002", 400, "endpoint_not_allowed"),
    (SALES, ADA_CALL, "PJSIP/supervisor3", 400, "endpoint_not_allowed"),  # sup.support's phone
    (SALES, ADA_CALL, "PJSIP/supervisor1;x", 400, "endpoint_not_allowed"),
    (NO_PHONE, ADA_CALL, None, 409, "no_supervisor_phone"),
    (NO_PHONE, ADA_CALL, "PJSIP/supervisor1", 400, "endpoint_not_allowed"),
])
async def test_refusals_are_audited_denied_and_ring_nothing(desk: Desk, principal: Principal, call_id: str,
                                                            endpoint: str | None, status: int, code: str) -> None:
    with pytest.raises(SupervisionRefused) as refused:
        await desk.supervision.start(principal, call_id, Mode.BARGE, endpoint, "10.0.0.7")
    assert (refused.value.status, refused.value.code) == (status, code)
    assert desk.phones.rung == [] and desk.supervision.sessions(ADMIN, live_only=False) == []
    [entry] = await desk.written()
    assert (entry.actor, entry.action, entry.object_type, entry.object_id, entry.outcome, entry.role,
            entry.source) == (principal.user, "supervision.start", "call", call_id, Outcome.DENIED,
                              principal.role.value, "10.0.0.7")
    assert entry.detail == {"mode": "barge", "reason": code} and entry.at == T0


async def test_a_busy_phone_is_refused_and_another_of_the_users_phones_is_not(desk: Desk) -> None:
    first = await desk.supervision.start(SALES, ADA_CALL, Mode.LISTEN, None)
    assert first.endpoint == "PJSIP/supervisor1"  # the user's first phone
    with pytest.raises(SupervisionRefused) as refused:
        await desk.supervision.start(SALES, ED_CALL, Mode.LISTEN, None)
    assert (refused.value.status, refused.value.code) == (409, "phone_busy") and first.id in str(refused.value)
    with pytest.raises(SupervisionRefused):
        await desk.supervision.start(SALES, ED_CALL, Mode.LISTEN, "PJSIP/supervisor1")
    second = await desk.supervision.start(SALES, ED_CALL, Mode.WHISPER, "PJSIP/supervisor2")
    assert [r[1] for r in desk.phones.rung] == ["PJSIP/supervisor1", "PJSIP/supervisor2"]
    assert {s.id for s in desk.supervision.sessions(SALES)} == {first.id, second.id}
    outcomes = [(e.outcome, e.detail.get("reason")) for e in await desk.written()]
    assert outcomes == [(Outcome.ALLOWED, None), (Outcome.DENIED, "phone_busy"), (Outcome.DENIED, "phone_busy"),
                        (Outcome.ALLOWED, None)]
    desk.hung_up(first.spyer_uniqueid)  # the phone is free again once its session ended
    third = await desk.supervision.start(SALES, ED_CALL, Mode.LISTEN, None)
    assert third.endpoint == "PJSIP/supervisor1"


async def test_a_full_session_is_audited_in_order_with_its_facts(desk: Desk) -> None:
    session = await desk.supervision.start(SALES, ADA_CALL, Mode.LISTEN, None, "10.0.0.7")
    assert session.state is State.RINGING and session.agent_id == "ada" and session.queue_id == "sales"
    assert desk.phones.rung == [(session.id, "PJSIP/supervisor1", Mode.LISTEN, ADA_LEG, session.spyer_uniqueid)]
    assert desk.supervision.supervisors_of(ADA_CALL) == ("sup.sales",)
    with pytest.raises(SupervisionRefused) as refused:  # not joined yet
        await desk.supervision.change_mode(SALES, session.id, Mode.BARGE)
    assert (refused.value.status, refused.value.code) == (409, "not_active")

    desk.later(2)
    spyer = session.spyer_uniqueid
    desk.supervision.channel_answered(ChannelAnswered(spyer, spyer, desk.clock.now()))
    desk.supervision.channel_answered(ChannelAnswered(ADA_LEG, ADA_CALL, desk.clock.now()))  # not a supervisor's
    await desk.supervision.spy_started(SpyStarted(spyer, ADA_LEG, ADA_CHANNEL, desk.clock.now()))
    assert desk.supervision.session(SALES, session.id).state is State.ACTIVE

    desk.later(3)
    asked = await desk.supervision.change_mode(SALES, session.id, Mode.WHISPER)
    assert asked.mode is Mode.LISTEN and asked.pending_mode is Mode.WHISPER  # until Asterisk shows the key
    assert desk.phones.modes == [(spyer, Mode.WHISPER)]
    desk.supervision.key_received(KeyReceived(spyer, "5", desk.clock.now()))
    desk.supervision.key_received(KeyReceived(ADA_LEG, "6", desk.clock.now()))  # the agent's keys are not ours
    assert desk.supervision.session(SALES, session.id).mode is Mode.WHISPER
    unchanged = await desk.supervision.change_mode(SALES, session.id, Mode.WHISPER)
    assert unchanged.pending_mode is None and desk.phones.modes == [(spyer, Mode.WHISPER)]  # nothing played
    desk.later(4)
    desk.supervision.key_received(KeyReceived(spyer, "6", desk.clock.now()))  # the supervisor pressed 6
    desk.supervision.spy_stopped(SpyStopped(spyer, desk.clock.now()))

    desk.later(5)
    ending = await desk.supervision.end(SALES, session.id)
    assert ending.live and desk.phones.hung_up == [spyer]
    desk.hung_up(spyer)
    ended = desk.supervision.session(SALES, session.id)
    assert ended.state is State.ENDED and ended.end_reason is EndReason.ENDED_BY_REQUEST
    assert ended.duration_s == 12.0 and ended.mode is Mode.BARGE
    assert desk.supervision.supervisors_of(ADA_CALL) == () and desk.supervision.sessions(SALES) == []
    assert desk.supervision.sessions(SALES, live_only=False) == [ended]
    assert (await desk.supervision.end(SALES, session.id)) == ended  # ended already: nothing asked
    assert desk.phones.hung_up == [spyer]

    entries = await desk.written()
    assert [(e.action, e.actor, e.outcome) for e in entries] == [
        ("supervision.start", "sup.sales", Outcome.ALLOWED), ("supervision.joined", "sup.sales", Outcome.ALLOWED),
        ("supervision.mode_change", "sup.sales", Outcome.ALLOWED),
        ("supervision.mode_change", "sup.sales", Outcome.ALLOWED), ("supervision.end", "sup.sales", Outcome.ALLOWED)]
    assert all(e.object_type == "call" and e.object_id == ADA_CALL and e.detail["session"] == session.id
               for e in entries)
    assert [e.at for e in entries] == [T0, T0 + timedelta(seconds=2), T0 + timedelta(seconds=5),
                                       T0 + timedelta(seconds=9), T0 + timedelta(seconds=14)]
    start, joined, by_api, by_phone, end = (e.detail for e in entries)
    assert (entries[0].role, entries[0].source) == ("supervisor", "10.0.0.7")
    assert start == {"session": session.id, "supervisor": "sup.sales", "endpoint": "PJSIP/supervisor1",
                     "call_id": ADA_CALL, "agent": "ada", "queue": "sales", "mode": "listen", "state": "ringing",
                     "started_at": None, "ended_at": None, "end_reason": None, "duration_s": None,
                     "target_channel": ADA_CHANNEL, "spyer_uniqueid": spyer, "target_uniqueid": ADA_LEG, "via": "api"}
    assert joined["state"] == "active" and joined["started_at"] == (T0 + timedelta(seconds=2)).isoformat()
    assert (joined["spyee_uniqueid"], joined["spyee_channel"]) == (ADA_LEG, ADA_CHANNEL)
    assert (by_api["from"], by_api["to"], by_api["by"], by_api["mode"]) == ("listen", "whisper", "api:sup.sales",
                                                                           "whisper")
    assert (by_phone["from"], by_phone["to"], by_phone["by"], by_phone["mode"]) == ("whisper", "barge", "phone",
                                                                                    "barge")
    assert end["end_reason"] == "ended_by_request" and end["state"] == "ended" and end["duration_s"] == 12.0
    assert end["requested_at"] == T0.isoformat() and end["ended_at"] == (T0 + timedelta(seconds=14)).isoformat()
    assert [(c["from"], c["to"], c["by"]) for c in end["mode_changes"]] == [
        ("listen", "whisper", "api:sup.sales"), ("whisper", "barge", "phone")]


async def test_a_mode_change_asked_by_an_admin_is_audited_as_the_admins(desk: Desk) -> None:
    session = await desk.joined()
    await desk.supervision.change_mode(ADMIN, session.id, Mode.BARGE)
    desk.supervision.key_received(KeyReceived(session.spyer_uniqueid, "6", desk.clock.now()))
    change = [e for e in await desk.written() if e.action == "supervision.mode_change"]
    assert [(e.actor, e.detail["by"], e.detail["supervisor"]) for e in change] == [("root", "api:root", "sup.sales")]


async def test_only_the_supervisor_and_admins_see_a_session(desk: Desk) -> None:
    session = await desk.joined()
    other = Principal("sup.other", Role.SUPERVISOR, teams={"sales"})
    for principal in (other, SUPPORT):
        for act in (lambda p: desk.supervision.change_mode(p, session.id, Mode.BARGE),
                    lambda p: desk.supervision.end(p, session.id)):
            with pytest.raises(SupervisionRefused) as refused:
                await act(principal)
            assert (refused.value.status, refused.value.code) == (404, "unknown_session")
        with pytest.raises(SupervisionRefused):
            desk.supervision.session(principal, session.id)
        assert desk.supervision.sessions(principal) == []
    for bad in ("sup_nothex0000000000", "../x", session.id + "0"):
        with pytest.raises(SupervisionRefused):
            desk.supervision.session(ADMIN, bad)
    assert desk.supervision.session(ADMIN, session.id).id == session.id
    assert desk.phones.modes == [] and desk.phones.hung_up == []
    await desk.supervision.end(ADMIN, session.id)
    desk.hung_up(session.spyer_uniqueid)
    end = (await desk.written())[-1]
    assert end.action == "supervision.end" and end.detail["end_reason"] == "ended_by_request"


async def test_the_agents_call_ending_first_and_the_supervisor_hanging_up(desk: Desk) -> None:
    on_ada = await desk.joined()
    on_ed = await desk.joined(call_id=ED_CALL, leg=ED_LEG, channel=ED_CHANNEL, endpoint="PJSIP/supervisor2")
    desk.later(1)
    desk.hung_up(ADA_LEG)  # ada hangs up: her call is over (ChanSpy's E then hangs the supervisor up)
    assert desk.calls.agent_call(ADA_CALL) is None
    assert desk.supervision.session(SALES, on_ada.id).live  # until the supervisor's channel hangs up
    desk.hung_up(on_ada.spyer_uniqueid)
    desk.hung_up(on_ed.spyer_uniqueid)  # the supervisor put the phone down on ed's live call
    ends = {e.detail["session"]: e.detail["end_reason"] for e in await desk.written() if e.action == "supervision.end"}
    assert ends == {on_ada.id: "agent_call_ended", on_ed.id: "supervisor_hung_up"}
    assert desk.calls.agent_call(ED_CALL) is not None


async def test_a_wrong_spyee_is_hung_up_and_never_joined(desk: Desk) -> None:
    session = await desk.supervision.start(SALES, ADA_CALL, Mode.LISTEN, None)
    spyer = session.spyer_uniqueid
    desk.supervision.channel_answered(ChannelAnswered(spyer, spyer, desk.clock.now()))
    await desk.supervision.spy_started(SpyStarted(spyer, ED_LEG, ED_CHANNEL, desk.clock.now()))  # ed's, not ada's
    assert desk.phones.hung_up == [spyer]
    assert desk.supervision.session(SALES, session.id).state is State.RINGING
    desk.hung_up(spyer)
    entries = await desk.written()
    assert [e.action for e in entries] == ["supervision.start", "supervision.end"]  # never "joined"
    assert entries[-1].detail["started_at"] is None and entries[-1].detail["end_reason"] == "target_gone"


async def test_an_unanswered_phone_and_a_target_gone_before_the_answer(desk: Desk) -> None:
    unanswered = await desk.supervision.start(SALES, ADA_CALL, Mode.LISTEN, None)
    desk.later(20)
    desk.supervision.originate_failed(OriginateFailed("cc-supervise-sup_0000000000000000", "3", desk.clock.now()))
    assert desk.supervision.session(SALES, unanswered.id).live  # another Originate's failure: not this one
    desk.supervision.originate_failed(OriginateFailed(f"cc-supervise-{unanswered.id}", "3", desk.clock.now()))
    assert desk.supervision.session(SALES, unanswered.id).end_reason is EndReason.NOT_ANSWERED
    desk.hung_up(unanswered.spyer_uniqueid)  # a late Hangup of the same channel writes nothing more

    gone = await desk.supervision.start(SALES, ED_CALL, Mode.LISTEN, None)
    desk.supervision.channel_answered(ChannelAnswered(gone.spyer_uniqueid, gone.spyer_uniqueid, desk.clock.now()))
    desk.hung_up(ED_LEG)
    desk.hung_up(gone.spyer_uniqueid)  # ChanSpy found no such channel and returned
    ends = [(e.detail["session"], e.detail["end_reason"], e.detail.get("originate")) for e in await desk.written()
            if e.action == "supervision.end"]
    assert ends == [(unanswered.id, "not_answered", "3"), (gone.id, "target_gone", None)]
    # a late OriginateResponse of an ended session finds nothing (and nothing is kept for it)
    desk.supervision.originate_failed(OriginateFailed(f"cc-supervise-{gone.id}", "1", desk.clock.now()))
    assert len([e for e in await desk.written() if e.action == "supervision.end"]) == 2
    assert desk.supervision._by_action == {} and desk.supervision._by_spyer == {}


async def test_asterisk_refusing_the_originate_is_a_502_and_the_session_ends(desk: Desk) -> None:
    failing = Desk(RecordedPhones(fail_ring=ConnectionError("AMI is not connected")))
    failing.talking()
    with pytest.raises(SupervisionRefused) as refused:
        await failing.supervision.start(SALES, ADA_CALL, Mode.LISTEN, None)
    assert (refused.value.status, refused.value.code) == (502, "pbx_failed")
    [session] = failing.supervision.sessions(SALES, live_only=False)
    assert session.end_reason is EndReason.NOT_ANSWERED
    entries = await failing.written()
    assert [(e.action, e.detail["end_reason"]) for e in entries] == [("supervision.start", None),
                                                                     ("supervision.end", "not_answered")]
    assert entries[-1].detail["error"] == "AMI is not connected"
    failing.phones.fail_ring = None  # the phone is not left busy by the failed session
    again = await failing.supervision.start(SALES, ADA_CALL, Mode.LISTEN, None)
    assert again.state is State.RINGING and failing.phones.rung[0][0] == again.id


async def test_a_mode_change_asterisk_refuses_is_a_502_and_nothing_stays_pending() -> None:
    desk = Desk(RecordedPhones(fail_set_mode=ConnectionError("Channel not found")))
    desk.talking()
    session = await desk.joined()
    with pytest.raises(SupervisionRefused) as refused:
        await desk.supervision.change_mode(SALES, session.id, Mode.BARGE)
    assert (refused.value.status, refused.value.code) == (502, "pbx_failed")
    assert desk.supervision.session(SALES, session.id).pending_mode is None
    desk.supervision.key_received(KeyReceived(session.spyer_uniqueid, "6", desk.clock.now()))
    change = [e for e in await desk.written() if e.action == "supervision.mode_change"]
    assert [e.detail["by"] for e in change] == ["phone"]  # the supervisor's own key, not the failed request


async def test_a_session_still_ringing_after_its_ring_timeout_and_grace_ends_not_answered(desk: Desk) -> None:
    session = await desk.supervision.start(SALES, ADA_CALL, Mode.LISTEN, None)
    joined = await desk.joined(call_id=ED_CALL, leg=ED_LEG, channel=ED_CHANNEL, endpoint="PJSIP/supervisor2")
    deadline = 20.0 + supervision_module.RINGING_GRACE_S
    desk.clock.current = T0 + timedelta(seconds=deadline)
    await desk.supervision._expire_ringing()
    assert desk.supervision.session(SALES, session.id).live  # not past it yet
    desk.later(0.5)
    await desk.supervision._expire_ringing()
    expired = desk.supervision.session(SALES, session.id)
    assert expired.end_reason is EndReason.NOT_ANSWERED and expired.ended_at == desk.clock.now()
    assert desk.supervision.session(SALES, joined.id).state is State.ACTIVE  # an active one never expires
    assert desk.phones.hung_up == [session.spyer_uniqueid]  # were it still ringing, or spying unseen: hung up
    ends = [e.detail for e in await desk.written() if e.action == "supervision.end"]
    assert [(d["session"], d["end_reason"], d["expired"]) for d in ends] == [(session.id, "not_answered", True)]
    await desk.supervision._expire_ringing()
    assert len([e for e in await desk.written() if e.action == "supervision.end"]) == 1


async def test_a_hang_up_asterisk_refuses_neither_fails_the_delete_nor_the_expiry() -> None:
    desk = Desk(RecordedPhones(fail_hang_up=ConnectionError("No such channel")))
    desk.talking()
    desk.talking(ED_CALL, ED_LEG, ED_CHANNEL, agent="ed")
    joined = await desk.joined()
    asked = await desk.supervision.end(SALES, joined.id)  # the channel went meanwhile: its Hangup ends it
    assert asked.live and asked.end_requested_by == "sup.sales"
    desk.hung_up(joined.spyer_uniqueid)
    assert desk.supervision.session(SALES, joined.id).end_reason is EndReason.ENDED_BY_REQUEST
    ringing = await desk.supervision.start(SALES, ED_CALL, Mode.LISTEN, None)
    desk.later(60)
    await desk.supervision._expire_ringing()
    assert desk.supervision.session(SALES, ringing.id).end_reason is EndReason.NOT_ANSWERED


async def test_run_writes_the_queued_entries_and_expires_ringing_sessions(desk: Desk, monkeypatch) -> None:
    session = await desk.supervision.start(SALES, ADA_CALL, Mode.LISTEN, None)
    desk.clock.current = T0 + timedelta(minutes=5)
    monkeypatch.setattr(supervision_module, "EXPIRY_CHECK_S", 0.01)
    task = asyncio.create_task(desk.supervision.run())
    try:
        for _ in range(200):
            if any(e.action == "supervision.end" for e in desk.audit.written):
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [e.action for e in desk.audit.written] == ["supervision.start", "supervision.end"]
    assert desk.supervision.session(SALES, session.id).end_reason is EndReason.NOT_ANSWERED


async def test_a_resync_ends_the_sessions_whose_channel_asterisk_no_longer_has(desk: Desk) -> None:
    gone = await desk.joined()
    kept = await desk.joined(call_id=ED_CALL, leg=ED_LEG, channel=ED_CHANNEL, endpoint="PJSIP/supervisor2")
    desk.later(60)
    snapshot = ChannelsSnapshot(frozenset({ADA_CALL, ADA_LEG, ED_CALL, ED_LEG, kept.spyer_uniqueid}),
                                desk.clock.now())
    desk.calls.channels_resynced(snapshot)
    await desk.supervision.channels_resynced(snapshot)
    assert desk.supervision.session(SALES, gone.id).end_reason is EndReason.ENDED_WHILE_DOWN
    assert desk.supervision.session(SALES, kept.id).state is State.ACTIVE
    ends = [e.detail for e in await desk.written() if e.action == "supervision.end"]
    assert [(d["session"], d["end_reason"], d["duration_s"]) for d in ends] == [
        (gone.id, "ended_while_service_down", 62.0)]  # joined at +2 s, the resync at +64 s


async def test_a_restart_adopts_the_open_sessions_asterisk_still_has_and_closes_the_others() -> None:
    earlier = Desk()
    earlier.talking()
    earlier.talking(ED_CALL, ED_LEG, ED_CHANNEL, agent="ed")
    earlier.talking(BO_CALL, BO_LEG, BO_CHANNEL, agent="bo")
    earlier.talking(CY_CALL, CY_LEG, CY_CHANNEL, agent="cy", queue="support")
    live = await earlier.joined()
    earlier.later(1)
    await earlier.supervision.change_mode(SALES, live.id, Mode.WHISPER)
    earlier.supervision.key_received(KeyReceived(live.spyer_uniqueid, "5", earlier.clock.now()))
    lost = await earlier.joined(call_id=ED_CALL, leg=ED_LEG, channel=ED_CHANNEL, endpoint="PJSIP/supervisor2")
    done = await earlier.joined(ADMIN, call_id=BO_CALL, leg=BO_LEG, channel=BO_CHANNEL)
    earlier.hung_up(done.spyer_uniqueid)  # this one ended before the restart
    other = await earlier.joined(SUPPORT, call_id=CY_CALL, leg=CY_LEG, channel=CY_CHANNEL)
    with pytest.raises(SupervisionRefused):
        await earlier.supervision.start(SUPPORT, ADA_CALL, Mode.LISTEN, None)
    await earlier.written()  # everything the first run wrote is in the trail; then it stops (no end for three)

    restarted = Desk(audit=earlier.audit)  # a new run: nothing in memory, the agent-call tracker empty
    restarted.clock.current = earlier.clock.now() + timedelta(minutes=2)
    first = ChannelsSnapshot(frozenset({ADA_CALL, ADA_LEG, live.spyer_uniqueid, CY_CALL, CY_LEG,
                                        other.spyer_uniqueid}), restarted.clock.now())
    await restarted.supervision.channels_resynced(first)
    adopted = restarted.supervision.session(SALES, live.id)
    assert adopted.state is State.ACTIVE and adopted.mode is Mode.WHISPER  # its last mode change
    assert (adopted.call_id, adopted.agent_id, adopted.queue_id, adopted.endpoint, adopted.target_uniqueid,
            adopted.target_channel) == (ADA_CALL, "ada", "sales", "PJSIP/supervisor1", ADA_LEG, ADA_CHANNEL)
    assert adopted.started_at == T0 + timedelta(seconds=2)  # when it joined, from the trail
    assert [(c.old, c.new, c.by) for c in adopted.changes] == [(Mode.LISTEN, Mode.WHISPER, "api:sup.sales")]
    assert restarted.supervision.session(SALES, lost.id).end_reason is EndReason.ENDED_WHILE_DOWN
    with pytest.raises(SupervisionRefused):
        restarted.supervision.session(ADMIN, done.id)  # ended in the first run: neither adopted nor closed again
    assert {s.id for s in restarted.supervision.sessions(ADMIN)} == {live.id, other.id}
    assert restarted.supervision.supervisors_of(ADA_CALL) == ("sup.sales",)
    restarted.talking(ED_CALL, ED_LEG, ED_CHANNEL, agent="ed")  # a call this run saw answered
    with pytest.raises(SupervisionRefused) as refused:  # the adopted session holds its phone
        await restarted.supervision.start(SALES, ED_CALL, Mode.LISTEN, "PJSIP/supervisor1")
    assert refused.value.code == "phone_busy"

    await restarted.supervision.channels_resynced(first)  # a later resync reads the trail no more
    restarted.supervision.key_received(KeyReceived(live.spyer_uniqueid, "6", restarted.clock.now()))
    restarted.later(30)
    restarted.hung_up(live.spyer_uniqueid)  # the supervisor hangs up (ada's call goes on)
    restarted.hung_up(CY_LEG)  # cy's call ends first: the session with it
    restarted.hung_up(other.spyer_uniqueid)
    ends = [e for e in await restarted.written() if e.action == "supervision.end"]
    assert [(e.detail["session"], e.detail["end_reason"], e.detail.get("recovered")) for e in ends] == [
        (done.id, "supervisor_hung_up", None),  # the first run's own
        (lost.id, "ended_while_service_down", True), (live.id, "supervisor_hung_up", None),
        (other.id, "agent_call_ended", None)]
    assert [(c["from"], c["to"], c["by"]) for c in ends[2].detail["mode_changes"]] == [
        ("listen", "whisper", "api:sup.sales"), ("whisper", "barge", "phone")]
    assert ends[2].detail["duration_s"] == (restarted.clock.now() - adopted.started_at).total_seconds()
    assert ends[3].actor == "sup.support" and ends[3].detail["agent"] == "cy"


async def test_agent_call_tracker_follows_dial_answer_agent_answered_and_hangups() -> None:
    calls = AgentCallTracker()
    ended: list[str] = []
    calls.on_call_ended(ended.append)
    calls.dial_ended(DialEnded(ADA_CALL, ADA_CHANNEL, "NOANSWER", T0, ADA_LEG))
    calls.agent_answered(AgentAnswered(ADA_CALL, "ada", "sales", T0))
    assert calls.agent_call(ADA_CALL) is None  # no answered Dial: no channel to spy on
    calls.dial_ended(DialEnded(ADA_CALL, ADA_CHANNEL, "ANSWER", T0, ""))
    assert calls.agent_call(ADA_CALL) is None  # no DestUniqueid
    calls.dial_ended(DialEnded(ADA_CALL, ADA_CHANNEL, "ANSWER", T0, ADA_LEG))
    assert calls.agent_call(ADA_CALL) == AgentCall(ADA_CALL, "ada", "sales", ADA_CHANNEL, ADA_LEG)
    calls.dial_ended(DialEnded(ED_CALL, ED_CHANNEL, "ANSWER", T0, ED_LEG))
    assert calls.agent_call(ED_CALL) is None  # a Dial the ACD did not answer for an agent
    calls.agent_answered(AgentAnswered(ED_CALL, "ed", "", T0))
    assert calls.agent_call(ED_CALL) == AgentCall(ED_CALL, "ed", None, ED_CHANNEL, ED_LEG)
    assert [c.call_id for c in calls.calls_of_agent("ada")] == [ADA_CALL]
    calls.channel_hung_up(ChannelHungUp("1764650000.77", "1764650000.77", 16, "", T0))
    assert ended == []
    calls.channel_hung_up(ChannelHungUp(ADA_CALL, ADA_CALL, 16, "", T0))  # the caller hung up
    assert calls.agent_call(ADA_CALL) is None and ended == [ADA_CALL]
    calls.channel_hung_up(ChannelHungUp(ADA_LEG, ADA_CALL, 16, "", T0))  # then the agent's leg: nothing new
    assert ended == [ADA_CALL]
    calls.channels_resynced(ChannelsSnapshot(frozenset({ED_CALL}), T0))  # ed's leg went while AMI was down
    assert calls.agent_call(ED_CALL) is None and ended == [ADA_CALL, ED_CALL]
