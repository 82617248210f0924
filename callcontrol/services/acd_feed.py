"""The live feed of ACD changes (the API's WebSocket): agents, queues and live calls as they change, to each feed.

A bus subscriber called inline (in publish()): each change is read from the Distributor at the decision that
made it, and a feed that falls behind is cut off, never slowing the desk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog

from callcontrol.core.acd.agent_states import AgentStatus, Transition
from callcontrol.core.acd.errors import AcdError
from callcontrol.core.acd.model import Call
from callcontrol.core.acd.distributor_view import Estimate
from callcontrol.core.acd.router import Distributor
from callcontrol.core.domain_events import AgentStateChanged, QueueCallsChanged
from callcontrol.core.live_calls import LiveCall
from callcontrol.services.ports import Clock

log = structlog.get_logger(__name__)

FEED_LIMIT = 1000  # changes a feed subscriber may fall behind before it is cut off


@dataclass(frozen=True)
class AgentChange:
    """An agent as it is after `transition` (None: its definition changed)."""

    transition: Transition | None
    status: AgentStatus
    calls_today: int
    talk_s_today: float


@dataclass(frozen=True)
class QueueChange:
    """A queue's calls after a change (queued, offered, answered, left, moved, timed out) or a new definition."""

    queue_id: str
    at: datetime
    calls: tuple[tuple[Call, datetime, str | None], ...]  # (call, entered the queue, agent ringing or None)
    estimate: Estimate
    logged_in: int


@dataclass(frozen=True)
class Removed:
    """An agent or a queue removed from the configuration."""

    kind: str  # "agent" or "queue"
    id: str


@dataclass(frozen=True)
class CallChange:
    """A call in progress as it is now (services/live_calls.py)."""

    call: LiveCall


@dataclass(frozen=True)
class CallGone:
    """A call in progress left the live view."""

    call_id: str


Change = AgentChange | QueueChange | Removed | CallChange | CallGone


class Feed:
    """One subscriber's bounded queue of changes. `get()` returns None once the feed ended: unsubscribed, or
    cut off (`cut_off`) for falling `limit` changes behind."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.cut_off = False
        self._changes: asyncio.Queue[Change | None] = asyncio.Queue()
        self._ended = False

    def put(self, change: Change) -> bool:
        """Queue a change without waiting; False (and the feed ended) when it is `limit` behind."""
        if self._ended:
            return False
        if self._changes.qsize() >= self.limit:
            self.cut_off = True
            while not self._changes.empty():  # the backlog is dropped: the subscriber is told to reconnect
                self._changes.get_nowait()
            self.end()
            return False
        self._changes.put_nowait(change)
        return True

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._changes.put_nowait(None)

    async def get(self) -> Change | None:
        if self._ended and self._changes.empty():
            return None
        return await self._changes.get()


class LiveFeed:
    """The feeds subscribed now, and the calls' places as they last saw them."""

    def __init__(self, distributor: Distributor, clock: Clock, waiters: Mapping[str, object]) -> None:
        self.distributor = distributor
        self.clock = clock
        self._waiters = waiters  # the calls waiting now (QueueWaits.waiters), by call key
        self.feeds: dict[Feed, None] = {}
        self._calls: dict[str, tuple[str, str | None]] = {}  # as the feeds last saw them

    def subscribe(self, limit: int = FEED_LIMIT) -> Feed:
        """A new feed of changes; one that falls `limit` changes behind is cut off, never slowing the desk."""
        if not self.feeds:
            self._calls = self._calls_now(self._calls)
        feed = Feed(limit)
        self.feeds[feed] = None
        return feed

    def unsubscribe(self, feed: Feed) -> None:
        self.feeds.pop(feed, None)
        feed.end()

    def close_feeds(self) -> None:
        """End every feed (service shutdown)."""
        for feed in list(self.feeds):
            self.unsubscribe(feed)

    def on_event(self, event: AgentStateChanged | QueueCallsChanged) -> None:
        """The bus's delivery: each agent transition, then each queue whose calls a decision changed. Only the
        calls the decision names are looked at, so a decision costs the same however many callers wait."""
        if not self.feeds:
            return
        if isinstance(event, AgentStateChanged):
            self._send(self._agent_change(event.transition.agent_id, event.transition))
            return
        queues: set[str] = set()
        for changed, now_at in self._calls_now(event.call_ids, only=True).items():
            was_at = self._calls.get(changed)
            if was_at == now_at:
                continue
            queues.update(where[0] for where in (was_at, now_at) if where is not None)
            if now_at is None:
                self._calls.pop(changed, None)
            else:
                self._calls[changed] = now_at
        for queue_id in sorted(queues):
            if queue_id in self.distributor.queue_ids():
                self._send(self._queue_change(queue_id))

    def agent_defined(self, agent_id: str) -> None:
        self._send(self._agent_change(agent_id, None))

    def queue_defined(self, queue_id: str) -> None:
        self._send(self._queue_change(queue_id))

    def removed(self, kind: str, id: str) -> None:
        self._send(Removed(kind, id))

    def call_changed(self, call: LiveCall) -> None:
        """A live call changed (the live calls view's watcher)."""
        if self.feeds:
            self._send(CallChange(call))

    def call_ended(self, call_id: str) -> None:
        """A live call left the view."""
        if self.feeds:
            self._send(CallGone(call_id))

    def _calls_now(self, known: Iterable[str], only: bool = False) -> dict[str, tuple[str, str | None] | None]:
        """(queue, agent ringing or None) of each call in the Distributor among the waiting callers and `known`
        (`only`: among `known` alone, with None for a call no longer in it)."""
        calls: dict[str, tuple[str, str | None] | None] = {}
        for call_id in (set(known) if only else {*self._waiters, *known}):
            try:
                queue_id = self.distributor.call_queue(call_id)
                offer = self.distributor.offer_of(call_id)
            except AcdError:
                if only:
                    calls[call_id] = None
                continue  # answered or gone
            calls[call_id] = (queue_id, offer.agent_id if offer is not None else None)
        return calls

    def _agent_change(self, agent_id: str, transition: Transition | None) -> AgentChange:
        calls, talk_s = self.distributor.agent_stats(agent_id)
        return AgentChange(transition, self.distributor.agent_status(agent_id), calls, talk_s)

    def _queue_change(self, queue_id: str) -> QueueChange:
        now = self.clock.now()
        return QueueChange(queue_id, now, tuple(self.distributor.waiting_calls(queue_id)),
                           self.distributor.estimated_wait(queue_id, now), self.distributor.logged_in(queue_id))

    def _send(self, change: Change) -> None:
        for feed in list(self.feeds):
            if not feed.put(change):
                del self.feeds[feed]
                log.warning("acd.feed_cut_off", behind=feed.limit)
