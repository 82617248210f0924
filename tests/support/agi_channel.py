"""Fake AGI channels (the AgiChannel port) for service tests: scripted callers, a held prompt, an agent keying PINs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from callcontrol.services.ports import CallerHungUp, ChannelCommandFailed


class ScriptedChannel:
    """An AgiChannel scripted with what the caller does.

    barge_in: digits returned by successive play() calls that allow escape digits (None = played to the end).
    waits: results of successive wait_for_digit() calls (None = timeout).
    hang_up_on: the prompt during which the caller hangs up (CallerHungUp is raised).
    fail_on: the command name ('answer', 'play', 'wait', 'hangup') that Asterisk refuses.
    """

    def __init__(self, barge_in: Sequence[str | None] = (), waits: Sequence[str | None] = (),
                 hang_up_on: str | None = None, fail_on: str | None = None) -> None:
        self.barge_in = list(barge_in)
        self.waits = list(waits)
        self.hang_up_on = hang_up_on
        self.fail_on = fail_on
        self.log: list[tuple] = []
        self.gone = False

    def _command(self, name: str) -> None:
        if self.gone:
            raise CallerHungUp()
        if self.fail_on == name:
            raise ChannelCommandFailed(f"{name.upper()} returned -1")

    async def answer(self) -> None:
        self.log.append(("answer",))
        self._command("answer")

    async def play(self, prompts: Sequence[str], escape_digits: str = "") -> str | None:
        self.log.append(("play", tuple(prompts), escape_digits))
        self._command("play")
        if self.hang_up_on in prompts:
            self.gone = True
            raise CallerHungUp()
        if escape_digits and self.barge_in:
            return self.barge_in.pop(0)
        return None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        self.log.append(("wait", timeout_ms))
        self._command("wait")
        return self.waits.pop(0) if self.waits else None

    async def set_variable(self, name: str, value: str) -> None:
        self.log.append(("set", name, value))
        self._command("set")

    async def hangup(self) -> None:
        self.log.append(("hangup",))
        self._command("hangup")
        self.gone = True


class HeldChannel:
    """An AGI channel whose first prompt plays until the test releases it; the rest play at once."""

    def __init__(self, hold: bool = True) -> None:
        self.played: list[tuple[str, ...]] = []
        self.in_first_prompt = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def answer(self) -> None:
        pass

    async def play(self, prompts: Sequence[str], escape_digits: str = "") -> str | None:
        self.played.append(tuple(prompts))
        if len(self.played) == 1:
            self.in_first_prompt.set()
            await self.release.wait()
        return None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return None

    async def set_variable(self, name: str, value: str) -> None:
        pass

    async def hangup(self) -> None:
        pass


class KeyedPhone:
    """The agent keys one entry per PIN prompt; played prompts are kept."""

    def __init__(self, entries: list[str], hang_up_after: int | None = None) -> None:
        self.entries = entries
        self.played: list[str] = []
        self.hung_up = False
        self._hang_up_after = hang_up_after

    async def answer(self) -> None:
        return None

    async def collect_digits(self, prompts, max_digits, timeout_ms, inter_digit_timeout_ms, terminator) -> str:
        if self._hang_up_after is not None and not self.entries:
            raise CallerHungUp("agent hung up")
        return self.entries.pop(0) if self.entries else ""

    async def play(self, prompts, escape_digits="") -> None:
        self.played.extend(prompts)

    async def hangup(self) -> None:
        self.hung_up = True


class LineCaller:
    """A caller on a line that asks questions (collect_digits): one entry keyed per question, in order; what the
    line asked, played and set on the channel is kept in `log`, in order. With no entry left, the caller has hung
    up (CallerHungUp), so a test knows exactly how many questions the line asked."""

    def __init__(self, entries: Sequence[str]) -> None:
        self.entries = list(entries)
        self.log: list[tuple] = []

    @property
    def asked(self) -> list[str]:
        return [entry[1] for entry in self.log if entry[0] == "ask"]

    @property
    def played(self) -> list[str]:
        return [entry[1] for entry in self.log if entry[0] == "play"]

    @property
    def variables(self) -> list[tuple[str, str]]:
        return [(entry[1], entry[2]) for entry in self.log if entry[0] == "set"]

    async def answer(self) -> None:
        self.log.append(("answer",))

    async def collect_digits(self, prompts: Sequence[str], max_digits: int, timeout_ms: int,
                             inter_digit_timeout_ms: int, terminator: str) -> str:
        self.log.append(("ask", "+".join(prompts)))
        if not self.entries:
            raise CallerHungUp("caller hung up")
        return self.entries.pop(0)[:max_digits]

    async def play(self, prompts: Sequence[str], escape_digits: str = "") -> None:
        self.log.append(("play", "+".join(prompts)))

    async def set_variable(self, name: str, value: str) -> None:
        self.log.append(("set", name, value))

    async def hangup(self) -> None:
        self.log.append(("hangup",))
