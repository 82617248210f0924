"""The supervision session's state machine (core/supervision.py): joined, mode keys, every way it ends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcontrol.core.supervision import (
    MODE_KEYS,
    SESSION_ID,
    SPYER_UNIQUEID,
    EndReason,
    Mode,
    ModeChange,
    Session,
    State,
    spyer_uniqueid,
)
from tests.support.clock import T0

T1, T2, T3 = (T0 + timedelta(seconds=s) for s in (2, 10, 25))


def ringing(mode: Mode = Mode.LISTEN) -> Session:
    return Session("sup_0123456789abcdef", "sup.sales", "PJSIP/supervisor1", "1764650000.1", "ada", "sales",
                   "1764650000.2", "PJSIP/agent1001-0000002a", "1764650003.19088743", mode, T0)


def active(mode: Mode = Mode.LISTEN) -> Session:
    return ringing(mode).answered().spy_started(T1)


def test_a_session_rings_then_joins_once() -> None:
    session = ringing()
    assert session.state is State.RINGING and session.live and session.started_at is None
    assert session.duration_s is None and not session.phone_answered
    joined = session.answered().spy_started(T1)
    assert joined.state is State.ACTIVE and joined.started_at == T1 and joined.phone_answered
    assert joined.spy_started(T2) == joined  # a second ChanSpyStart changes nothing
    ended = joined.hung_up(T2, target_gone=False)
    assert ended.spy_started(T3) == ended and ended.answered() == ended


def test_mode_keys_are_4_5_6_and_other_keys_do_nothing() -> None:
    assert MODE_KEYS == {Mode.LISTEN: "4", Mode.WHISPER: "5", Mode.BARGE: "6"}
    session = active()
    for key in ("1", "#", "*", "0", "7", "", "45"):
        assert session.key_pressed(key, T2) == (session, None)


def test_a_key_the_api_asked_for_is_by_the_api_and_a_key_pressed_is_by_phone() -> None:
    session = active().mode_requested(Mode.WHISPER, "sup.sales")
    assert session.pending_mode is Mode.WHISPER and session.mode is Mode.LISTEN  # not changed until seen
    session, change = session.key_pressed("5", T2)
    assert change == ModeChange(T2, Mode.LISTEN, Mode.WHISPER, "api:sup.sales")
    assert session.mode is Mode.WHISPER and session.pending_mode is None
    session, change = session.key_pressed("6", T3)  # the supervisor's own key
    assert change == ModeChange(T3, Mode.WHISPER, Mode.BARGE, "phone")
    assert session.changes == (ModeChange(T2, Mode.LISTEN, Mode.WHISPER, "api:sup.sales"), change)
    assert change.as_json() == {"at": T3.isoformat(), "from": "whisper", "to": "barge", "by": "phone"}


def test_a_phone_key_while_the_api_waits_for_another_keeps_the_api_pending() -> None:
    session = active().mode_requested(Mode.BARGE, "sup.sales")
    session, change = session.key_pressed("5", T2)  # the supervisor pressed whisper before the API's 6 arrived
    assert change is not None and change.by == "phone" and session.pending_mode is Mode.BARGE
    session, change = session.key_pressed("6", T3)
    assert change is not None and change.by == "api:sup.sales" and session.pending_mode is None


def test_the_key_of_the_current_mode_changes_nothing_but_clears_the_api_pending() -> None:
    session = active(Mode.WHISPER)
    assert session.key_pressed("5", T2) == (session, None)
    asked = session.mode_requested(Mode.WHISPER, "sup.sales")
    moved, change = asked.key_pressed("5", T2)
    assert change is None and moved.pending_mode is None and moved.changes == ()


def test_keys_after_the_end_are_ignored() -> None:
    ended = active().hung_up(T2, target_gone=False)
    assert ended.key_pressed("6", T3) == (ended, None)


@pytest.mark.parametrize(("session", "target_gone", "reason"), [
    (ringing(), False, EndReason.NOT_ANSWERED),  # never answered (the Originate's channel went away)
    (ringing(), True, EndReason.NOT_ANSWERED),
    (ringing().answered(), False, EndReason.TARGET_GONE),  # answered, but ChanSpy found no such channel
    (ringing().answered(), True, EndReason.TARGET_GONE),
    (active(), False, EndReason.SUPERVISOR_HUNG_UP),
    (active(), True, EndReason.AGENT_CALL_ENDED),  # ChanSpy's E: the agent's call ended first
    (active().end_requested("sup.sales"), False, EndReason.ENDED_BY_REQUEST),
    (active().end_requested("sup.sales"), True, EndReason.ENDED_BY_REQUEST),  # the request came first
    (ringing().end_requested("sup.sales"), False, EndReason.ENDED_BY_REQUEST),  # DELETE while it rang
    (ringing().answered().end_requested("sup.sales"), False, EndReason.ENDED_BY_REQUEST),
], ids=["ringing", "ringing-target-gone", "answered-target-gone", "answered-target-gone-too", "active",
        "active-agent-ended", "requested", "requested-agent-ended", "requested-ringing", "requested-answered"])
def test_hung_up_reasons(session: Session, target_gone: bool, reason: EndReason) -> None:
    ended = session.hung_up(T3, target_gone)
    assert ended.state is State.ENDED and not ended.live and ended.ended_at == T3 and ended.end_reason is reason
    assert ended.hung_up(T3 + timedelta(seconds=5), not target_gone) == ended  # the first end stands


def test_duration_runs_from_joined_to_end() -> None:
    ended = active().hung_up(T3, target_gone=False)
    assert ended.duration_s == 23.0
    assert ringing().hung_up(T3, target_gone=False).duration_s is None  # never joined


def test_originate_failed_ends_only_a_ringing_session() -> None:
    failed = ringing().originate_failed(T2)
    assert failed.state is State.ENDED and failed.end_reason is EndReason.NOT_ANSWERED and failed.ended_at == T2
    assert active().originate_failed(T2) == active()  # joined already: a late failure means nothing
    assert failed.originate_failed(T3) == failed
    asked = ringing().end_requested("sup.sales").originate_failed(T2)  # DELETE while it rang, then the failure
    assert asked.end_reason is EndReason.ENDED_BY_REQUEST


def test_ended_while_down_ends_a_live_session_and_never_rewrites_an_ended_one() -> None:
    down = active().ended_while_down(T3)
    assert down.state is State.ENDED and down.end_reason is EndReason.ENDED_WHILE_DOWN and down.duration_s == 23.0
    ended = active().hung_up(T2, target_gone=True)
    assert ended.ended_while_down(T3) == ended


def test_as_json_carries_the_session_and_its_changes() -> None:
    session, _ = active().key_pressed("6", T2)
    ended = session.end_requested("sup.sales").hung_up(T3, target_gone=False)
    assert ended.as_json() == {
        "id": "sup_0123456789abcdef", "supervisor": "sup.sales", "endpoint": "PJSIP/supervisor1",
        "call_id": "1764650000.1", "agent": "ada", "queue": "sales", "mode": "barge", "state": "ended",
        "requested_at": T0.isoformat(), "started_at": T1.isoformat(), "ended_at": T3.isoformat(),
        "end_reason": "ended_by_request", "duration_s": 23.0,
        "mode_changes": [{"at": T2.isoformat(), "from": "listen", "to": "barge", "by": "phone"}]}


def test_spyer_uniqueid_is_in_asterisks_form_and_differs_per_session() -> None:
    assert spyer_uniqueid("sup_0000000100000000", 1764650000) == "1764650000.1"
    assert spyer_uniqueid("sup_ffffffff00000000", 1764650000) == "1764650000.4294967295"
    ids = {spyer_uniqueid(f"sup_{n:08x}{0:08x}", 1764650000) for n in range(1, 200)}
    assert len(ids) == 199 and all(SPYER_UNIQUEID.match(value) for value in ids)
    assert SESSION_ID.match("sup_0123456789abcdef") and not SESSION_ID.match("sup_0123456789abcdef\n")
    for bad in ("1764650000", "1764650000.1;x", "a.1", "1764650000.1\n", "1.12345678901"):
        assert not SPYER_UNIQUEID.match(bad), bad
