"""The ACD desk with fake channels: queueing, waking, ringing, ring-no-answer, exit keys, timeouts, state logging.

Fast checks of the desk's own logic; tests/integration/test_acd_calls.py proves it over real calls.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from callcontrol.core.acd.agent_states import AgentState
from callcontrol.core.acd.model import Queue
from callcontrol.core.domain_events import (
    AgentStateChanged,
    CallbackBooked,
    CallbackDone,
    QueueStintEnded,
    QueueStintProgressed,
)
from callcontrol.core.events import ChannelCreated, ChannelHungUp, DialEnded
from callcontrol.core.identifiers import WAKE_DIGIT
from callcontrol.core.interactions import QueueStint
from callcontrol.core.ivr import Enqueue, QueueAnnouncements, QueueLeft
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.ports import CallerHungUp, CallerRef
from tests.support.clock import LoopClock
from tests.support.pbx import FakePbx
from tests.support.queue_desk import AGENTS, SALES, CallbackLeg, caller, request
from callcontrol.services.event_bus import EventBus
from callcontrol.services.queue_announcements import WaitingExperience, announce


@pytest.fixture
async def desk():
    pbx = FakePbx()
    logged: list = []
    events = EventBus()
    events.subscribe("test", lambda event: logged.append(event.transition), AgentStateChanged, inline=True)
    desk = AcdDesk([SALES], AGENTS, pbx, LoopClock(), events=events)
    desk.logged = logged
    desk.pbx = pbx
    runner = asyncio.create_task(desk.run())
    yield desk
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


async def test_nobody_logged_in_is_no_agents_at_once(desk):
    channel, ref = caller(desk, "c1", {})
    assert await desk.wait_in_queue(channel, request(), ref) == QueueLeft("no_agents")
    assert channel.dialled == []


async def test_a_free_agent_is_rung_and_the_answered_call_ends_in_wrap_up_then_available(desk):
    desk.login("a1")
    channel, ref = caller(desk, "c1", {"PJSIP/a1": ["ANSWER"]})
    assert await desk.wait_in_queue(channel, request(), ref) == QueueLeft("answered")
    assert channel.dialled == ["PJSIP/a1"] and desk.pbx.woken == ["PJSIP/trunk-c1"]
    states = [(t.agent_id, t.to_state.value) for t in desk.logged]
    assert states == [("a1", "available"), ("a1", "reserved"), ("a1", "on_call"), ("a1", "available")]


async def test_ring_no_answer_returns_the_caller_and_the_next_agent_gets_it(desk):
    desk.login("a1")
    desk.login("a2")
    channel, ref = caller(desk, "c1", {"PJSIP/a1": ["NOANSWER", "ANSWER"], "PJSIP/a2": ["NOANSWER", "ANSWER"]})
    assert await desk.wait_in_queue(channel, request(max_wait_s=10), ref) == QueueLeft("answered")
    # a1 has been idle longest; after its miss the call goes to a2 before a1 is tried again
    assert channel.dialled == ["PJSIP/a1", "PJSIP/a2", "PJSIP/a1"]
    assert [t.cause.value for t in desk.logged if t.agent_id == "a1"][:4] == ["login", "offered", "missed", "offered"]
    assert [t.cause.value for t in desk.logged if t.to_state is AgentState.AVAILABLE][-1] == "call_ended"


async def test_an_exit_key_leaves_the_queue_and_frees_the_place(desk):
    desk.login("a1")
    desk.pause("a1", "lunch")
    channel, ref = caller(desk, "c1", {})
    channel.digits.put_nowait("1")
    assert await desk.wait_in_queue(channel, request(exit_keys=frozenset("1")), ref) == QueueLeft("exited_by_key", "1")
    assert desk.distributor.waiting("sales") == []


async def test_max_wait_takes_the_timeout_exit_when_every_agent_is_paused(desk):
    desk.login("a1")
    desk.pause("a1", "lunch")
    channel, ref = caller(desk, "c1", {})
    started = asyncio.get_running_loop().time()
    assert await desk.wait_in_queue(channel, Enqueue("sales", {}, None, 1, QueueAnnouncements(), frozenset()),
                                    ref) == QueueLeft("timeout")
    assert asyncio.get_running_loop().time() - started >= 0.9
    assert channel.dialled == [] and desk.distributor.waiting("sales") == []


async def test_an_agent_resuming_wakes_the_waiting_caller(desk):
    desk.login("a1")
    desk.pause("a1", "coffee")
    channel, ref = caller(desk, "c1", {"PJSIP/a1": ["ANSWER"]})
    waiting = asyncio.create_task(desk.wait_in_queue(channel, request(max_wait_s=10), ref))
    await asyncio.sleep(0.05)
    assert desk.distributor.waiting("sales") == ["c1"]
    desk.resume("a1")
    assert await waiting == QueueLeft("answered")
    assert desk.pbx.woken == ["PJSIP/trunk-c1"]


async def test_a_caller_hanging_up_while_waiting_leaves_no_trace_in_the_distributor(desk):
    desk.login("a1")
    desk.pause("a1", "coffee")
    channel, ref = caller(desk, "c1", {})
    waiting = asyncio.create_task(desk.wait_in_queue(channel, request(max_wait_s=10), ref))
    await asyncio.sleep(0.05)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert desk.distributor.waiting("sales") == []


async def test_an_agent_whose_device_is_still_in_use_after_the_call_gets_the_next_caller_only_when_it_is_free(desk):
    """Dial() returns before Asterisk destroys the agent's channel: the next offer waits for NOT_INUSE."""
    desk.login("a1")
    first, first_ref = caller(desk, "c1", {"PJSIP/a1": ["ANSWER_STILL_IN_USE"]})
    second, second_ref = caller(desk, "c2", {"PJSIP/a1": ["ANSWER"]})
    answering = asyncio.create_task(desk.wait_in_queue(first, request(), first_ref))
    await asyncio.sleep(0.005)
    waiting = asyncio.create_task(desk.wait_in_queue(second, request(max_wait_s=10), second_ref))
    assert await answering == QueueLeft("answered")
    await asyncio.sleep(0.1)
    assert second.dialled == [] and desk.distributor.agent_status("a1").device_busy
    desk.channel_changed(ChannelHungUp("a.1", "a.1", 16, "Normal Clearing", desk.clock.now(), "PJSIP/a1-00000001"))
    assert await waiting == QueueLeft("answered")
    assert second.dialled == ["PJSIP/a1"]


