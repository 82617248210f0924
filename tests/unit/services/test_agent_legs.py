"""The agent leg's hold spans from AMI Hold/Unhold (services/agent_legs.py) and its wrap-up code during and after
the call (services/wrapups.py), over the real call log and event bus with in-memory records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from panoramisk.message import Message

from callcontrol.adapters.ami import translate
from callcontrol.core.calls import CallRecord, EndObservedBy, EndReason
from callcontrol.core.domain_events import CallHoldChanged
from callcontrol.core.events import ChannelHoldChanged
from callcontrol.core.interactions import STINT_IN_PROGRESS, AgentLeg, QueueStint
from callcontrol.core.wrapup import Wrapup, WrapupCode, WrapupPolicy
from callcontrol.services.agent_legs import AgentLegHolds
from callcontrol.services.ami_routing import AmiRouting, ami_routes
from callcontrol.services.call_lifecycle import CallLifecycle
from callcontrol.services.call_log import CallLog
from callcontrol.services.event_bus import EventBus
from callcontrol.services.wrapups import NotAllowedCode, NotStoredYet, TooLate, Wrapups
from tests.support.clock import SettableClock
from tests.support.stores import SubmittedRecords

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CALL = "1764666000.7"
POLICY = WrapupPolicy((WrapupCode("sale", "Sale"), WrapupCode("no_sale", "No sale")), required=True)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def answered_leg() -> AgentLeg:
    return AgentLeg("ada", "PJSIP/agent1001", at(3), wrapup_required=True)


class World:
    def __init__(self) -> None:
        self.clock = SettableClock(at(10))
        self.writer = SubmittedRecords()
        self.calls = CallLog(self.writer, self.clock)  # type: ignore[arg-type]
        self.bus = EventBus()
        self.published: list[CallHoldChanged] = []
        self.holds = AgentLegHolds(self.calls, self.bus)
        self.bus.subscribe("seen", self.published.append, CallHoldChanged, inline=True)
        self.bus.subscribe("legs", self.holds.hold_changed, CallHoldChanged, inline=True)
        self.stored: dict[str, CallRecord] = {}
        self.written: list[tuple[str, int, Wrapup]] = []
        self.wrapups = Wrapups(self.calls, self, lambda queue: POLICY if queue == "sales" else None, self.clock,
                               window_s=600)
        record = CallRecord(CALL, CALL, "PJSIP/trunk-00000001", "555", "", "5002", T0)
        self.calls.call_started(record)
        record.note_stint_progress(QueueStint("sales", T0, STINT_IN_PROGRESS, agent_leg=answered_leg()))
        self.record = record

    # the LegStore port
    async def by_call_id(self, call_id: str) -> CallRecord | None:
        return self.stored.get(call_id)

    async def set_wrapup(self, call_id: str, stint_position: int, wrapup: Wrapup) -> bool:
        if call_id not in self.stored:
            return False
        self.written.append((call_id, stint_position, wrapup))
        return True

    def leg(self) -> AgentLeg:
        leg = self.record.queue_stints[-1].agent_leg
        assert leg is not None
        return leg

    def end_call(self, end: float = 20.0) -> None:
        """The stint ends, the caller's channel is gone: the record is closed and leaves the call log."""
        self.calls.queue_stint(CALL, QueueStint("sales", T0, "answered", left_at=at(end),
                                                agent_leg=answered_leg().ended(at(end))))
        self.record.mark_channel_gone(at(end), EndObservedBy.AMI, 16)
        self.calls.ivr_ended(CALL, EndReason.AGENT_ANSWERED, [])
        assert self.calls.get(CALL) is None
        self.stored[CALL] = self.record.snapshot()


def hold_event(name: str, channel: str, uniqueid: str, seconds: float) -> Message:
    return Message({"Event": name, "Channel": channel, "Uniqueid": uniqueid, "Linkedid": CALL,
                    "Timestamp": f"{at(seconds).timestamp():.6f}", "MusicClass": "default"})


@pytest.fixture
def world() -> World:
    return World()


def test_ami_hold_and_unhold_are_translated_with_asterisk_s_time() -> None:
    message = hold_event("Hold", "PJSIP/agent1001-0000002a", "1764666000.8", 5)
    assert translate(message, at(99)) == ChannelHoldChanged("1764666000.8", CALL, "PJSIP/agent1001-0000002a", True,
                                                            at(5))
    assert translate(hold_event("Unhold", "PJSIP/agent1001-0000002a", "1764666000.8", 8), at(99)).on_hold is False


