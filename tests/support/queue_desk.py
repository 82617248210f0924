"""Fake queue desks (the QueueDesk port of a flow walk) and the ACD desk's callers: channels whose Dial() is scripted.

QueueCallerChannel, AGENTS, SALES, request() and caller() serve the tests that run a real AcdDesk over FakePbx.
"""

from __future__ import annotations

import asyncio

from callcontrol.core import ivr
from callcontrol.core.acd.agent_states import AgentState
from callcontrol.core.acd.model import Agent, Queue
from callcontrol.core.events import ChannelCreated, DialEnded
from callcontrol.core.ivr import Enqueue, QueueAnnouncements
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.ports import AgentDialled, CallerRef


class StatusDesk:
    """A queue desk that only answers queue_status (what branch conditions read)."""

    def __init__(self, statuses: dict[str, ivr.QueueStatus]) -> None:
        self.statuses = statuses
        self.asked: list[str] = []

    def queue_status(self, queue_id: str) -> ivr.QueueStatus | None:
        self.asked.append(queue_id)
        return self.statuses.get(queue_id)

    async def wait_in_queue(self, channel, request, caller):
        raise AssertionError("not queued in this test")


class AnsweringDesk:
    """A queue desk whose agent answers at once; `caller_hung_up` says who ended the conversation."""

    def __init__(self, caller_hung_up: bool) -> None:
        self.caller_hung_up = caller_hung_up

    def queue_status(self, queue_id: str) -> ivr.QueueStatus | None:
        return None

    async def wait_in_queue(self, channel, request, caller):
        if self.caller_hung_up:
            channel.gone = True
        return ivr.QueueLeft("answered", caller_hung_up=self.caller_hung_up)


class QueueCallerChannel:
    """An AGI channel whose caller presses nothing unless told; Dial() answers as scripted per endpoint."""

    def __init__(self, desk_ref: list[AcdDesk], uniqueid: str, dial_results: dict[str, list[str]]) -> None:
        self.digits: asyncio.Queue[str] = asyncio.Queue()
        self.dialled: list[str] = []
        self.music: list[bool] = []
        self._desk = desk_ref
        self._uniqueid = uniqueid
        self._results = dial_results
        self.hang_up = asyncio.Event()  # ends a TALKING conversation
        self.transferred = False  # ... as a blind transfer of the agent's leg does (the caller moved on)
        self.commands: list[tuple] = []

    async def set_variable(self, name: str, value: str) -> None:
        self.commands.append(("set", name, value))

    async def hangup(self) -> None:
        self.commands.append(("hangup",))

    async def answer(self) -> None:
        self.commands.append(("answer",))

    async def transfer(self, kind: str, target: str, ring_timeout_s: int) -> str:
        self.commands.append(("transfer", kind, target))
        return "ANSWER"

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        try:
            return await asyncio.wait_for(self.digits.get(), timeout_ms / 1000)
        except TimeoutError:
            return None

    async def music_on_hold(self, on: bool, moh_class: str = "default") -> None:
        self.music.append((on, moh_class) if on else on)

    async def play(self, prompts, escape_digits=""):
        return None

    async def say(self, kind, value):
        return None

    async def dial_agent(self, endpoint: str, ring_timeout_s: float, moh_class: str = "default") -> AgentDialled:
        self.dialled.append(endpoint)
        self.dial_moh = moh_class
        status = self._results[endpoint].pop(0)
        await asyncio.sleep(0.01)
        desk = self._desk[0]
        if status == "TALKING":  # the agent answers and talks until `hang_up` is set; `transferred`: moved away
            desk.apply(DialEnded(self._uniqueid, f"{endpoint}-00000001", "ANSWER", desk.clock.now()))
            await self.hang_up.wait()
            return AgentDialled("ANSWER", transferred=self.transferred)
        if status == "ANSWER_AMI_LATE":  # AMI lags: Dial() returns before the service read any of its events
            return AgentDialled("ANSWER")
        if status in ("ANSWER", "ANSWER_STILL_IN_USE"):
            desk.apply(DialEnded(self._uniqueid, endpoint, "ANSWER", desk.clock.now()))
            if status == "ANSWER_STILL_IN_USE":  # Asterisk destroys the agent's channel after Dial() returns
                desk.channel_changed(ChannelCreated("a.1", f"{endpoint}-00000001", desk.clock.now()))
                status = "ANSWER"
            agent = next(a for a in desk.distributor.agent_ids() if endpoint.endswith(a))
            assert desk.distributor.agent_status(agent).state is AgentState.ON_CALL
            await asyncio.sleep(0.01)
        elif status == "ANSWER_THEN_CALLER_HANGS_UP":  # AMI saw the answer; Asterisk answers UNKNOWN after hangup
            desk.apply(DialEnded(self._uniqueid, endpoint, "ANSWER", desk.clock.now()))
            await asyncio.sleep(0.01)
            return AgentDialled("UNKNOWN", caller_hung_up=True)
        else:  # AMI shows every dial's end, answered or not
            desk.apply(DialEnded(self._uniqueid, endpoint, status, desk.clock.now()))
        if status == "CANCEL":  # the caller hung up while the agent rang
            return AgentDialled(status, caller_hung_up=True)
        return AgentDialled(status)


class CallbackLeg:
    """The answered agent's channel of a callback: the customer answers."""

    async def answer(self) -> None:
        return None

    async def play(self, prompts, escape_digits=""):
        return None

    async def transfer(self, kind, target, ring_timeout_s) -> str:
        return "ANSWER"


AGENTS = [Agent("a1", "Ada", "PJSIP/a1", skills={"english": 5}), Agent("a2", "Bob", "PJSIP/a2", skills={"english": 9})]
SALES = Queue("sales", "Sales", required_skills={"english": 3}, ring_timeout_s=5, wrap_up_s=0)


def request(max_wait_s: int = 5, exit_keys: frozenset[str] = frozenset()) -> Enqueue:
    return Enqueue("sales", {}, None, max_wait_s, QueueAnnouncements(), exit_keys)


def caller(desk: AcdDesk, name: str, results: dict[str, list[str]]) -> tuple[QueueCallerChannel, CallerRef]:
    channel = QueueCallerChannel([desk], name, results)
    desk.pbx.channels[f"PJSIP/trunk-{name}"] = channel
    return channel, CallerRef(name, name, f"PJSIP/trunk-{name}", "+15550001")