async def test_when_ami_lags_behind_dial_the_agent_gets_the_next_caller_only_after_its_channel_is_gone(desk):
    """Under load Dial() can return before the service has read the agent channel's Newchannel: the device stays
    busy until AMI shows that dial's DialEnd and the channel's Hangup, so the phone never has two channels."""
    desk.login("a1")
    first, first_ref = caller(desk, "c1", {"PJSIP/a1": ["ANSWER_AMI_LATE"]})
    second, second_ref = caller(desk, "c2", {"PJSIP/a1": ["ANSWER"]})
    answering = asyncio.create_task(desk.wait_in_queue(first, request(), first_ref))
    await asyncio.sleep(0.005)
    waiting = asyncio.create_task(desk.wait_in_queue(second, request(max_wait_s=10), second_ref))
    assert await answering == QueueLeft("answered")
    await asyncio.sleep(0.1)
    assert second.dialled == [] and desk.distributor.agent_status("a1").device_busy
    desk.channel_changed(ChannelCreated("a.1", "PJSIP/a1-00000001", desk.clock.now()))  # AMI catches up
    desk.apply(DialEnded("c1", "PJSIP/a1-00000001", "ANSWER", desk.clock.now()))
    await asyncio.sleep(0.05)
    assert second.dialled == []  # Asterisk still has the first call's channel on the phone
    desk.channel_changed(ChannelHungUp("a.1", "a.1", 16, "Normal Clearing", desk.clock.now(), "PJSIP/a1-00000001"))
    assert await waiting == QueueLeft("answered")
    assert second.dialled == ["PJSIP/a1"]


