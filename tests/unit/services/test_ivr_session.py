"""Running a caller through a flow over an AGI channel (callcontrol.services.ivr_session.run_flow)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from callcontrol.core import ivr
from callcontrol.core.calls import EndReason
from callcontrol.core.identifiers import DTMF_KEYS as ALL_DIGITS
from callcontrol.services.ivr_session import run_flow
from tests.support.agi_channel import ScriptedChannel
from tests.support.clock import TickingClock
from tests.support.queue_desk import AnsweringDesk, StatusDesk

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)

MAIN_DOC = {
    "id": "main", "numbers": ["5000"], "start": "greeting",
    "nodes": {
        "greeting": {"type": "play", "prompts": ["hello-world"], "next": "main_menu"},
        "main_menu": {
            "type": "menu", "prompts": ["vm-enter-num-to-call"], "options": {"1": "sales", "2": "support"},
            "timeout_s": 3, "max_attempts": 2, "no_input_prompts": ["vm-sorry"],
            "invalid_prompts": ["pm-invalid-option"], "exhausted": "goodbye",
        },
        "sales": {"type": "play", "prompts": ["queue-thankyou"], "next": "goodbye"},
        "support": {"type": "play", "prompts": ["demo-thanks"], "next": "goodbye"},
        "goodbye": {"type": "hangup", "prompts": ["vm-goodbye"]},
    },
}


def make_flow() -> ivr.Flow:
    flow, problems = ivr.build_flow(copy.deepcopy(MAIN_DOC), source="t.yaml", version="v1")
    assert flow is not None, problems
    return flow


def steps(result_path: Sequence[ivr.PathStep]) -> list[tuple[str, str, str | None]]:
    return [(p.node, p.result, p.digit) for p in result_path]


async def test_digit_path_plays_sales_and_hangs_up() -> None:
    """Pressing 1 after the menu prompt plays sales, then goodbye, and the flow hangs up."""
    channel = ScriptedChannel(waits=["1"])
    result = await run_flow(make_flow(), channel, TickingClock())
    assert result.reason is EndReason.FLOW_HANGUP and result.error is None
    assert steps(result.path) == [("greeting", "played", None), ("main_menu", "digit", "1"),
                                  ("sales", "played", None), ("goodbye", "hangup", None)]
    assert channel.log == [
        ("answer",),
        ("play", ("hello-world",), ""),
        ("play", ("vm-enter-num-to-call",), ALL_DIGITS),
        ("wait", 3000),
        ("play", ("queue-thankyou",), ""),
        ("play", ("vm-goodbye",), ""),
        ("hangup",),
    ]


async def test_barge_in_digit_skips_the_wait() -> None:
    """A digit pressed during the menu prompt is used without waiting for another."""
    channel = ScriptedChannel(barge_in=["2"])
    result = await run_flow(make_flow(), channel, TickingClock())
    assert ("main_menu", "digit", "2") in steps(result.path)
    assert not any(entry[0] == "wait" for entry in channel.log)


async def test_no_input_twice_reprompts_then_says_goodbye() -> None:
    """Two timeouts replay the menu with the apology once, then the flow ends at goodbye."""
    channel = ScriptedChannel()
    result = await run_flow(make_flow(), channel, TickingClock())
    assert result.reason is EndReason.FLOW_HANGUP
    assert ("play", ("vm-sorry", "vm-enter-num-to-call"), ALL_DIGITS) in channel.log
    assert [entry[0] for entry in channel.log].count("wait") == 2
    assert [r for _, r, _ in steps(result.path)] == ["played", "no_input", "no_input", "exhausted", "hangup"]


async def test_caller_hangs_up_mid_prompt() -> None:
    """The caller leaving during the menu prompt ends with caller_hangup at the menu node."""
    channel = ScriptedChannel(hang_up_on="vm-enter-num-to-call")
    states: list[ivr.IvrState] = []
    result = await run_flow(make_flow(), channel, TickingClock(), on_step=states.append)
    assert result.reason is EndReason.CALLER_HANGUP and result.error is None
    assert steps(result.path) == [("greeting", "played", None), ("main_menu", "caller_hangup", None)]
    assert states[-1].finished and states[-1].end == "caller_hangup"
    assert ("hangup",) not in channel.log


async def test_caller_hangs_up_after_a_retry_keeps_the_earlier_steps() -> None:
    """A hangup during the reprompt keeps the no_input step before it."""
    channel = ScriptedChannel(hang_up_on="vm-sorry")
    result = await run_flow(make_flow(), channel, TickingClock())
    assert steps(result.path)[-2:] == [("main_menu", "no_input", None), ("main_menu", "caller_hangup", None)]


async def test_command_failure_ends_as_service_error_with_its_text() -> None:
    """A command Asterisk refuses ends the walk with service_error and the failure text."""
    channel = ScriptedChannel(fail_on="wait")
    result = await run_flow(make_flow(), channel, TickingClock())
    assert result.reason is EndReason.SERVICE_ERROR
    assert result.error == "WAIT returned -1"
    assert steps(result.path)[-1] == ("main_menu", "error", None)


async def test_answer_failure_ends_at_the_start_node() -> None:
    """If answering fails nothing is played and the error is recorded at the start node."""
    channel = ScriptedChannel(fail_on="answer")
    answered: list[bool] = []
    result = await run_flow(make_flow(), channel, TickingClock(), on_answered=lambda: answered.append(True))
    assert result.reason is EndReason.SERVICE_ERROR and result.error == "ANSWER returned -1"
    assert steps(result.path) == [("greeting", "error", None)]
    assert channel.log == [("answer",)] and answered == []


async def test_answer_comes_first_and_on_answered_is_called_once() -> None:
    """The channel is answered before any prompt, and on_answered fires exactly once, after it."""
    channel = ScriptedChannel(waits=[None, "2"])
    events: list[str] = []
    real_answer = channel.answer

    async def answer() -> None:
        events.append("answer")
        await real_answer()

    channel.answer = answer  # type: ignore[method-assign]
    await run_flow(make_flow(), channel, TickingClock(), on_answered=lambda: events.append("on_answered"))
    assert channel.log[0] == ("answer",)
    assert events == ["answer", "on_answered"]


async def test_on_step_sees_each_state_in_order() -> None:
    """on_step is told every state before its effect runs, and the final finished state."""
    states: list[ivr.IvrState] = []
    await run_flow(make_flow(), ScriptedChannel(waits=["1"]), TickingClock(), on_step=states.append)
    assert [s.node_id for s in states] == ["greeting", "main_menu", "sales", "goodbye", "goodbye"]
    assert [s.finished for s in states] == [False, False, False, False, True]


async def test_cancellation_propagates_and_reports_shutdown() -> None:
    """Cancelling a walk re-raises CancelledError after on_step got a 'shutdown' state at the current node."""
    waiting = asyncio.Event()

    class StuckChannel(ScriptedChannel):
        async def wait_for_digit(self, timeout_ms: int) -> str | None:
            waiting.set()
            await asyncio.Event().wait()
            return None

    states: list[ivr.IvrState] = []
    task = asyncio.create_task(run_flow(make_flow(), StuckChannel(), TickingClock(), on_step=states.append))
    await asyncio.wait_for(waiting.wait(), 1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    last = states[-1]
    assert last.finished and last.end == "shutdown"
    assert (last.path[-1].node, last.path[-1].result) == ("main_menu", "shutdown")


@pytest.mark.parametrize(("statuses", "expected"), [
    ({"sales": ivr.QueueStatus(agents_available=1, callers_waiting=0, estimated_wait_s=0)}, "sales"),
    ({"sales": ivr.QueueStatus(agents_available=0, callers_waiting=7, estimated_wait_s=420)}, "support"),
    ({}, "goodbye"),  # nobody can tell: reading the status is an error, the node's error exit
])


async def test_branch_conditions_read_the_desk_s_queue_status_as_it_is_now(statuses, expected) -> None:
    doc = copy.deepcopy(MAIN_DOC)
    doc["allow"] = {"queues": ["sales"]}
    doc["start"] = "route"
    doc["nodes"]["route"] = {"type": "branch", "cases": [
        {"when": "queue.sales.agents_available > 0", "goto": "sales"}], "default": "support", "error": "goodbye"}
    flow, problems = ivr.build_flow(doc, source="t.yaml", version="v1")
    assert flow is not None, problems
    desk = StatusDesk(statuses)
    result = await run_flow(flow, ScriptedChannel(), TickingClock(), queues=desk)
    assert result.path[1].node == expected and "sales" in desk.asked


def queue_flow_without_answered_exit() -> ivr.Flow:
    doc = {"id": "q", "numbers": ["5000"], "start": "sales", "allow": {"queues": ["sales"]},
           "nodes": {"sales": {"type": "queue", "queue": "sales", "max_wait_s": 60, "timeout": "bye",
                               "no_agents": "bye"},
                     "bye": {"type": "hangup", "prompts": ["vm-goodbye"]}}}
    flow, problems = ivr.build_flow(doc, source="q.yaml", version="v1")
    assert flow is not None, problems
    return flow


async def test_a_queue_node_without_an_answered_exit_ends_the_call_and_tells_the_dialplan() -> None:
    """The agent hung up first and the node has no `answered:` exit: CALLCONTROL_DONE=1, then a cause-16 hangup,
    so the dialplan does not send the caller to its fallback."""
    channel = ScriptedChannel()
    result = await run_flow(queue_flow_without_answered_exit(), channel, TickingClock(),
                            queues=AnsweringDesk(caller_hung_up=False), caller=object())
    assert result.reason is EndReason.AGENT_ANSWERED
    assert channel.log[-2:] == [("set", "CALLCONTROL_DONE", "1"), ("hangup",)]


async def test_a_caller_who_hung_up_on_the_agent_gets_no_more_commands_and_the_path_ends_answered() -> None:
    channel = ScriptedChannel()
    result = await run_flow(queue_flow_without_answered_exit(), channel, TickingClock(),
                            queues=AnsweringDesk(caller_hung_up=True), caller=object())
    assert result.reason is EndReason.AGENT_ANSWERED and steps(result.path) == [("sales", "answered", None)]
    assert channel.log[-1] == ("set", "CALLCONTROL_DONE", "1")  # refused: the channel is gone


class LoggedRecorder:
    """The FlowRecorder port: logs what the walk asked of it, and what the channel did meanwhile."""

    def __init__(self, channel: object) -> None:
        self.log: list[str] = []
        self._channel = channel

    async def start_ivr(self, channel, caller) -> None:  # type: ignore[no-untyped-def]
        self.log.append(f"start {caller.call_id}")

    def secure_span(self, call_id: str, reason: str = "secure_input"):  # type: ignore[no-untyped-def]
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def span():  # type: ignore[no-untyped-def]
            self.log.append(f"mute {reason}")
            yield
            self.log.append(f"unmute after {len(self._channel.entries)} entries left")
        return span()

    async def flow_ended(self, call_id: str) -> None:
        self.log.append(f"ended {call_id}")


RECORDED_FLOW = """\
id: pay
numbers: ["7000"]
record_ivr: RECORD
start: card
nodes:
  card: {type: input, prompts: [beep], variable: card, max_digits: 4, secure: SECURE, next: bye, exhausted: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
"""


@pytest.mark.parametrize(("record", "secure", "expected"), [
    ("true", "true", ["start c.1", "mute secure_input", "unmute after 0 entries left", "ended c.1"]),
    ("false", "true", ["mute secure_input", "unmute after 0 entries left", "ended c.1"]),
    ("true", "false", ["start c.1", "ended c.1"]),
])
async def test_record_ivr_starts_the_recording_and_a_secure_input_is_muted_while_keyed(record, secure,
                                                                                       expected) -> None:
    from callcontrol.adapters.flow_files import load_flow_text
    from callcontrol.services.ports import CallerRef
    from tests.support.agi_channel import KeyedPhone
    flow, problems = load_flow_text(RECORDED_FLOW.replace("RECORD", record).replace("SECURE", secure).encode(),
                                    "pay.yaml")
    assert flow is not None, problems
    channel = KeyedPhone(["1234"])
    recorder = LoggedRecorder(channel)
    await run_flow(flow, channel, TickingClock(), caller=CallerRef("c.1", "c.1", "PJSIP/c-1", "1555"),
                   recorder=recorder)
    assert recorder.log == expected
