"""The dialog of a waiting caller booking a callback: confirm their own number or take another."""

from __future__ import annotations

import re

from callcontrol.core.identifiers import DIALED_NUMBER
from callcontrol.services.ports import AgiChannel


async def book_callback(channel: AgiChannel, numbers: re.Pattern[str], own: str) -> str | None:
    """Confirm the caller's own number (when it may be called back) or take another; None: not booked."""
    await channel.music_on_hold(False)
    if numbers.fullmatch(own) and DIALED_NUMBER.match(own):
        await channel.play(["to-call-this-number"])
        await channel.say("digits", own.lstrip("+"))
        if await channel.play(["if-correct-press", "digits/1"], "12") == "1" \
                or await channel.wait_for_digit(5000) == "1":
            await channel.play(["auth-thankyou"])
            return own
    entered = await channel.collect_digits(["vm-enter-num-to-call"], 15, 8000, 3000, "#")
    if entered and numbers.fullmatch(entered) and DIALED_NUMBER.match(entered):
        await channel.play(["auth-thankyou"])
        return entered
    await channel.play(["unidentified-no-callback"])
    return None
