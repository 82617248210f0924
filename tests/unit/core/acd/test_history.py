"""The ACD's history rebuilt at start (callcontrol.core.acd.history and Distributor.restore_history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callcontrol.core.acd.history import HandledCall, day_start, handled_calls
from callcontrol.core.acd.model import Agent, Queue
from callcontrol.core.acd.router import Distributor
from callcontrol.core.acd.routing_state import HANDLE_TIME_WINDOW
from callcontrol.core.calls import CallRecord
from callcontrol.core.interactions import AgentLeg, QueueStint

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def record(call_id: str, *stints: QueueStint, **fields) -> CallRecord:
    made = CallRecord(call_id=call_id, uniqueid=call_id, channel="PJSIP/trunk-1", caller_number="1",
                      caller_name="x", dialed_number="5002", started_at=fields.pop("started_at", T0), **fields)
    made.queue_stints = list(stints)
    return made


def stint(agent: str | None, talk_s: float | None, entered_s: float = 0, waited_s: float = 2, queue: str = "sales",
          outcome: str = "answered") -> QueueStint:
    entered_at = T0 + timedelta(seconds=entered_s)
    answered_at = entered_at + timedelta(seconds=waited_s)
    leg = None if agent is None else AgentLeg(
        agent, None, answered_at, None if talk_s is None else answered_at + timedelta(seconds=talk_s))
    return QueueStint(queue, entered_at, outcome, waited_s=waited_s, agent_leg=leg)


def test_day_start_is_utc_midnight() -> None:
    assert day_start(datetime(2026, 12, 2, 0, 30, tzinfo=UTC)) == datetime(2026, 12, 2, tzinfo=UTC)


def test_each_stint_an_agent_talked_in_is_a_handled_call_oldest_end_first() -> None:
    records = [record("b", stint("bob", 30.0, entered_s=100)),
               record("a", stint(None, None, outcome="abandoned"), stint("ada", 10.0, entered_s=5, waited_s=1)),
               record("c", stint(None, None, outcome="in_progress"))]
    assert handled_calls(records) == [HandledCall("ada", "sales", T0 + timedelta(seconds=16), 10.0),
                                      HandledCall("bob", "sales", T0 + timedelta(seconds=132), 30.0)]


def test_a_callback_leg_counts_for_its_agent_in_the_queue_it_was_booked_in() -> None:
    booking = record("k", stint(None, None, outcome="callback_requested", queue="support"))
    leg = record("leg", started_at=T0 + timedelta(minutes=5), ivr_ended_at=T0 + timedelta(minutes=6),
                 variables={"callback_for": "k", "agent": "ada", "number": "0155500001"},
                 ivr_path=[{"node": "callback", "result": "connected", "at": T0.isoformat()}])
    stale = record("st", variables={"callback_for": "k", "agent": "bob", "number": None},
                   ivr_ended_at=T0 + timedelta(minutes=1),
                   ivr_path=[{"node": "callback", "result": "stale", "at": T0.isoformat()}])
    assert handled_calls([booking, leg, stale]) == [HandledCall("ada", "support", T0 + timedelta(minutes=6), 60.0)]


def test_restored_history_gives_agents_their_counters_and_queues_their_handle_times() -> None:
    sales = Queue("sales", "Sales", wrap_up_s=5, expected_handle_s=240)
    ada = Agent("ada", "Ada", "PJSIP/agent1001", wrap_up_s=3)
    bob = Agent("bob", "Bob", "PJSIP/agent1002")
    distributor = Distributor([sales], [ada, bob])
    assert distributor.estimated_wait("sales", T0).handle_s == 240  # nothing handled yet: the assumption
    distributor.restore_history([HandledCall("ada", "sales", T0, 10.0), HandledCall("bob", "sales", T0, 20.0),
                                 HandledCall("ada", None, T0, 4.0), HandledCall("gone", "sales", T0, 1.0),
                                 HandledCall("bob", "closed-queue", T0, 9.0)])
    assert distributor.agent_stats("ada") == (2, 14.0)
    assert distributor.agent_stats("bob") == (2, 29.0)
    # ada's own wrap-up (3), bob's the queue's (5), an agent no longer defined: the queue's
    assert distributor.estimated_wait("sales", T0).handle_s == (13.0 + 25.0 + 6.0) / 3


def test_only_the_newest_handle_times_are_kept() -> None:
    distributor = Distributor([Queue("sales", "Sales", wrap_up_s=0)], [Agent("ada", "Ada", "PJSIP/agent1001")])
    distributor.restore_history([HandledCall("ada", "sales", T0, 1000.0)] +
                                [HandledCall("ada", "sales", T0, 10.0)] * HANDLE_TIME_WINDOW)
    assert distributor.estimated_wait("sales", T0).handle_s == 10.0
