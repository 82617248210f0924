"""A TransferDesk over an AcdDesk for fast tests: Asterisk's BlindTransfer stood in for by a recorder of actions."""

from __future__ import annotations

from callcontrol.core.interactions import QueueStint
from callcontrol.core.transfers import AllowLists, ToQueue
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.ports import CallerHungUp
from callcontrol.services.transfers import TransferDesk


class FakeTransferActions:
    """The TransferActions port, for unit tests: keeps each (channel, token); `gone` channels raise CallerHungUp,
    `refuse` makes every transfer fail as a down AMI would."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str]] = []
        self.gone: set[str] = set()
        self.refuse = False

    async def blind_transfer(self, channel: str, token: str) -> None:
        if channel in self.gone:
            raise CallerHungUp(f"no channel {channel}")
        if self.refuse:
            raise ConnectionError("AMI down")
        self.done.append((channel, token))


def transfer_desk(desk: AcdDesk, numbers: tuple[str, ...] = ("0155500001",),
                  stints: dict[str, list[QueueStint]] | None = None) -> TransferDesk:
    """A TransferDesk on `desk` whose allow lists are the desk's queues and agents plus `numbers`, phone code 2001
    for the first queue; `stints` stands in for the call records; its actions are desk_transfers.actions."""
    known = stints if stints is not None else {}
    steps: list[tuple[str, dict[str, object]]] = []

    def lists() -> AllowLists:
        queues = desk.distributor.queue_ids()
        codes = {"2001": ToQueue(sorted(queues)[0])} if queues else {}
        return AllowLists(queues, desk.view.agent_ids(), numbers, codes)

    transfers = TransferDesk(desk, FakeTransferActions(), desk.clock, lists, lambda call_id: known.get(call_id, []),
                             lambda call_id, step: steps.append((call_id, step)))
    transfers.steps = steps  # type: ignore[attr-defined]
    return transfers
