"""Blind transfers with a real AcdDesk over fake channels: the stint, the agent, the token, the transfer leg.

Fast checks of the logic; tests/integration/test_transfers.py proves it over real calls (API and REFER).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest

from callcontrol.core.acd.model import Queue
from callcontrol.core.domain_events import AgentStateChanged, QueueStintEnded
from callcontrol.core.interactions import STINT_TRANSFERRED, QueueStint
from callcontrol.core.ivr import QueueLeft
from callcontrol.core.transfers import TRANSFER_TOKEN, ToAgent, ToNumber, ToQueue, TransferRefused
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.event_bus import EventBus
from callcontrol.services.transfers import PHONE_TRANSFER_SCRIPT, TRANSFER_SCRIPT, TransferFailed
from tests.support.clock import LoopClock
from tests.support.pbx import FakePbx
from tests.support.queue_desk import AGENTS, SALES, caller, request
from tests.support.transfers import transfer_desk

SUPPORT = Queue("support", "Support", ring_timeout_s=5, wrap_up_s=0)


@dataclass(frozen=True)
class Request:
    """An AGI request of [cc-transfer] / [cc-phone-transfer]: script, linkedid, token or keys."""

    script: str
    uniqueid: str
    args: tuple[str, str]
    channel: str = "PJSIP/trunk-c1"
    caller_number: str = "+15550001"
    caller_name: str = ""
    dialed_number: str = "5002"

    def arg(self, index: int) -> str:
        return self.args[index - 1] if 0 < index <= len(self.args) else ""


@pytest.fixture
async def desk():
    pbx = FakePbx()
    events = EventBus()
    desk = AcdDesk([SALES, SUPPORT], AGENTS, pbx, LoopClock(), events=events)
    desk.pbx = pbx
    desk.stints = []  # type: ignore[attr-defined]
    desk.moves = []  # type: ignore[attr-defined]
    events.subscribe("t-stints", lambda event: desk.stints.append(event.stint), QueueStintEnded, inline=True)
    events.subscribe("t-moves", lambda event: desk.moves.append(event.transition), AgentStateChanged, inline=True)
    runner = asyncio.create_task(desk.run())
    yield desk
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


async def talking(desk: AcdDesk, name: str = "c1"):
    """A caller in sales talking with a1 (its Dial() goes on until the channel's hang_up is set)."""
    desk.login("a1")
    channel, ref = caller(desk, name, {"PJSIP/a1": ["TALKING"]})
    waiting = asyncio.create_task(desk.wait_in_queue(channel, request(), ref))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if desk.waits.waiters.get(name) and desk.waits.waiters[name].answered_by:
            return channel, ref, waiting
    raise AssertionError("a1 never answered")


async def test_a_transferred_conversation_ends_its_stint_transferred_and_the_agent_as_after_any_call(desk):
    """The session's Dial() comes back moved: the walk ends there, the stint is 'transferred' with a1's leg,
    a1 goes to available (the queue has no wrap-up) and is offered nothing more for this call."""
    channel, _, waiting = await talking(desk)
    channel.transferred = True
    channel.hang_up.set()
    assert await waiting == QueueLeft("answered", caller_hung_up=True)
    (stint,) = desk.stints
    assert stint.outcome == STINT_TRANSFERRED and stint.agent == "a1" and stint.agent_leg.ended_at is not None
    assert [(t.to_state.value, t.cause.value) for t in desk.moves if t.agent_id == "a1"][-1] == \
        ("available", "call_ended")
    assert desk.distributor.agent_status("a1").call_id is None


async def test_an_api_transfer_moves_the_agent_s_leg_with_a_fresh_token_and_nothing_typed(desk):
    transfers = transfer_desk(desk)
    channel, _, waiting = await talking(desk)
    assert transfers.talking("c1") == ("sales", "a1", "PJSIP/a1-00000001")
    started = await transfers.transfer("c1", ToQueue("support"), "api:sue")
    ((moved, token),) = transfers._actions.done
    assert moved == "PJSIP/a1-00000001" and TRANSFER_TOKEN.match(token) and started.from_agent == "a1"
    assert transfers._pending[token].destination == ToQueue("support")
    with pytest.raises(TransferRefused, match="already under way"):  # a second request meanwhile moves nothing
        await transfers.transfer("c1", ToQueue("sales"), "api:bob")
    assert len(transfers._actions.done) == 1
    channel.transferred = True
    channel.hang_up.set()
    await waiting
    assert transfers.talking("c1") is None


@pytest.mark.parametrize("destination, rule", [
    (ToQueue("billing"), "unknown_queue"), (ToNumber("0155500002"), "number_not_allowed"),
    (ToAgent("a2"), "agent_not_offered"), (ToAgent("zed"), "unknown_agent"),
])
async def test_a_destination_off_the_lists_moves_nothing(desk, destination, rule):
    transfers = transfer_desk(desk)
    channel, _, waiting = await talking(desk)
    with pytest.raises(TransferRefused) as refused:
        await transfers.transfer("c1", destination, "api:sue")
    assert refused.value.rule == rule and transfers._actions.done == [] and transfers._pending == {}
    channel.hang_up.set()
    assert (await waiting).result == "answered" and desk.stints[0].outcome == "answered"


async def test_a_call_not_talking_is_refused_and_an_asterisk_refusal_leaves_no_token(desk):
    transfers = transfer_desk(desk)
    with pytest.raises(TransferRefused, match="not in a conversation"):
        await transfers.transfer("c1", ToQueue("support"), "api:sue")
    channel, _, waiting = await talking(desk)
    transfers._actions.refuse = True
    with pytest.raises(TransferFailed):
        await transfers.transfer("c1", ToQueue("support"), "api:sue")
    transfers._actions.refuse = False
    transfers._actions.gone.add("PJSIP/a1-00000001")
    with pytest.raises(TransferRefused, match="gone"):
        await transfers.transfer("c1", ToQueue("support"), "api:sue")
    assert transfers._pending == {}
    channel.hang_up.set()
    await waiting


async def test_the_transfer_leg_queues_the_caller_at_its_original_arrival_ahead_of_later_callers(desk):
    """c1 came at T; c2 has waited in support since T+30 s. c1's transfer leg arrives later still, yet a2 (free
    again) takes c1 first: its place is its original arrival. The leg's path step names where it went."""
    first = desk.clock.now() - timedelta(seconds=60)
    stints = {"c1": [QueueStint("sales", first, STINT_TRANSFERRED)]}
    transfers = transfer_desk(desk, stints=stints)
    desk.login("a2")
    desk.pause("a2", "meeting")
    later, later_ref = caller(desk, "c2", {"PJSIP/a2": ["ANSWER"]})
    later_wait = asyncio.create_task(desk.wait_in_queue(later, request_for("support"), later_ref))
    await asyncio.sleep(0.02)
    transfers._pending["1000000000000001"] = _pending("1000000000000001")
    leg_channel, _ = caller(desk, "c1", {"PJSIP/a2": ["ANSWER"]})
    leg = asyncio.create_task(transfers.run_leg(Request(TRANSFER_SCRIPT, "c1", ("c1", "1000000000000001")),
                                                leg_channel, "c1"))
    await asyncio.sleep(0.02)
    desk.resume("a2")
    assert await leg == "answered"
    assert [t.call_id for t in desk.moves if t.agent_id == "a2" and t.to_state.value == "reserved"][0] == "c1"
    assert leg_channel.commands[-2:] == [("set", "CALLCONTROL_DONE", "1"), ("hangup",)]
    (leg_stint,) = [stint for stint in desk.stints if stint.queue == "support" and stint.agent_leg
                    and stint.arrived_at is not None]
    assert leg_stint.arrived_at == first and leg_stint.entered_at > first and leg_stint.outcome == "answered"
    assert [(call, step["result"], step["by"]) for call, step in transfers.steps] == [("c1", "queue:support", "api:sue")]
    await later_wait


async def test_an_unknown_token_or_a_stranger_s_does_nothing(desk):
    transfers = transfer_desk(desk)
    transfers._pending["1000000000000001"] = _pending("1000000000000001")
    channel, _ = caller(desk, "c9", {})
    assert await transfers.run_leg(Request(TRANSFER_SCRIPT, "c9", ("c9", "1000000000000002")), channel, "c9") \
        == "unknown_token"
    assert await transfers.run_leg(Request(TRANSFER_SCRIPT, "c9", ("c9", "1000000000000001")), channel, "c9") \
        == "unknown_token"  # c1's token, presented by another call
    assert channel.commands == [] and transfers.steps == [] and "1000000000000001" not in transfers._pending


async def test_a_phone_s_keys_reach_only_allowed_destinations_else_the_caller_goes_back_to_its_queue(desk):
    stints = {"c1": [QueueStint("sales", desk.clock.now(), STINT_TRANSFERRED)]}
    transfers = transfer_desk(desk, stints=stints)
    channel, _ = caller(desk, "c1", {})
    assert await transfers.run_leg(Request(PHONE_TRANSFER_SCRIPT, "c1", ("c1", "0155500001")), channel, "c1") \
        == "number:answer"
    assert ("transfer", "number", "0155500001") in channel.commands
    desk.login("a1")
    again, _ = caller(desk, "c1", {"PJSIP/a1": ["ANSWER"]})
    assert await transfers.run_leg(Request(PHONE_TRANSFER_SCRIPT, "c1", ("c1", "0900666")), again, "c1") == "answered"
    assert [step["result"] for _, step in transfers.steps] == ["number:0155500001", "queue:sales"]


def request_for(queue: str):
    from dataclasses import replace
    return replace(request(max_wait_s=10), queue=queue)


def _pending(token: str):
    from callcontrol.services.transfers import PendingTransfer
    from tests.support.clock import T0
    return PendingTransfer(token, "c1", "c1", ToQueue("support"), "api:sue", T0)


async def test_a_transferred_caller_can_be_transferred_again_from_its_new_agent(desk):
    """The transfer leg's conversation (a2 in support) is itself transferable: a fresh token moves a2's leg, the
    leg's stint ends 'transferred' and a2 is free."""
    transfers = transfer_desk(desk, stints={"c1": [QueueStint("sales", desk.clock.now(), STINT_TRANSFERRED)]})
    desk.login("a2")
    transfers._pending["1000000000000001"] = _pending("1000000000000001")
    leg_channel, _ = caller(desk, "c1", {"PJSIP/a2": ["TALKING"]})
    leg = asyncio.create_task(transfers.run_leg(Request(TRANSFER_SCRIPT, "c1", ("c1", "1000000000000001")),
                                                leg_channel, "c1"))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if transfers.talking("c1") is not None:
            break
    assert transfers.talking("c1") == ("support", "a2", "PJSIP/a2-00000001")
    await transfers.transfer("c1", ToQueue("sales"), "api:sue")
    leg_channel.transferred = True
    leg_channel.hang_up.set()
    assert await leg == "answered"
    assert desk.stints[-1].queue == "support" and desk.stints[-1].outcome == STINT_TRANSFERRED
    assert desk.distributor.agent_status("a2").call_id is None and len(transfers._pending) == 1
