"""Single-use tickets for the WebSocket feed: browsers cannot set an Authorization header on a WebSocket.

POST /api/feed/ticket (with a bearer token) gets one; `GET /api/feed?ticket=...` spends it within TICKET_TTL_S.
A ticket names the Principal it was issued to, so the feed is filtered exactly as that user's requests are. Held
in memory (a restart voids them: they live seconds), at most MAX_TICKETS at a time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from callcontrol.core.identifiers import FEED_TICKET
from callcontrol.core.permissions import Principal

TICKET_TTL_S = 30.0
MAX_TICKETS = 10_000


class TooManyTickets(RuntimeError):
    """MAX_TICKETS unspent, unexpired tickets are held already."""


@dataclass(frozen=True)
class _Ticket:
    principal: Principal
    expires_at: datetime


class FeedTickets:
    """Issues tickets and takes each back once."""

    def __init__(self, ttl_s: float = TICKET_TTL_S, limit: int = MAX_TICKETS) -> None:
        self.ttl_s = ttl_s
        self._limit = limit
        self._tickets: dict[str, _Ticket] = {}

    def issue(self, principal: Principal, now: datetime) -> str:
        if len(self._tickets) >= self._limit:
            self._tickets = {key: t for key, t in self._tickets.items() if t.expires_at > now}
            if len(self._tickets) >= self._limit:
                raise TooManyTickets(f"{self._limit} feed tickets are waiting to be used")
        ticket = secrets.token_urlsafe(32)
        self._tickets[ticket] = _Ticket(principal, now + timedelta(seconds=self.ttl_s))
        return ticket

    def take(self, ticket: str, now: datetime) -> Principal | None:
        """The ticket's Principal, once, before it expires; None otherwise (and it is spent either way)."""
        if not FEED_TICKET.match(ticket):
            return None
        found = self._tickets.pop(ticket, None)
        return found.principal if found is not None and now < found.expires_at else None
