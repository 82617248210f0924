"""The identifier and token grammars: what is safe on an AGI command line, in a dialplan argument or a file name."""

from __future__ import annotations

import re

# Anchored with \Z, not $: $ also matches before a trailing newline, which would end an AGI command early.
DTMF_KEYS = "0123456789*#"  # every key a caller can press
# The DTMF event the service makes a waiting caller's channel "receive" (AMI PlayDTMF, Receive) to end a
# WAIT FOR DIGIT at once when an agent is found: a key phones do not have, so it is never a caller's choice.
WAKE_DIGIT = "D"

SOUND_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*(/[A-Za-z0-9_][A-Za-z0-9_-]*)*\Z")
DTMF_DIGITS = re.compile(r"^[0-9*#]*\Z")
ESCAPE_DIGITS = re.compile(r"^[0-9*#D]*\Z")  # what may interrupt a prompt: caller keys and WAKE_DIGIT
MOH_CLASS = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # an Asterisk music-on-hold class (musiconhold.conf section)
# An agent's device, as the ACD dials it (Dial() from the caller's session, Originate for callbacks) and as
# channel names show it (PJSIP/agent1001-0000002a): the one endpoint grammar, checked when an agent is defined.
_DEVICE = r"[A-Za-z0-9_.-]{1,64}"
DEVICE_NAME = re.compile(rf"^{_DEVICE}\Z")  # a SIP device (its user name): agent1001
ENDPOINT = re.compile(rf"^PJSIP/{_DEVICE}\Z")
ENDPOINT_RULE = "PJSIP/<device>, the device 1-64 letters, digits, '.', '_' or '-' (e.g. PJSIP/agent1001)"
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
VARIABLE_VALUE = re.compile(r"^[A-Za-z0-9_.:+@-]{0,128}\Z")
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_-]{0,63}\Z")  # flow and node ids, queue names in flows
ACD_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")  # ACD agent and queue ids
ACD_ID_RULE = "a lowercase identifier (a-z, 0-9, _; starting with a letter; at most 64)"
PAUSE_REASON = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # why an agent paused: lunch, meeting, after_call
AGENT_PIN_MAX_DIGITS = 12
AGENT_PIN = re.compile(rf"^[0-9]{{4,{AGENT_PIN_MAX_DIGITS}}}\Z")  # an agent's login PIN
ASTERISK_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
CHANNEL_NAME = re.compile(r"^[A-Za-z0-9/_.@;:+-]{1,128}\Z")  # an Asterisk channel name (PJSIP/agent1001-0000002a)
DIALED_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}\Z")
TRANSFER_DESTINATION = re.compile(r"^\+?[0-9]{2,20}\Z")  # an extension or outside number a flow transfers to
DIALPLAN_QUEUE = re.compile(r"^[a-z][a-z0-9_-]{0,62}\Z")  # a queue of the dialplan's callcontrol-queues context
MAILBOX = re.compile(r"^[0-9]{2,10}\Z")  # a voicemail box
LANGUAGE = re.compile(r"^[a-z]{2}(_[A-Z]{2})?\Z")  # a sound language (en, fr_CA)
SAY_NUMBER = re.compile(r"^-?[0-9]{1,15}\Z")  # what SAY NUMBER reads out
SAY_DIGITS = re.compile(r"^[0-9]{1,32}\Z")  # what SAY DIGITS reads out
EXTENSION = re.compile(r"^[0-9]{2,8}\Z")  # an internal extension a flow transfers to (allow.extensions)
# The pattern of the numbers a queue node may call back: digits and the regex syntax numbers need
CALLBACK_NUMBERS = re.compile(r"^[0-9+\[\]{}(),|?\\d-]{1,200}\Z")
HTTP_BASE = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/([A-Za-z0-9._~/-]*/)?\Z")  # an allow-listed service
HTTP_PATH = re.compile(r"^[A-Za-z0-9._~/-]*\Z")  # the path an http node adds to its service's base
JSON_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")  # a dotted path into a JSON answer
TIME_INTERVAL = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])\Z")  # 08:00-19:00


def is_sound_name(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 128 and SOUND_NAME.match(value) is not None


def acd_id_from(text: str, prefix: str, fallback: str = "") -> str:
    """An ACD_ID made of any text (a queues.conf section, a device): lowercase, each run of other characters an
    '_', `fallback` when nothing is left, `prefix` in front when it would not start with a letter; at most 64."""
    candidate = re.sub(r"[^a-z0-9_]+", "_", text.strip().lower()).strip("_") or fallback
    return (candidate if candidate[:1].isalpha() else f"{prefix}{candidate}")[:64]


def endpoint_problem(value: object) -> str | None:
    """None when value is an endpoint the ACD can dial; else why not, for a configuration error message."""
    if isinstance(value, str) and ENDPOINT.match(value):
        return None
    shown = repr(value[:80]) if isinstance(value, str) else f"of type {type(value).__name__}"
    return f"endpoint {shown} is not {ENDPOINT_RULE}"
USER_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}\Z")  # a callcontrol user (people): ada, ada.lovelace
USER_NAME_RULE = "a lowercase name (a-z, 0-9, '_', '.', '-'; starting with a letter; at most 64)"
TEAM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # a team a supervisor's scope names (as agents' teams do)
API_TOKEN = re.compile(r"^cc_([a-z0-9]{12})_([A-Za-z0-9_-]{43})\Z")  # cc_<public lookup id>_<secret>: a user token
FEED_TICKET = re.compile(r"^[A-Za-z0-9_-]{32,64}\Z")  # a WebSocket feed ticket (?ticket=)


# A recording's id: made by the service (rec_ + 32 hex digits of a random UUID), never by a caller or a request.
# It is the file's name too (<recordings dir>/YYYY/MM/DD/<id>.wav), so an id that passes this grammar can never
# name another file: no '/', '.', NUL or anything else a path could use.
RECORDING_ID = re.compile(r"^rec_[0-9a-f]{32}\Z")
RECORDING_ID_VARIABLE = "CC_RECORDING_ID"  # the channel variable MixMonitor i() stores its MixMonitorID in
MIXMONITOR_ID = re.compile(r"^0x[0-9a-fA-F]{1,16}\Z")  # what i() gives: the audiohook's address, 0x55d0c4...
SPAN_REASON = re.compile(r"^[a-z][a-z0-9_]{0,31}\Z")  # why a recording was paused: secure_input, payment, api


def is_recording_id(value: object) -> bool:
    return isinstance(value, str) and RECORDING_ID.match(value) is not None
# A directory as Asterisk sees it, where MixMonitor writes (absolute; nothing a dialplan argument would split on)
ASTERISK_DIR = re.compile(r"^/[A-Za-z0-9_./-]{0,200}\Z")
# A MixMonitor file as the service builds it: <asterisk dir>/YYYY/MM/DD/<recording id>.wav
MIXMONITOR_FILE = re.compile(r"^/[A-Za-z0-9_./-]{0,200}/[0-9]{4}/[0-9]{2}/[0-9]{2}/rec_[0-9a-f]{32}\.wav\Z")
MIXMONITOR_OPTIONS = re.compile(r"^b?(B\([0-9]{1,3}\))?i\([A-Z_]{1,32}\)\Z")  # recording_policy.mixmonitor_options
