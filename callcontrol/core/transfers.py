"""Transfers, pure: where a call may be transferred to (allow lists only), read from an API body or a phone's keys.

Nothing a user or a phone supplies is ever dialled: a destination is accepted only when it names a queue or an
agent of the ACD, or a number of the operator's allow list (settings transfer_numbers), and what the service then
hands to Asterisk is its own one-time token (TRANSFER_TOKEN), never the typed text. docs/transfers.md.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Union

from callcontrol.core.identifiers import ACD_ID, TRANSFER_DESTINATION

# The service's one-time token, the extension of dialplan [cc-transfer] that the BlindTransfer action names
TRANSFER_TOKEN = re.compile(r"^[1-9][0-9]{15}\Z")
TRANSFER_CONTEXT = "cc-transfer"  # where the service's own blind transfers send the caller (dialplan)
PHONE_TRANSFER_CONTEXT = "cc-phone-transfer"  # where a REFER from an agent's phone sends it (TRANSFER_CONTEXT)
TRANSFER_CONTEXTS = frozenset({TRANSFER_CONTEXT, PHONE_TRANSFER_CONTEXT})
PHONE_KEYS = re.compile(r"^[0-9]{1,20}\Z")  # what an agent may key as a phone transfer's target (digits only)
MODES = frozenset({"blind"})  # attended (consult first) is not offered yet: docs/transfers.md


@dataclass(frozen=True)
class ToQueue:
    queue: str


@dataclass(frozen=True)
class ToAgent:
    agent: str


@dataclass(frozen=True)
class ToNumber:
    number: str


Destination = Union[ToQueue, ToAgent, ToNumber]


class TransferRefused(ValueError):
    """A transfer that cannot be made: `rule` names why (bad_request, unknown_queue, unknown_agent,
    number_not_allowed, unsupported_mode, same_queue, ...); the message says it for people."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class AllowLists:
    """What a call may be transferred to: the ACD's queues and agents, the operator's numbers, and the codes an
    agent may key on the phone for a queue or an agent (e.g. {"2001": ToQueue("support")})."""

    queues: Collection[str]
    agents: Collection[str]
    numbers: Collection[str] = ()
    phone_codes: Mapping[str, Destination] | None = None


def destination_from_request(body: object) -> tuple[Destination, str]:
    """The destination and mode of a POST /api/calls/{id}/transfer body: {to: {queue|agent|number: ...}, mode}.
    Checks the shape and the grammar only (allowed() checks the lists); raises TransferRefused(bad_request)."""
    if not isinstance(body, Mapping):
        raise TransferRefused("bad_request", "the body must be a JSON object {to: {...}, mode: blind}")
    unknown = set(body) - {"to", "mode"}
    if unknown:
        raise TransferRefused("bad_request", f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:100]}")
    mode = body.get("mode", "blind")
    if mode not in MODES:
        raise TransferRefused("unsupported_mode", "mode must be 'blind' (attended transfers are not offered yet)")
    to = body.get("to")
    if not isinstance(to, Mapping) or len(to) != 1:
        raise TransferRefused("bad_request", "to must be an object with exactly one of queue, agent, number")
    ((kind, value),) = to.items()
    if not isinstance(value, str):
        raise TransferRefused("bad_request", f"to.{str(kind)[:20]} must be a string")
    if kind == "queue" and ACD_ID.match(value):
        return ToQueue(value), mode
    if kind == "agent" and ACD_ID.match(value):
        return ToAgent(value), mode
    if kind == "number" and TRANSFER_DESTINATION.match(value):
        return ToNumber(value), mode
    if kind not in ("queue", "agent", "number"):
        raise TransferRefused("bad_request", "to must be an object with exactly one of queue, agent, number")
    raise TransferRefused("bad_request", f"to.{kind} is not a valid {kind}")


def allowed(destination: Destination, lists: AllowLists) -> Destination:
    """The destination when an allow list has it; else TransferRefused (unknown_queue, unknown_agent,
    number_not_allowed)."""
    if isinstance(destination, ToQueue) and destination.queue in lists.queues:
        return destination
    if isinstance(destination, ToAgent) and destination.agent in lists.agents:
        return destination
    if isinstance(destination, ToNumber) and destination.number in lists.numbers:
        return destination
    if isinstance(destination, ToQueue):
        raise TransferRefused("unknown_queue", "no such queue in the ACD")
    if isinstance(destination, ToAgent):
        raise TransferRefused("unknown_agent", "no such agent in the ACD")
    raise TransferRefused("number_not_allowed", "that number is not on the transfer allow list")


def destination_from_keys(keys: str, lists: AllowLists) -> Destination | None:
    """What an agent keyed on the phone (a REFER's target, digits) as an allowed destination: a phone code of a
    queue or an agent, or an allowed number; None for anything else (the caller is then not lost: see the
    transfer leg)."""
    if not PHONE_KEYS.match(keys):
        return None
    coded = (lists.phone_codes or {}).get(keys)
    if coded is not None:
        try:
            return allowed(coded, lists)
        except TransferRefused:
            return None
    if keys in lists.numbers:
        return ToNumber(keys)
    return None


def parse_phone_codes(text: str) -> dict[str, Destination]:
    """The phone codes setting: "2001=queue:support,1002=agent:bob" -> {"2001": ToQueue("support"), ...}.
    Raises ValueError naming the bad part."""
    codes: dict[str, Destination] = {}
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        code, _, target = part.partition("=")
        kind, _, name = target.partition(":")
        if not PHONE_KEYS.match(code.strip()) or kind not in ("queue", "agent") or not ACD_ID.match(name):
            raise ValueError(f"{part[:60]!r}: expected <digits>=queue:<id> or <digits>=agent:<id>")
        codes[code.strip()] = ToQueue(name) if kind == "queue" else ToAgent(name)
    return codes


def describe(destination: Destination) -> dict[str, str]:
    """The destination as the API and the record show it: {"queue": "support"}, {"number": "0155500001"}."""
    if isinstance(destination, ToQueue):
        return {"queue": destination.queue}
    if isinstance(destination, ToAgent):
        return {"agent": destination.agent}
    return {"number": destination.number}
