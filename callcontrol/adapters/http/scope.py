"""Object scope for the ACD's routes and the feed: which agents and queues a principal may see, on the object.

An agent is seen by the admin, a supervisor of one of its teams, and the agent itself; a queue by the admin,
reporting users, and a supervisor naming it or one of the teams it accepts (core/permissions.py). Anything else
answers exactly as an agent or queue that does not exist (404 UnknownAgent / UnknownQueue), so a list, a path
or the feed never tells another team's ids apart from ids nobody has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from aiohttp import web

from callcontrol.adapters.http.acd_json import refused
from callcontrol.core.acd.errors import AcdError, UnknownAgent, UnknownQueue
from callcontrol.core.acd.model import Agent, Queue
from callcontrol.core.live_calls import LiveCall, sees_live_call
from callcontrol.core.permissions import Principal, Role, sees_agent, sees_call, sees_queue
from callcontrol.services.acd_view import AcdView


class AcdScope:
    """The ACD's agents and queues as a principal may see them (the middleware's ObjectScope)."""

    def __init__(self, view: AcdView) -> None:
        self._view = view

    def sees_agent(self, principal: Principal, agent_id: str) -> bool:
        if principal.role is Role.ADMIN:
            return True
        try:
            teams = self._view.agent(agent_id).teams
        except AcdError:
            return False
        return sees_agent(principal, agent_id, teams)

    def sees_queue(self, principal: Principal, queue_id: str) -> bool:
        if principal.role is Role.ADMIN:
            return True
        try:
            teams = self._view.queue(queue_id).teams
        except AcdError:
            return False
        return sees_queue(principal, queue_id, teams)

    def sees_call(self, principal: Principal, queue_ids: Iterable[str], agent_ids: Iterable[str]) -> bool:
        """A call (a recording's) by the queues and agents it went through, their teams as the ACD has them now
        (an agent or queue no longer configured counts with no team)."""
        return sees_call(principal, [(queue_id, self._teams(self._view.queue, queue_id)) for queue_id in queue_ids],
                         [(agent_id, self._teams(self._view.agent, agent_id)) for agent_id in agent_ids])

    def sees_live_call(self, principal: Principal, call: LiveCall) -> bool:
        """A call in progress (core/live_calls.py): through its queue or its agent; an agent only its own."""
        return sees_live_call(principal, call, self.queue_teams, self.agent_teams)

    def queue_teams(self, queue_id: str) -> frozenset[str]:
        """The teams the queue accepts now (none for a queue not configured)."""
        return self._teams(self._view.queue, queue_id)

    def agent_teams(self, agent_id: str) -> frozenset[str]:
        """The agent's teams now (none for an agent not configured)."""
        return self._teams(self._view.agent, agent_id)

    @staticmethod
    def _teams(lookup: Callable[[str], Agent | Queue], item_id: str) -> frozenset[str]:
        try:
            return lookup(item_id).teams
        except AcdError:
            return frozenset()

    def agent_ids(self, principal: Principal) -> list[str]:
        """The agents the principal may see, by id."""
        return [agent_id for agent_id in self._view.agent_ids() if self.sees_agent(principal, agent_id)]

    def queue_ids(self, principal: Principal) -> list[str]:
        """The queues the principal may see, by id."""
        return [queue_id for queue_id in self._view.queue_ids() if self.sees_queue(principal, queue_id)]

    def refusal(self, principal: Principal, match_info: Mapping[str, str]) -> web.Response | None:
        """The 404 for an {agent_id} or {queue_id} in the path the principal may not see; None when it may."""
        agent_id, queue_id = match_info.get("agent_id"), match_info.get("queue_id")
        if agent_id is not None and not self.sees_agent(principal, agent_id):
            return refused(UnknownAgent(f"no agent {agent_id[:64]}"))
        if queue_id is not None and not self.sees_queue(principal, queue_id):
            return refused(UnknownQueue(f"no queue {queue_id[:64]}"))
        return None


ACD_SCOPE = web.AppKey("acd_scope", AcdScope)
