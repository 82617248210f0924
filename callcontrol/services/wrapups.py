"""Setting a wrap-up code on an agent's leg of a call: during the call (its record in memory) or after (stored).

check rules -> act. The leg is the call's latest agent leg (of the agent asking, for an agent); the code must be
one of the leg's queue's codes (as configured now); after the leg ended it may be set or changed for
`window_s` seconds. During the call the code goes on the record in the call log (written with its next flush,
kept when the ACD rebuilds the stint); after, straight onto the stored leg row, which a snapshot of the record
still queued for writing never clears (adapters/db/interaction_rows.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import structlog

from callcontrol.core.calls import CallRecord
from callcontrol.core.interactions import AgentLeg
from callcontrol.core.wrapup import Wrapup, WrapupPolicy, choice_problem, too_late
from callcontrol.services.call_log import CallLog
from callcontrol.services.ports import Clock, LegStore

log = structlog.get_logger(__name__)

DEFAULT_WINDOW_S = 1800.0  # how long after the leg's end its code may still be set (CALLCONTROL_WRAPUP_WINDOW_S)


class WrapupRefused(Exception):
    """A wrap-up code that cannot be set; `error` is the rule's name."""

    error = "refused"


class NotAllowedCode(WrapupRefused):
    """The code is not one of the queue's (or the note is not acceptable)."""

    error = "bad_code"

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


class TooLate(WrapupRefused):
    """The leg ended longer ago than the window."""

    error = "too_late"


class NotStoredYet(WrapupRefused):
    """The call is over but its leg's row is not written yet (the database was down): try again shortly."""

    error = "not_stored_yet"


@dataclass(frozen=True)
class LegRef:
    """A call's agent leg as found: the record's stint position, its queue, the leg, and whether in progress."""

    call_id: str
    position: int
    queue: str
    leg: AgentLeg
    live: bool


class Wrapups:
    def __init__(self, calls: CallLog, store: LegStore, queue_policy: Callable[[str], WrapupPolicy | None],
                 clock: Clock, window_s: float = DEFAULT_WINDOW_S) -> None:
        self._calls = calls
        self._store = store
        self._queue_policy = queue_policy
        self._clock = clock
        self.window_s = window_s

    async def find(self, call_id: str, agent_id: str | None = None) -> LegRef | None:
        """The call's latest agent leg (`agent_id`: of that agent); None when the call or such a leg is unknown."""
        record = self._calls.get(call_id)
        live = record is not None
        if record is None:
            record = await self._store.by_call_id(call_id)
        return _latest_leg(record, agent_id, live) if record is not None else None

    def allowed_codes(self, queue: str) -> tuple[str, ...]:
        policy = self._queue_policy(queue)
        return policy.code_ids if policy is not None else ()

    async def set(self, ref: LegRef, code: object, note: object, by: str) -> AgentLeg:
        """Set (or change) the leg's code; raises a WrapupRefused. Returns the leg with its code."""
        problem = choice_problem(self._queue_policy(ref.queue), code, note)
        if problem is not None:
            raise NotAllowedCode(problem, self.allowed_codes(ref.queue))
        now = self._clock.now()
        if too_late(ref.leg.ended_at, now, self.window_s):
            raise TooLate(f"the call ended at {ref.leg.ended_at.isoformat() if ref.leg.ended_at else '?'}: a code "
                          f"may be set up to {self.window_s:g} s after its end")
        assert isinstance(code, str) and (note is None or isinstance(note, str))
        wrapup = Wrapup(code, now, by[:64], note)
        if not self._calls.change_agent_leg(ref.call_id, ref.position, lambda leg: replace(leg, wrapup=wrapup)):
            if not await self._store.set_wrapup(ref.call_id, ref.position, wrapup):
                raise NotStoredYet("the call's record is not written yet: try again in a few seconds")
        log.info("call.wrapup", call=ref.call_id, agent=ref.leg.agent, queue=ref.queue, code=code, by=by[:64],
                 during_call=ref.leg.ended_at is None)
        return replace(ref.leg, wrapup=wrapup)


def _latest_leg(record: CallRecord, agent_id: str | None, live: bool) -> LegRef | None:
    for position in range(len(record.queue_stints) - 1, -1, -1):
        stint = record.queue_stints[position]
        leg = stint.agent_leg
        if leg is not None and (agent_id is None or leg.agent == agent_id):
            return LegRef(record.call_id, position, stint.queue, leg, live)
    return None
