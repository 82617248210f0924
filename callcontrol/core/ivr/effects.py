"""What the engine asks the session to do on the channel (effects) and what the session reports back (outcomes)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Union

from callcontrol.core.recording_policy import RecordingOverride
from callcontrol.core.acd.caller_prompts import AnnouncementSounds, CallbackSounds

# ---------------------------------------------------------------- effects


@dataclass(frozen=True)
class Play:
    """Play prompts to the end (no barge-in)."""

    prompts: tuple[str, ...]


@dataclass(frozen=True)
class CollectDigit:
    """Play prompts with barge-in on any digit, then wait up to timeout_ms for one digit."""

    prompts: tuple[str, ...]
    timeout_ms: int


@dataclass(frozen=True)
class CollectDigits:
    """Play prompts with barge-in, then collect up to max_digits (ended early by the terminator)."""

    prompts: tuple[str, ...]
    max_digits: int
    timeout_ms: int
    inter_digit_timeout_ms: int
    terminator: str
    secure: bool


@dataclass(frozen=True)
class Say:
    kind: Literal["number", "digits"]
    value: str


@dataclass(frozen=True)
class SetLanguage:
    language: str


@dataclass(frozen=True)
class Transfer:
    kind: Literal["extension", "number"]
    target: str
    ring_timeout_s: int


@dataclass(frozen=True)
class HttpRequest:
    """A request the service makes for the flow; query/body values are already evaluated text or numbers."""

    method: Literal["GET", "POST"]
    url: str
    query: tuple[tuple[str, str], ...]
    body: Mapping[str, object] | None
    timeout_s: float


@dataclass(frozen=True)
class PlayAndHangUp:
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class QueueAnnouncements:
    """What a waiting caller hears besides music on hold, every `every_s` seconds."""

    position: bool = False
    estimated_wait: bool = False
    every_s: int = 60
    prompts: tuple[str, ...] = ()  # a periodic message
    sounds: AnnouncementSounds = AnnouncementSounds()  # of the position and the estimated wait


@dataclass(frozen=True)
class Enqueue:
    """Put the caller in a queue until an agent answers, max_wait_s passes, nobody can answer or a key leaves."""

    queue: str
    skills: Mapping[str, int]
    priority: int | None
    max_wait_s: int
    announcements: QueueAnnouncements
    exit_keys: frozenset[str]
    callback: Callback | None = None  # offered only while its schedule is open (decided on entering the node)
    recording: RecordingOverride | None = None  # what the flow changes in the queue's recording policy


@dataclass(frozen=True)
class Callback:
    """The callback key of a queue wait, the numbers that may be called back and the booking dialog's sounds."""

    key: str
    numbers: re.Pattern[str]
    sounds: CallbackSounds = CallbackSounds()


@dataclass(frozen=True)
class LeaveVoicemail:
    mailbox: str
    greeting: Literal["unavailable", "busy", "none"]


Effect = Union[Play, CollectDigit, CollectDigits, Say, SetLanguage, Transfer, HttpRequest, PlayAndHangUp, Enqueue,
               LeaveVoicemail]


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Done:
    """The effect completed (prompts played, hangup performed)."""


@dataclass(frozen=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True)
class DigitsEntered:
    digits: str


@dataclass(frozen=True)
class NoInput:
    """The caller pressed nothing before the timeout."""


@dataclass(frozen=True)
class TransferEnded:
    """Dial() finished: ANSWER (the transferred call took place), or BUSY, NOANSWER, CHANUNAVAIL, ..."""

    status: str


@dataclass(frozen=True)
class HttpAnswered:
    status: int
    body: object  # the decoded JSON answer (None when it was not JSON)


@dataclass(frozen=True)
class HttpFailed:
    reason: Literal["timeout", "error"]


@dataclass(frozen=True)
class QueueLeft:
    """How the caller left the queue; `digit` is the key pressed for exited_by_key. `caller_hung_up`: answered,
    and the caller ended the conversation (hung up first), so the walk ends there: no exit is taken."""

    result: Literal["answered", "timeout", "no_agents", "exited_by_key", "callback_requested"]
    digit: str | None = None
    caller_hung_up: bool = False


@dataclass(frozen=True)
class VoicemailEnded:
    """VoiceMail() finished: VMSTATUS SUCCESS (message left), USEREXIT (caller left with a key) or FAILED."""

    status: str


Outcome = Union[Done, DigitPressed, DigitsEntered, NoInput, TransferEnded, HttpAnswered, HttpFailed, QueueLeft,
                VoicemailEnded]