async def test_the_agent_phone_s_hold_and_unhold_become_one_hold_span_of_its_leg(world: World) -> None:
    lifecycle = CallLifecycle.__new__(CallLifecycle)
    lifecycle.calls = world.calls
    acd = SimpleNamespace(apply=None, channel_changed=None, channels_resynced=None)  # never reached here
    routing = AmiRouting(ami_routes(lifecycle, acd, holds=world.holds))  # type: ignore[arg-type]
    for name, seconds in (("Hold", 5), ("Hold", 5.5), ("Unhold", 8)):
        await routing.route(translate(hold_event(name, "PJSIP/agent1001-0000002a", "1764666000.8", seconds), at(99)))
    assert world.leg().hold_spans == ((at(5), at(8)),)
    assert [(e.on_hold, e.party) for e in world.published] == [(True, "agent"), (True, "agent"), (False, "agent")]
    world.calls.flush()
    assert world.writer.submitted[-1].queue_stints[-1].agent_leg.hold_spans == ((at(5), at(8)),)


def test_the_caller_s_own_hold_is_published_but_is_no_span_and_other_channels_are_not_followed(world: World) -> None:
    world.holds.channel_hold_changed(ChannelHoldChanged(CALL, CALL, "PJSIP/trunk-00000001", True, at(5)))
    world.holds.channel_hold_changed(ChannelHoldChanged("9.9", CALL, "PJSIP/agent1002-00000003", True, at(5)))
    world.holds.channel_hold_changed(ChannelHoldChanged("9.8", "1764666000.99", "PJSIP/agent1001-4", True, at(5)))
    assert [(e.party, e.channel) for e in world.published] == [("caller", "PJSIP/trunk-00000001")]
    assert world.leg().hold_spans == ()


def test_a_hold_the_hold_api_publishes_is_a_span_too_and_the_call_s_end_closes_it(world: World) -> None:
    world.bus.publish(CallHoldChanged(CALL, True, at(6)))
    assert world.leg().on_hold
    world.end_call(end=9)
    leg = world.stored[CALL].queue_stints[-1].agent_leg
    assert leg is not None and leg.hold_spans == ((at(6), at(9)),) and leg.ended_at == at(9)


async def test_a_code_set_during_the_call_goes_on_the_record_and_survives_its_end(world: World) -> None:
    ref = await world.wrapups.find(CALL, "ada")
    assert ref is not None and ref.live and ref.queue == "sales" and ref.position == 0
    leg = await world.wrapups.set(ref, "sale", "premium", "ada")
    assert leg.wrapup == Wrapup("sale", at(10), "ada", "premium") and world.leg().wrapup == leg.wrapup
    world.end_call()
    stored = world.stored[CALL].queue_stints[-1].agent_leg
    assert stored is not None and stored.wrapup == leg.wrapup and not stored.wrapup_missing
    assert world.written == []  # the record carried it: no write on the row of its own


async def test_a_code_set_after_the_call_is_written_on_the_stored_leg_within_the_window(world: World) -> None:
    world.end_call()
    ref = await world.wrapups.find(CALL)
    assert ref is not None and not ref.live and ref.leg.wrapup_missing
    world.clock.current = at(20 + 600)
    await world.wrapups.set(ref, "no_sale", None, "sue")
    assert world.written == [(CALL, 0, Wrapup("no_sale", at(620), "sue"))]
    world.clock.current = at(20 + 600.5)
    with pytest.raises(TooLate, match="600 s after its end"):
        await world.wrapups.set(ref, "sale", None, "ada")


async def test_a_code_not_of_the_queue_is_refused_with_the_allowed_ones(world: World) -> None:
    ref = await world.wrapups.find(CALL)
    assert ref is not None
    with pytest.raises(NotAllowedCode) as refused:
        await world.wrapups.set(ref, "won", None, "ada")
    assert refused.value.allowed == ("sale", "no_sale") and world.leg().wrapup is None


async def test_unknown_calls_another_agent_s_legs_and_unstored_rows(world: World) -> None:
    assert await world.wrapups.find("1764666000.404") is None
    assert await world.wrapups.find(CALL, "bob") is None
    world.end_call()
    ref = await world.wrapups.find(CALL)
    del world.stored[CALL]  # as if its row were not written yet
    assert ref is not None
    with pytest.raises(NotStoredYet):
        await world.wrapups.set(ref, "sale", None, "ada")


async def test_the_latest_leg_of_a_call_is_the_one_coded(world: World) -> None:
    world.calls.queue_stint(CALL, QueueStint("sales", T0, "answered", left_at=at(9),
                                             agent_leg=answered_leg().ended(at(9))))
    world.calls.stint_progress(CALL, QueueStint("sales", at(9), STINT_IN_PROGRESS,
                                                agent_leg=AgentLeg("bob", "PJSIP/agent1002", at(12))))
    assert (await world.wrapups.find(CALL)).leg.agent == "bob"  # type: ignore[union-attr]
    ada = await world.wrapups.find(CALL, "ada")
    assert ada is not None and ada.position == 0 and ada.leg.ended_at == at(9)
    await world.wrapups.set(ada, "sale", None, "ada")
    assert world.record.queue_stints[0].agent_leg.wrapup is not None  # type: ignore[union-attr]
    assert world.record.queue_stints[1].agent_leg.wrapup is None  # type: ignore[union-attr]