async def test_a_caller_hanging_up_while_the_agent_rings_frees_the_agent_only_when_its_channel_is_gone(desk):
    """The withdrawn offer's channel is still being torn down: the next caller waits for its Hangup on AMI."""
    desk.login("a1")
    first, first_ref = caller(desk, "c1", {})
    ringing = asyncio.Event()

    async def dial_until_cancelled(endpoint, ring_timeout_s, moh_class="default"):
        first.dialled.append(endpoint)
        desk.channel_changed(ChannelCreated("a.1", "PJSIP/a1-00000001", desk.clock.now()))
        ringing.set()
        await asyncio.sleep(60)
    first.dial_agent = dial_until_cancelled
    hanging_up = asyncio.create_task(desk.wait_in_queue(first, request(), first_ref))
    await ringing.wait()
    second, second_ref = caller(desk, "c2", {"PJSIP/a1": ["ANSWER"]})
    waiting = asyncio.create_task(desk.wait_in_queue(second, request(max_wait_s=10), second_ref))
    await asyncio.sleep(0.02)
    hanging_up.cancel()  # the caller hangs up during the ring
    await asyncio.gather(hanging_up, return_exceptions=True)
    await asyncio.sleep(0.1)
    assert second.dialled == [] and desk.distributor.agent_status("a1").state is AgentState.AVAILABLE
    desk.apply(DialEnded("c1", "PJSIP/a1-00000001", "CANCEL", desk.clock.now()))
    desk.channel_changed(ChannelHungUp("a.1", "a.1", 16, "Normal Clearing", desk.clock.now(), "PJSIP/a1-00000001"))
    assert await waiting == QueueLeft("answered")
    assert second.dialled == ["PJSIP/a1"]


async def test_a_late_wake_for_an_offer_that_expired_rings_nobody(desk):
    """The wake-up arrives after the Distributor took the offer back: the caller goes on waiting, no Dial()."""
    desk.login("a1")
    desk.pause("a1", "lunch")
    channel, ref = caller(desk, "c1", {})
    waiting = asyncio.create_task(desk.wait_in_queue(channel, request(max_wait_s=1), ref))
    await asyncio.sleep(0.05)
    desk.pbx.wake = lambda channel: asyncio.sleep(0)  # the wake-up is lost (AMI down)
    desk.resume("a1")
    await asyncio.sleep(0.01)
    (offer,) = [w.offer for w in desk.waits.waiters.values()]
    desk.distributor.max_misses = 1  # the expiry pauses ada ("missed"): the call is not offered to her again
    desk._carry_out(desk.distributor.advance(offer.expires_at), "timer")  # the offer expires unanswered
    channel.digits.put_nowait(WAKE_DIGIT)  # ... and the lost wake-up arrives late
    assert await waiting == QueueLeft("timeout")
    assert channel.dialled == []


async def test_a_booked_callback_keeps_its_place_and_its_offer_rings_the_agent_not_the_caller(desk):
    """Key 2, a number the pattern allows: the caller's session ends with callback_requested, the call stays
    in the Distributor, and its offer goes to the PBX as a callback ring (the caller's channel is gone)."""
    import re

    from callcontrol.core.ivr import Callback

    rung = []

    async def call_agent_for_callback(endpoint, ring_timeout_s, call_id):
        rung.append((endpoint, call_id))
    desk.pbx.call_agent_for_callback = call_agent_for_callback
    callbacks = Queue("sales", "Sales", required_skills={"english": 3}, ring_timeout_s=5, wrap_up_s=0,
                      callback_allowed=True)
    desk.configure([callbacks], [])
    desk.login("a1")
    desk.pause("a1", "meeting")
    channel, ref = caller(desk, "c1", {})
    entered = []

    async def collect_digits(prompts, max_digits, timeout_ms, inter_digit_timeout_ms, terminator):
        entered.append(prompts)
        return "0123456789"
    channel.collect_digits = collect_digits
    channel.digits.put_nowait("2")
    booking = Enqueue("sales", {}, None, 30, QueueAnnouncements(), frozenset(),
                      Callback("2", re.compile("0[1-9][0-9]{8}")))
    assert await desk.wait_in_queue(channel, booking, ref) == QueueLeft("callback_requested")
    assert entered == [["vm-enter-num-to-call"]]
    assert desk.distributor.waiting("sales") == ["c1"]
    desk.resume("a1")
    await asyncio.sleep(0.05)
    assert rung == [("PJSIP/a1", "c1")] and desk.pbx.woken == []


