"""The flows in service, looked up by the number the caller dialled."""

from __future__ import annotations

from collections.abc import Iterable

from callcontrol.core.ivr import Flow


class FlowCatalog:
    def __init__(self, flows: Iterable[Flow] = ()) -> None:
        self._by_number: dict[str, Flow] = {}
        self._flows: list[Flow] = []
        self.replace(flows)

    def replace(self, flows: Iterable[Flow]) -> None:
        """Swap the whole set at once; calls already running keep the Flow object they started with."""
        flows = list(flows)
        self._by_number = {number: flow for flow in flows for number in flow.numbers}
        self._flows = flows

    def for_number(self, dialed_number: str) -> Flow | None:
        return self._by_number.get(dialed_number)

    @property
    def flows(self) -> list[Flow]:
        return list(self._flows)
