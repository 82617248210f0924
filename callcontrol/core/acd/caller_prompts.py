"""What the ACD says to a waiting caller: the announcements and the callback-booking dialog, as pure scripts.

A script is a generator of steps (play these sounds, say this number, ask for a key, collect digits) that
receives each step's answer (the key pressed, the digits entered, or None). The service's desk carries the
steps out on the caller's AGI session; the flow tests drive the same scripts with the simulated caller's
input, so what an administrator configures (the sounds, in a flow's queue node) is what both run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, fields, replace

from callcontrol.core.identifiers import DIALED_NUMBER, is_sound_name


@dataclass(frozen=True)
class Play:
    """Play sounds in order; with `escapes`, a key among them cuts it short and is the step's answer."""

    sounds: tuple[str, ...]
    escapes: str = ""


@dataclass(frozen=True)
class Say:
    """Say a number ("number") or a digit string ("digits") in the call's language (not interruptible)."""

    kind: str
    value: str


@dataclass(frozen=True)
class Ask:
    """Play sounds that a key among `keys` interrupts, then wait up to `wait_ms` for one; answer: the key."""

    sounds: tuple[str, ...]
    keys: str
    wait_ms: int


@dataclass(frozen=True)
class Collect:
    """Play sounds (barge-in), then gather up to `max_digits` digits until `terminator` or a pause."""

    sounds: tuple[str, ...]
    max_digits: int
    timeout_ms: int
    inter_digit_ms: int
    terminator: str


Step = Play | Say | Ask | Collect
Script = Generator[Step, "str | None", "str | None"]


@dataclass(frozen=True)
class AnnouncementSounds:
    """The sounds of the position and estimated-wait announcements (Asterisk's queue sounds by default)."""

    next_in_line: tuple[str, ...] = ("queue-youarenext",)
    there_are: tuple[str, ...] = ("queue-thereare",)
    calls_waiting: tuple[str, ...] = ("queue-callswaiting",)
    hold_time: tuple[str, ...] = ("queue-holdtime",)
    minute: tuple[str, ...] = ("queue-minute",)
    minutes: tuple[str, ...] = ("queue-minutes",)


@dataclass(frozen=True)
class CallbackSounds:
    """The sounds of the callback-booking dialog (Asterisk's core sounds by default)."""

    this_number: tuple[str, ...] = ("to-call-this-number",)
    press_1_if_correct: tuple[str, ...] = ("if-correct-press", "digits/1")
    enter_number: tuple[str, ...] = ("vm-enter-num-to-call",)
    booked: tuple[str, ...] = ("auth-thankyou",)
    not_booked: tuple[str, ...] = ("unidentified-no-callback",)


CONFIRM_WAIT_MS = 5000  # after "press 1 if correct"
NUMBER_DIGITS = 15  # the most digits a typed callback number may have (E.164)
NUMBER_TIMEOUT_MS = 8000
NUMBER_INTER_DIGIT_MS = 3000


def announcement(sounds: AnnouncementSounds, escapes: str, position: int | None, estimated_wait_s: float | None,
                 message: tuple[str, ...] = ()) -> Script:
    """One announcement: the caller's position (1 = next), the estimated wait in minutes (when there is one),
    then the periodic message. Returns the key that cut it short, or None."""
    if position is not None:
        digit = yield Play(sounds.next_in_line if position == 1 else sounds.there_are, escapes)
        if digit is None and position > 1:
            yield Say("number", str(position - 1))
            digit = yield Play(sounds.calls_waiting, escapes)
        if digit is not None:
            return digit
    if estimated_wait_s is not None:
        minutes = max(1, round(estimated_wait_s / 60))
        digit = yield Play(sounds.hold_time, escapes)
        if digit is None:
            yield Say("number", str(minutes))
            digit = yield Play(sounds.minute if minutes == 1 else sounds.minutes, escapes)
        if digit is not None:
            return digit
    if message:
        return (yield Play(message, escapes))
    return None


def may_call_back(number: str, numbers: re.Pattern[str]) -> bool:
    """A number the queue node may call: its allow-list pattern matches all of it, and it is dialable."""
    return numbers.fullmatch(number) is not None and DIALED_NUMBER.match(number) is not None


def callback_dialog(sounds: CallbackSounds, own_number: str, numbers: re.Pattern[str]) -> Script:
    """Book a callback: confirm the caller's own number with 1 (when it may be called back; 2 or no key goes
    on to typing one) or take the number typed. Returns the number to call back, or None: not booked."""
    if may_call_back(own_number, numbers):
        yield Play(sounds.this_number)
        yield Say("digits", own_number.lstrip("+"))
        if (yield Ask(sounds.press_1_if_correct, "12", CONFIRM_WAIT_MS)) == "1":
            yield Play(sounds.booked)
            return own_number
    entered = yield Collect(sounds.enter_number, NUMBER_DIGITS, NUMBER_TIMEOUT_MS, NUMBER_INTER_DIGIT_MS, "#")
    if entered and may_call_back(entered, numbers):
        yield Play(sounds.booked)
        return entered
    yield Play(sounds.not_booked)
    return None


def sounds_from(defaults: AnnouncementSounds | CallbackSounds, data: object
                ) -> tuple[AnnouncementSounds | CallbackSounds, list[tuple[str, str]]]:
    """Override some of `defaults` from a mapping of name -> sound list (a flow's `sounds:`); returns the sounds
    and the problems as (path below `sounds`, message). Unknown names and bad sound names are problems."""
    if data is None:
        return defaults, []
    if not isinstance(data, Mapping):
        return defaults, [("", "must be a mapping of " + ", ".join(_names(defaults)))]
    problems: list[tuple[str, str]] = []
    chosen: dict[str, tuple[str, ...]] = {}
    for name, value in data.items():
        if name not in _names(defaults):
            problems.append((str(name), f"unknown sound; expected one of {', '.join(_names(defaults))}"))
        elif not isinstance(value, list) or not value or not all(is_sound_name(sound) for sound in value):
            problems.append((name, "must be a non-empty list of sound names (letters, digits, _, -, /)"))
        else:
            chosen[name] = tuple(value)
    return replace(defaults, **chosen), problems


def _names(defaults: AnnouncementSounds | CallbackSounds) -> list[str]:
    return [field.name for field in fields(defaults)]


def walk(script: Script, answer: Callable[[Step], str | None]) -> tuple[list[Step], str | None]:
    """Run a script to its end with `answer` giving each step's answer; the steps taken and the result (the
    flow tests' simulated caller, and the unit tests)."""
    steps: list[Step] = []
    try:
        step = next(script)
        while True:
            steps.append(step)
            step = script.send(answer(step))
    except StopIteration as end:
        return steps, end.value