async def test_the_flow_nodes_sounds_are_what_the_booking_dialog_and_the_announcement_play(desk):
    """The queue node's callback.sounds and announce.sounds (core.acd.caller_prompts) reach the caller's channel."""
    import re

    from callcontrol.core.acd.caller_prompts import AnnouncementSounds, CallbackSounds
    from callcontrol.core.ivr import Callback

    desk.configure([Queue("sales", "Sales", required_skills={"english": 3}, callback_allowed=True)], [])
    desk.login("a1")
    desk.pause("a1", "meeting")
    channel, ref = caller(desk, "c1", {})
    played = []

    async def play(prompts, escape_digits=""):
        played.append(tuple(prompts))
        return "1" if tuple(prompts) == ("custom/is-that-right",) else None
    channel.play = play
    sounds = CallbackSounds(press_1_if_correct=("custom/is-that-right",), booked=("custom/booked",))
    ref = CallerRef(ref.call_id, ref.uniqueid, ref.channel, "0123456789")
    announcements = QueueAnnouncements(position=True, every_s=15,
                                       sounds=AnnouncementSounds(next_in_line=("custom/next",)))
    booking = Enqueue("sales", {}, None, 30, announcements, frozenset(),
                      Callback("2", re.compile("0[1-9][0-9]{8}"), sounds))
    channel.digits.put_nowait("2")
    assert await desk.wait_in_queue(channel, booking, ref) == QueueLeft("callback_requested")
    assert played == [("to-call-this-number",), ("custom/is-that-right",), ("custom/booked",)]
    played.clear()
    waiter = desk.waits.waiters["c1"]
    hold = WaitingExperience.of(booking, desk.distributor.queue("sales"))
    assert await announce(channel, hold, desk.distributor.estimated_wait("sales", desk.clock.now(), "c1"), 0, "") \
        is None and played == [("custom/next",)] and waiter.callback_number == "0123456789"


async def test_the_queue_sets_the_music_and_its_periodic_prompts_play_in_turn(desk):
    """With no announcements on the node, the queue's own: its music class and one periodic prompt per period."""
    played = []
    quiet = Queue("sales", "Sales", required_skills={"english": 3}, moh_class="jazz", announce_every_s=15,
                  periodic_prompts=("first-message", "second-message"))
    desk.configure([quiet], [])
    desk.login("a1")
    desk.pause("a1", "lunch")
    channel, ref = caller(desk, "c1", {})

    async def play(prompts, escape_digits=""):
        played.append(list(prompts))
        return None
    channel.play = play
    start = desk.clock.now()
    clock_offset = [0.0]
    desk.clock.now = lambda: start + timedelta(seconds=clock_offset[0])  # time moves 16 s per wait

    async def wait_for_digit(timeout_ms):
        clock_offset[0] += 16
        return None
    channel.wait_for_digit = wait_for_digit
    assert await desk.wait_in_queue(channel, Enqueue("sales", {}, None, 60, QueueAnnouncements(), frozenset()),
                                    ref) == QueueLeft("timeout")
    assert played[:3] == [["first-message"], ["second-message"], ["first-message"]]
    assert (True, "jazz") in channel.music


async def test_a_hangup_missed_while_ami_was_down_does_not_leave_the_agent_busy(desk):
    """The resync snapshot after a reconnect lists the channels Asterisk has: the agent's stale one is gone."""
    from callcontrol.core.events import ChannelsSnapshot

    desk.login("a1")
    desk.channel_changed(ChannelCreated("p.1", "PJSIP/a1-00000007", desk.clock.now()))  # a personal call
    assert desk.distributor.agent_status("a1").device_busy
    desk.channels_resynced(ChannelsSnapshot(frozenset({"x"}), desk.clock.now(), frozenset({"PJSIP/trunk-0001"})))
    assert not desk.distributor.agent_status("a1").device_busy


async def test_after_a_restart_agents_come_back_as_they_were_never_ringing_or_on_a_call(desk):
    """restore() logs agents in again from their last logged state; a paused one keeps its reason; one that was
    on a call (the call died with the old process) is simply available; logged-out and unknown ones stay out."""
    from callcontrol.core.acd.agent_states import AgentState as S

    desk.restore({"a1": (S.PAUSED, "lunch"), "a2": (S.ON_CALL, None), "ghost": (S.AVAILABLE, None)})
    assert (desk.distributor.agent_status("a1").state, desk.distributor.agent_status("a1").pause_reason) == (
        S.PAUSED, "lunch")
    assert desk.distributor.agent_status("a2").state is S.AVAILABLE
    desk.restore({"a2": (S.LOGGED_OUT, None)})  # nothing to undo: restore only logs in
    assert desk.distributor.agent_status("a2").state is S.AVAILABLE


