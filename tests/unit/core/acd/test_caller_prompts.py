"""The ACD's caller scripts: announcements and the callback dialog, walked purely and played on a channel."""

from __future__ import annotations

import re

from callcontrol.core.acd.caller_prompts import (
    AnnouncementSounds,
    Ask,
    CallbackSounds,
    Collect,
    Play,
    Say,
    announcement,
    callback_dialog,
    sounds_from,
    walk,
)
from callcontrol.services.prompt_player import play_script

US = re.compile(r"\+?1?555[0-9]{7}")


def silent(step):
    return None


def test_announcement_says_the_position_then_the_wait_then_the_message():
    steps, key = walk(announcement(AnnouncementSounds(), "5D", 3, 130, ("queue-periodic-announce",)), silent)
    assert key is None
    assert steps == [Play(("queue-thereare",), "5D"), Say("number", "2"), Play(("queue-callswaiting",), "5D"),
                     Play(("queue-holdtime",), "5D"), Say("number", "2"), Play(("queue-minutes",), "5D"),
                     Play(("queue-periodic-announce",), "5D")]


def test_next_in_line_and_one_minute():
    steps, _ = walk(announcement(AnnouncementSounds(), "", 1, 20), silent)
    assert steps == [Play(("queue-youarenext",), ""), Play(("queue-holdtime",), ""), Say("number", "1"),
                     Play(("queue-minute",), "")]


def test_a_key_cuts_the_announcement_short():
    steps, key = walk(announcement(AnnouncementSounds(), "5", 4, 300, ("msg",)), lambda step: "5")
    assert key == "5" and steps == [Play(("queue-thereare",), "5")]


def test_nothing_to_announce_says_nothing():
    assert walk(announcement(AnnouncementSounds(), "", None, None), silent) == ([], None)


def test_own_number_confirmed_with_1():
    steps, number = walk(callback_dialog(CallbackSounds(), "+15551234567", US),
                         lambda step: "1" if isinstance(step, Ask) else None)
    assert number == "+15551234567"
    assert steps[1] == Say("digits", "15551234567") and steps[-1] == Play(("auth-thankyou",))


def test_own_number_refused_with_2_then_another_typed():
    def caller(step):
        return {Ask: "2", Collect: "15559876543"}.get(type(step))
    steps, number = walk(callback_dialog(CallbackSounds(), "+15551234567", US), caller)
    assert number == "15559876543"
    assert [type(step) for step in steps] == [Play, Say, Ask, Collect, Play]


def test_a_number_the_node_may_not_call_is_not_booked():
    steps, number = walk(callback_dialog(CallbackSounds(), "+449000", US),
                         lambda step: "19005550000" if isinstance(step, Collect) else None)
    assert number is None
    assert [type(step) for step in steps] == [Collect, Play] and steps[-1] == Play(("unidentified-no-callback",))


def test_nothing_typed_is_not_booked():
    _, number = walk(callback_dialog(CallbackSounds(), "anonymous", US), silent)
    assert number is None


def test_sounds_are_overridden_by_name_and_checked():
    sounds, problems = sounds_from(CallbackSounds(), {"booked": ["custom/thanks"]})
    assert sounds.booked == ("custom/thanks",) and sounds.not_booked == CallbackSounds().not_booked
    assert problems == []
    _, problems = sounds_from(AnnouncementSounds(), {"there_are": ["../etc/passwd"], "nope": ["x"]})
    assert [path for path, _ in problems] == ["there_are", "nope"]
    assert sounds_from(AnnouncementSounds(), ["x"])[1][0][1].startswith("must be a mapping")


class RecordingChannel:
    """An AGI channel that logs what it is asked and answers from a script."""

    def __init__(self, keys):
        self.keys = list(keys)
        self.did = []

    def _next(self):
        return self.keys.pop(0) if self.keys else None

    async def play(self, prompts, escape_digits=""):
        self.did.append(("play", tuple(prompts), escape_digits))
        return self._next()

    async def wait_for_digit(self, timeout_ms):
        self.did.append(("wait", timeout_ms))
        return self._next()

    async def say(self, kind, value):
        self.did.append(("say", kind, value))

    async def collect_digits(self, prompts, max_digits, timeout_ms, inter_digit_timeout_ms, terminator):
        self.did.append(("collect", tuple(prompts), max_digits, terminator))
        return self._next() or ""


async def test_the_dialog_played_on_a_channel_waits_for_the_key_after_the_question():
    # the question plays through (no key), then the wait hears 1
    channel = RecordingChannel([None, None, "1"])
    number = await play_script(channel, callback_dialog(CallbackSounds(), "+15551234567", US))
    assert number == "+15551234567"
    assert channel.did == [("play", ("to-call-this-number",), ""), ("say", "digits", "15551234567"),
                           ("play", ("if-correct-press", "digits/1"), "12"), ("wait", 5000),
                           ("play", ("auth-thankyou",), "")]


async def test_nothing_collected_on_a_channel_is_none_not_empty():
    channel = RecordingChannel([])
    assert await play_script(channel, callback_dialog(CallbackSounds(), "", US)) is None
    assert channel.did[0] == ("collect", ("vm-enter-num-to-call",), 15, "#")
