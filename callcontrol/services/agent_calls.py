"""The agents' calls in conversation now: for each call, the agent, its queue and the agent's own channel.

Supervision spies on exactly that channel (its uniqueid, from AMI DialEnd's DestUniqueid), never on a device name
or a name prefix. Fed by AMI (DialEnd ANSWER, Hangup, the resync snapshot) and the ACD's AgentAnswered event; a
queue call's key is the caller channel's uniqueid, which is also its call id (the linkedid of an inbound call).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from callcontrol.core.domain_events import AgentAnswered
from callcontrol.core.events import ChannelHungUp, ChannelsSnapshot, DialEnded


@dataclass(frozen=True)
class AgentCall:
    call_id: str
    agent_id: str
    queue_id: str | None
    channel: str  # the agent's channel, e.g. PJSIP/agent1001-0000002a
    uniqueid: str  # its uniqueid: what ChanSpy is given (option u)


class AgentCallTracker:
    def __init__(self) -> None:
        self._bridged: dict[str, tuple[str, str]] = {}  # call id -> (agent channel, its uniqueid): DialEnd ANSWER
        self._answered: dict[str, tuple[str, str]] = {}  # call id -> (agent id, queue id): the ACD's AgentAnswered
        self._ended_listeners: list[Callable[[str], None]] = []

    def on_call_ended(self, listener: Callable[[str], None]) -> None:
        """`listener(call_id)` when an agent call tracked here ends (either side hung up)."""
        self._ended_listeners.append(listener)

    def agent_call(self, call_id: str) -> AgentCall | None:
        """The call's agent and channel while the agent is on it (None otherwise)."""
        bridged, answered = self._bridged.get(call_id), self._answered.get(call_id)
        if bridged is None or answered is None:
            return None
        return AgentCall(call_id, answered[0], answered[1] or None, bridged[0], bridged[1])

    def calls_of_agent(self, agent_id: str) -> list[AgentCall]:
        return [call for call in map(self.agent_call, list(self._answered)) if call and call.agent_id == agent_id]

    def dial_ended(self, event: DialEnded) -> None:
        if event.status == "ANSWER" and event.callee_uniqueid:
            self._bridged[event.caller_uniqueid] = (event.callee_channel, event.callee_uniqueid)

    def agent_answered(self, event: AgentAnswered) -> None:
        self._answered[event.call_id] = (event.agent_id, event.queue_id)
        self._drop_stale()

    def channel_hung_up(self, event: ChannelHungUp) -> None:
        ended = [call_id for call_id, (_, uniqueid) in self._bridged.items()
                 if event.uniqueid in (call_id, uniqueid)]
        if event.uniqueid in self._answered and event.uniqueid not in ended:
            ended.append(event.uniqueid)
        for call_id in ended:
            self._forget(call_id)

    def channels_resynced(self, snapshot: ChannelsSnapshot) -> None:
        """After an AMI outage: calls whose channels Asterisk no longer has ended while AMI was down."""
        for call_id, (_, uniqueid) in list(self._bridged.items()):
            if call_id not in snapshot.uniqueids or uniqueid not in snapshot.uniqueids:
                self._forget(call_id)

    def _forget(self, call_id: str) -> None:
        known = self._bridged.pop(call_id, None) is not None
        known = self._answered.pop(call_id, None) is not None or known
        if known:
            for listener in self._ended_listeners:
                listener(call_id)

    def _drop_stale(self, keep: int = 10_000) -> None:
        """An AgentAnswered whose DialEnd never came (not a Dial of a caller's channel) is not kept for ever."""
        while len(self._answered) > keep:
            self._answered.pop(next(iter(self._answered)))