async def test_booked_callbacks_come_back_after_a_restart_at_their_places_and_are_done_once_taken():
    """restore_callbacks() puts them back by original arrival; a callback for a queue that is gone is dropped."""
    from callcontrol.core.acd.model import BookedCallback

    pbx, changes = FakePbx(), []
    rung = []

    async def call_agent_for_callback(endpoint, ring_timeout_s, call_id):
        rung.append(call_id)
    pbx.call_agent_for_callback = call_agent_for_callback
    events = EventBus()
    events.subscribe("test", lambda event: changes.append(
        ("booked" if isinstance(event, CallbackBooked) else "done", event.call_id)), CallbackBooked, CallbackDone,
        inline=True)
    desk = AcdDesk([SALES], AGENTS, pbx, LoopClock(), events=events)
    runner = asyncio.create_task(desk.run())
    try:
        now = desk.clock.now()
        desk.restore_callbacks([BookedCallback("older", "sales", "0123456789", now - timedelta(minutes=5)),
                                BookedCallback("newer", "sales", "0123456780", now - timedelta(minutes=1)),
                                BookedCallback("lost", "gone", "0123456781", now - timedelta(minutes=9))])
        assert desk.distributor.waiting("sales") == ["older", "newer"]
        assert changes == [("done", "lost")]
        desk.login("a1")
        await asyncio.sleep(0.05)
        assert rung == ["older"]
        leg = await desk.run_callback_leg(CallbackLeg(), "older", "PJSIP/a1")
        assert (leg.outcome, leg.number) == ("connected", "0123456789")
        assert changes == [("done", "lost"), ("done", "older")]
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_queue_status_is_what_flow_conditions_read(desk):
    assert desk.queue_status("sales") is None  # nobody logged in: no estimate
    desk.login("a1")
    status = desk.queue_status("sales")
    assert (status.agents_available, status.callers_waiting, status.estimated_wait_s) == (1, 0, 0)
    assert desk.queue_status("not-an-acd-queue") is None


async def test_the_sandbox_configuration_loads_into_a_desk_whatever_order_its_overflows_come_in():
    """acd/sandbox.yaml's billing overflows to support, defined after it: configure() must take it (the service
    starts with configure(), and the demo uses this file)."""
    from callcontrol.adapters.acd_files import load_acd_file
    from callcontrol.settings import REPO_ROOT

    config, problems = load_acd_file(REPO_ROOT / "acd" / "sandbox.yaml")
    assert config is not None, problems
    desk = AcdDesk((), (), FakePbx(), LoopClock())
    desk.configure(sorted(config.queues, key=lambda queue: queue.id), config.agents)  # billing < sales < support
    assert desk.distributor.queue_ids() == ["billing", "sales", "support"]
    desk.configure(config.queues, config.agents)  # again, as an update: nothing changes
    assert desk.distributor.queue_ids() == ["billing", "sales", "support"]


def desk_with_stints(**kw) -> tuple[AcdDesk, list]:
    pbx = FakePbx()
    stints: list = []
    events = EventBus()
    events.subscribe("test", lambda event: stints.append((event.call_id, event.stint)), QueueStintEnded, inline=True)
    desk = AcdDesk([SALES], AGENTS, pbx, LoopClock(), events=events, **kw)
    desk.pbx = pbx
    return desk, stints


async def test_an_answered_call_the_caller_hangs_up_first_is_answered_with_its_offer():
    """The agent answered (AMI DialEnd) and the caller hung up during the conversation: the stint is answered,
    with the offer, the agent and the talk time, and the walk is told to end there."""
    desk, stints = desk_with_stints()
    runner = asyncio.create_task(desk.run())
    try:
        desk.login("a1")
        channel, ref = caller(desk, "c1", {"PJSIP/a1": ["ANSWER_THEN_CALLER_HANGS_UP"]})
        left = await desk.wait_in_queue(channel, request(), ref)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert left == QueueLeft("answered", caller_hung_up=True)
    ((call_id, stint),) = stints
    assert (call_id, stint.outcome, stint.agent, stint.endpoint) == ("c1", "answered", "a1", "PJSIP/a1")
    assert stint.talk_s is not None and stint.answered_at is not None
    assert [offer.result for offer in stint.offers] == ["answered"]
    assert desk.distributor.agent_status("a1").state is AgentState.AVAILABLE


