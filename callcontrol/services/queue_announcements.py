"""What a caller waiting in an ACD queue hears between waits: position, estimated wait and periodic messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from callcontrol.core.acd.model import Queue
from callcontrol.core.acd.distributor_view import Estimate
from callcontrol.core.ivr import Enqueue
from callcontrol.services.ports import AgiChannel


@dataclass(frozen=True)
class WaitingExperience:
    """What a waiting caller hears: the queue node's announcements when it sets any, else its queue's."""

    moh_class: str
    position: bool
    estimated_wait: bool
    every: timedelta
    messages: tuple[tuple[str, ...], ...]  # the periodic message(s), one per announcement, in turn

    @property
    def announces(self) -> bool:
        return self.position or self.estimated_wait or bool(self.messages)

    @classmethod
    def of(cls, request: Enqueue, queue: Queue) -> WaitingExperience:
        node = request.announcements
        if node.position or node.estimated_wait or node.prompts:  # the flow's node says: one message
            return cls(queue.moh_class, node.position, node.estimated_wait, timedelta(seconds=node.every_s),
                       (node.prompts,) if node.prompts else ())
        return cls(queue.moh_class, queue.announce_position, queue.announce_estimated_wait,
                   timedelta(seconds=queue.announce_every_s), tuple((prompt,) for prompt in queue.periodic_prompts))


async def announce(channel: AgiChannel, experience: WaitingExperience, estimate: Estimate, turn: int,
                   escapes: str) -> str | None:
    """Position, estimated wait and the periodic message (turn `turn`); the key that cut it short, if any."""
    if experience.position:
        digit = await channel.play(["queue-youarenext"] if estimate.position == 1 else ["queue-thereare"], escapes)
        if digit is None and estimate.position > 1:
            await channel.say("number", str(estimate.position - 1))
            digit = await channel.play(["queue-callswaiting"], escapes)
        if digit is not None:
            return digit
    if experience.estimated_wait and estimate.seconds is not None:
        minutes = max(1, round(estimate.seconds / 60))
        digit = await channel.play(["queue-holdtime"], escapes)
        if digit is None:
            await channel.say("number", str(minutes))
            digit = await channel.play(["queue-minute" if minutes == 1 else "queue-minutes"], escapes)
        if digit is not None:
            return digit
    if not experience.messages:
        return None
    return await channel.play(list(experience.messages[turn % len(experience.messages)]), escapes)
