"""Rule-named errors of the ACD core, one class per broken rule, so the API can map each to a clear 4xx."""

from __future__ import annotations


class AcdError(Exception):
    """A request the ACD refuses; `rule` is the class name (e.g. 'AgentNotLoggedIn'), the message says why."""

    @property
    def rule(self) -> str:
        return type(self).__name__


class NotFound(AcdError):
    """Base of the errors about an unknown agent, queue or call (an API maps these to 404)."""


class UnknownAgent(NotFound):
    pass


class UnknownQueue(NotFound):
    pass


class UnknownCall(NotFound):
    pass


class Conflict(AcdError):
    """Base of the errors about a request the current state forbids (an API maps these to 409)."""


class AgentNotLoggedIn(Conflict):
    pass


class AgentAlreadyLoggedIn(Conflict):
    pass


class AgentStillLoggedIn(Conflict):
    """An agent must be logged out before it is removed."""


class AgentNotAvailable(Conflict):
    pass


class AgentDeviceBusy(Conflict):
    """The agent's device is on a personal call: no queue call is offered."""


class AgentAlreadyReserved(Conflict):
    """The agent is already ringing for a call: never two offers at once."""


class AgentNotReserved(Conflict):
    """The agent is not ringing for that call (answer or miss reported for the wrong call)."""


class AgentRinging(Conflict):
    """The agent is ringing for a call; the request must wait for the answer, the miss or the caller leaving."""


class AgentOnCall(Conflict):
    pass


class AgentNotOnCall(Conflict):
    pass


class AgentNotPaused(Conflict):
    pass


class AgentNotInWrapUp(Conflict):
    pass


class CallAlreadyQueued(Conflict):
    pass


class QueueFull(Conflict):
    """The queue holds max_length calls already (the 'blocked' outcome)."""