async def test_the_call_key_not_the_channel_names_the_call_in_the_acd_its_stint_and_the_transitions():
    """The call record's call_id (the linkedid) is the ACD's call id, its stint's key and the transitions' call;
    the channel's own uniqueid only matches AMI's DialEnd to it."""
    desk, stints = desk_with_stints()
    logged: list = []
    desk.events.subscribe("test-transitions", lambda event: logged.append(event.transition), AgentStateChanged,
                          inline=True)
    runner = asyncio.create_task(desk.run())
    try:
        desk.login("a1")
        channel, _ = caller(desk, "c1", {"PJSIP/a1": ["ANSWER_THEN_CALLER_HANGS_UP"]})
        left = await desk.wait_in_queue(channel, request(), CallerRef("L1", "c1", "PJSIP/trunk-c1", "+15550001"))
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert left == QueueLeft("answered", caller_hung_up=True)
    ((call_id, stint),) = stints
    assert (call_id, stint.outcome, stint.agent) == ("L1", "answered", "a1")
    assert {t.call_id for t in logged if t.call_id} == {"L1"}


async def test_a_caller_hanging_up_while_the_agent_rings_abandons_with_the_offer_listed():
    """Dial() ends with CANCEL because the caller left: abandoned, the offer listed, the agent free, no miss."""
    desk, stints = desk_with_stints()
    runner = asyncio.create_task(desk.run())
    try:
        desk.login("a1")
        channel, ref = caller(desk, "c1", {"PJSIP/a1": ["CANCEL"]})
        with pytest.raises(CallerHungUp):
            await desk.wait_in_queue(channel, request(), ref)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    ((_, stint),) = stints
    assert stint.outcome == "abandoned" and [o.result for o in stint.offers] == ["cancel"]
    status = desk.distributor.agent_status("a1")
    assert (status.state, status.misses) == (AgentState.AVAILABLE, 0)


async def test_a_busy_phone_is_not_rung_again_before_its_rest_is_over():
    """486 Busy: one INVITE, then the agent rests busy_retry_s; the caller is rung again only after it."""
    desk, _ = desk_with_stints(busy_retry_s=0.5)
    runner = asyncio.create_task(desk.run())
    try:
        desk.login("a1")
        channel, ref = caller(desk, "c1", {"PJSIP/a1": ["BUSY", "ANSWER"]})
        wait = asyncio.create_task(desk.wait_in_queue(channel, request(max_wait_s=10), ref))
        await asyncio.sleep(0.3)
        assert channel.dialled == ["PJSIP/a1"], "rung again within its rest"
        assert desk.distributor.agent_status("a1").resting_until is not None
        assert await wait == QueueLeft("answered")
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert channel.dialled == ["PJSIP/a1", "PJSIP/a1"]


async def test_the_stint_is_reported_as_it_goes_queued_ringing_answered_then_missed_offers_kept():
    """QueueStintProgressed: at entry, each ring, each ring's result and the answer, so a crash loses little."""
    pbx = FakePbx()
    progress: list[QueueStint] = []
    events = EventBus()
    events.subscribe("test", lambda event: progress.append(event.stint), QueueStintProgressed, inline=True)
    desk = AcdDesk([SALES], AGENTS, pbx, LoopClock(), events=events)
    desk.pbx = pbx
    runner = asyncio.create_task(desk.run())
    try:
        desk.login("a1")
        desk.login("a2")
        channel, ref = caller(desk, "c1", {"PJSIP/a1": ["NOANSWER"], "PJSIP/a2": ["ANSWER"]})
        assert await desk.wait_in_queue(channel, request(max_wait_s=10), ref) == QueueLeft("answered")
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    offers = [[(offer.agent, offer.result) for offer in stint.offers] for stint in progress]
    # a1 was free: offered at once (queued with its offer), rung, missed; a2 rung, answered (DialEnd), done
    assert offers == [[("a1", "ringing")], [("a1", "ringing")], [("a1", "noanswer")],
                      [("a1", "noanswer"), ("a2", "ringing")], [("a1", "noanswer"), ("a2", "answered")],
                      [("a1", "noanswer"), ("a2", "answered")]]
    answered = progress[4]
    assert (answered.agent, answered.endpoint) == ("a2", "PJSIP/a2") and answered.answered_at is not None
    assert progress[3].agent_leg is None and all(stint.queue == "sales" for stint in progress)
    assert all(stint.in_progress and stint.left_at is None for stint in progress)


