"""What a caller waiting in an ACD queue hears between waits: position, estimated wait and periodic messages.

The script is core.acd.caller_prompts.announcement, played with the flow's queue node's sounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from callcontrol.core.acd.caller_prompts import AnnouncementSounds, announcement
from callcontrol.core.acd.distributor_view import Estimate
from callcontrol.core.acd.model import Queue
from callcontrol.core.ivr import Enqueue
from callcontrol.services.ports import AgiChannel
from callcontrol.services.prompt_player import play_script


@dataclass(frozen=True)
class WaitingExperience:
    """What a waiting caller hears: the queue node's announcements when it sets any, else its queue's."""

    moh_class: str
    position: bool
    estimated_wait: bool
    every: timedelta
    messages: tuple[tuple[str, ...], ...]  # the periodic message(s), one per announcement, in turn
    sounds: AnnouncementSounds = AnnouncementSounds()  # the flow's queue node's (announce.sounds)

    @property
    def announces(self) -> bool:
        return self.position or self.estimated_wait or bool(self.messages)

    @classmethod
    def of(cls, request: Enqueue, queue: Queue) -> WaitingExperience:
        node = request.announcements
        if node.position or node.estimated_wait or node.prompts:  # the flow's node says: one message
            return cls(queue.moh_class, node.position, node.estimated_wait, timedelta(seconds=node.every_s),
                       (node.prompts,) if node.prompts else (), node.sounds)
        return cls(queue.moh_class, queue.announce_position, queue.announce_estimated_wait,
                   timedelta(seconds=queue.announce_every_s), tuple((prompt,) for prompt in queue.periodic_prompts),
                   node.sounds)


async def announce(channel: AgiChannel, experience: WaitingExperience, estimate: Estimate, turn: int,
                   escapes: str) -> str | None:
    """Position, estimated wait and the periodic message (turn `turn`); the key that cut it short, if any."""
    message = experience.messages[turn % len(experience.messages)] if experience.messages else ()
    return await play_script(channel, announcement(
        experience.sounds, escapes, estimate.position if experience.position else None,
        estimate.seconds if experience.estimated_wait else None, message))
