"""A fake PBX actions port: waking a waiting caller puts the wake digit on that channel's keypad."""

from __future__ import annotations

import asyncio
from typing import Protocol

from callcontrol.core.identifiers import WAKE_DIGIT


class Keypad(Protocol):
    """What a woken channel needs: a keypad the wake digit is put on."""

    digits: asyncio.Queue[str]


class FakePbx:
    """Keeps the channels woken; a channel registered in `channels` gets WAKE_DIGIT on its keypad."""

    def __init__(self) -> None:
        self.channels: dict[str, Keypad] = {}
        self.woken: list[str] = []

    async def wake(self, channel: str) -> None:
        self.woken.append(channel)
        self.channels[channel].digits.put_nowait(WAKE_DIGIT)