async def test_an_offered_caller_whose_channel_is_gone_frees_the_agent_for_the_next_caller_at_once(desk):
    """The wake-up finds no channel (the caller hung up, its AGI session has not heard yet): the offer ends and
    the agent, who never rang, is offered the next caller."""
    from callcontrol.services.ports import CallerHungUp

    desk.login("a1")
    desk.pause("a1", "lunch")
    gone, gone_ref = caller(desk, "c1", {})
    waiting_gone = asyncio.create_task(desk.wait_in_queue(gone, request(max_wait_s=10), gone_ref))
    await asyncio.sleep(0.01)
    second, second_ref = caller(desk, "c2", {"PJSIP/a1": ["ANSWER"]})
    waiting = asyncio.create_task(desk.wait_in_queue(second, request(max_wait_s=10), second_ref))
    await asyncio.sleep(0.01)
    wake = desk.pbx.wake

    async def wake_or_gone(channel):
        if channel == "PJSIP/trunk-c1":
            raise CallerHungUp("PlayDTMF on PJSIP/trunk-c1: Channel not found")
        await wake(channel)
    desk.pbx.wake = wake_or_gone
    desk.resume("a1")
    assert await asyncio.wait_for(waiting, 2) == QueueLeft("answered")
    assert second.dialled == ["PJSIP/a1"] and gone.dialled == []
    waiting_gone.cancel()
    await asyncio.gather(waiting_gone, return_exceptions=True)


async def test_the_desk_publishes_the_moments_of_a_call_in_order_to_a_queued_subscriber():
    """Offered, missed, offered again, answered, talking, talk over, the stint: one call key throughout, the
    order kept for a subscriber that hears them from its own queue (as the transition writer does)."""
    from callcontrol.core.domain_events import (
        AgentAnswered,
        AgentMissed,
        AgentOffered,
        ConversationEnded,
        ConversationStarted,
    )

    pbx = FakePbx()
    events = EventBus()
    heard: list = []
    events.subscribe("test", heard.append, AgentOffered, AgentMissed, AgentAnswered, ConversationStarted,
                     ConversationEnded, QueueStintEnded)
    desk = AcdDesk([SALES], AGENTS, pbx, LoopClock(), events=events)
    desk.pbx = pbx
    runners = [asyncio.create_task(desk.run()), asyncio.create_task(events.run())]
    try:
        desk.login("a1")
        channel, _ = caller(desk, "c1", {"PJSIP/a1": ["NOANSWER", "ANSWER"]})
        ref = CallerRef("call-key-1", "c1", "PJSIP/trunk-c1", "+15550001")  # the call key is not the uniqueid
        assert await desk.wait_in_queue(channel, request(max_wait_s=10), ref) == QueueLeft("answered")
        assert await events.drain(1)
    finally:
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
    assert [type(event).__name__ for event in heard] == [
        "AgentOffered", "AgentMissed", "AgentOffered", "AgentAnswered", "ConversationStarted", "ConversationEnded",
        "QueueStintEnded"]
    assert {event.call_id for event in heard} == {"call-key-1"}
    assert heard[-1].stint.outcome == "answered" and heard[-1].stint.agent == "a1"


async def test_the_recorder_is_asked_before_each_dial_with_the_flows_override(desk):
    """Each ring of an agent is preceded by the recorder's before_dial (on the caller's session), with the queue,
    the flow's recording override and the agent being rung; a re-offer asks again (the recorder keeps one)."""
    from callcontrol.core.recording_policy import RecordingOverride

    asked: list[tuple] = []

    class Recorder:
        async def before_dial(self, channel, caller_ref, queue_id, override, agent_id):  # type: ignore[no-untyped-def]
            asked.append((caller_ref.call_id, queue_id, override, agent_id, list(channel.dialled)))

    desk.waits.recorder = Recorder()
    desk.login("a1")
    desk.login("a2")
    channel, ref = caller(desk, "c1", {"PJSIP/a1": ["NOANSWER"], "PJSIP/a2": ["ANSWER"]})
    wanted = request(max_wait_s=10)
    from dataclasses import replace
    wanted = replace(wanted, recording=RecordingOverride(mode="always"))
    assert await desk.wait_in_queue(channel, wanted, ref) == QueueLeft("answered")
    assert asked == [("c1", "sales", RecordingOverride(mode="always"), "a1", []),
                     ("c1", "sales", RecordingOverride(mode="always"), "a2", ["PJSIP/a1"])]
