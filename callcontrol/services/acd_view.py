"""The ACD as readers see it (the HTTP API, later supervisors' consoles): read-only, on the desk's clock."""

from __future__ import annotations

from datetime import datetime

from callcontrol.core.acd.agent_states import AgentStatus
from callcontrol.core.acd.distributor_view import Estimate, Explanation
from callcontrol.core.acd.model import Agent, Call, Queue
from callcontrol.core.acd.router import Distributor
from callcontrol.services.ports import Clock


class AcdView:
    """What may be read of the ACD: agents, queues, their calls and estimates; nothing here changes it.

    Every read goes to the Distributor the desk decides with, so it sees each decision as soon as it is made.
    Unknown ids raise the ACD's NotFound errors (UnknownAgent, UnknownQueue, UnknownCall).
    """

    def __init__(self, distributor: Distributor, clock: Clock) -> None:
        self._distributor = distributor
        self._clock = clock

    def now(self) -> datetime:
        """The desk's clock: the same one its decisions use."""
        return self._clock.now()

    def agent_ids(self) -> list[str]:
        return self._distributor.agent_ids()

    def queue_ids(self) -> list[str]:
        return self._distributor.queue_ids()

    def agent(self, agent_id: str) -> Agent:
        """An agent's definition as the ACD runs it."""
        return self._distributor.agent(agent_id)

    def queue(self, queue_id: str) -> Queue:
        """A queue's definition as the ACD runs it."""
        return self._distributor.queue(queue_id)

    def agent_status(self, agent_id: str) -> AgentStatus:
        return self._distributor.agent_status(agent_id)

    def agent_stats(self, agent_id: str) -> tuple[int, float]:
        """(answered calls today, talk seconds today)."""
        return self._distributor.agent_stats(agent_id)

    def waiting_calls(self, queue_id: str) -> list[tuple[Call, datetime, str | None]]:
        """The queue's calls, ringing ones first: (call, entered this queue, agent being offered it or None)."""
        return self._distributor.waiting_calls(queue_id)

    def estimated_wait(self, queue_id: str, at: datetime) -> Estimate:
        """The estimated wait of a caller entering the queue at `at`."""
        return self._distributor.estimated_wait(queue_id, at)

    def logged_in(self, queue_id: str) -> int:
        """Agents logged in who could serve the queue, paused ones included."""
        return self._distributor.logged_in(queue_id)

    def explain(self, call: str | Call, at: datetime) -> Explanation:
        """Every agent, in order, with why it is or is not eligible for this call (an id, or a hypothetical one)."""
        return self._distributor.explain(call, at)
