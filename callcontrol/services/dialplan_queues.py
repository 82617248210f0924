"""The queue desk for queues the ACD does not define: such a queue is the operator's dialplan.

The ACD desk hands these callers here. The caller is dialled into Local/<queue>@callcontrol-queues
(dialplan/extensions.conf) with music on hold, for at most the node's max_wait_s; that context decides
who rings (a ring group, or app_queue's Queue()). Only the queue id and the maximum wait are used:
skills, priority, announcements and exit keys need the ACD.
"""

from __future__ import annotations

from callcontrol.core.ivr import Enqueue, QueueLeft, QueueStatus
from callcontrol.services.ports import AgiChannel, CallerRef

# DIALSTATUS -> how the caller left the queue
_NOBODY = frozenset({"BUSY", "CHANUNAVAIL", "CONGESTION", "INVALIDARGS"})


class DialplanQueueDesk:
    async def wait_in_queue(self, channel: AgiChannel, request: Enqueue, caller: CallerRef) -> QueueLeft:
        status = await channel.transfer("queue", request.queue, request.max_wait_s)
        if status == "ANSWER":
            return QueueLeft("answered")
        if status in _NOBODY:
            return QueueLeft("no_agents")
        return QueueLeft("timeout")  # NOANSWER, or the wait was cut short without an answer

    def queue_status(self, queue_id: str) -> QueueStatus | None:
        return None  # the dialplan's queues are not ours to see
