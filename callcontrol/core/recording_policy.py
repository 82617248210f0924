"""The call recording policy: which calls are recorded, with what notice, kept how long, heard by whom.

Pure: a queue carries a RecordingPolicy (the ACD schema reads it), a flow's queue node may override part of it
(RecordingOverride), and `decide` says whether one call is recorded, deterministically from its call key.

Modes:
- always: every call that reaches an agent is recorded;
- never: none is;
- percent: `percent` % of the calls, chosen by a hash of the call key (the same call always gets the same
  answer, so a replay, a test or an audit can recompute it);
- on_demand: the recorder is armed but paused from the start (the file holds silence) until someone with the
  right resumes it over the API; a recording never resumed holds nothing and is removed at the end with its
  reason logged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

MODES = ("always", "never", "percent", "on_demand")
POLICY_KEYS = ("mode", "percent", "beep_every_s", "retention_days", "agents_may_listen")
OVERRIDE_KEYS = ("mode", "percent", "beep_every_s")
BEEP_EVERY = (5, 300)  # seconds between beeps (MixMonitor B(interval)), when the law wants periodic notice
RETENTION_DAYS = (1, 3650)
DEFAULT_RETENTION_DAYS = 90
PERCENT_BUCKETS = 10_000  # the hash is read at 0.01 % resolution


@dataclass(frozen=True)
class RecordingPolicy:
    """A queue's recording policy. `beep_every_s` None: no periodic beep."""

    mode: str = "never"
    percent: float = 0.0  # only for mode percent: 0-100
    beep_every_s: int | None = None
    retention_days: int = DEFAULT_RETENTION_DAYS
    agents_may_listen: bool = False  # an agent may hear its own recordings of this queue

    def __post_init__(self) -> None:
        problem = _policy_problem(self)
        if problem is not None:
            raise ValueError(problem)



@dataclass(frozen=True)
class RecordingOverride:
    """What a flow's queue node changes in its queue's policy (None: the queue's)."""

    mode: str | None = None
    percent: float | None = None
    beep_every_s: int | None = None

    def applied_to(self, policy: RecordingPolicy) -> RecordingPolicy:
        changes: dict[str, Any] = {}
        if self.mode is not None:
            changes["mode"] = self.mode
        if self.percent is not None:
            changes["percent"] = self.percent
        if self.beep_every_s is not None:
            changes["beep_every_s"] = self.beep_every_s
        return replace(policy, **changes)


def decide(policy: RecordingPolicy, call_key: str) -> bool:
    """True when this call is recorded (on_demand: armed, paused). Deterministic in the call key."""
    if policy.mode in ("always", "on_demand"):
        return True
    if policy.mode == "percent":
        return bucket_of(call_key) < round(policy.percent * PERCENT_BUCKETS / 100)
    return False


def bucket_of(call_key: str) -> int:
    """The call's place in 0..PERCENT_BUCKETS-1: the first 8 bytes of SHA-256(call key)."""
    digest = hashlib.sha256(call_key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % PERCENT_BUCKETS


def mixmonitor_options(policy: RecordingPolicy | None, id_variable: str, bridged_only: bool = True) -> str:
    """MixMonitor options: b (audio only while bridged: the conversation, not the hold music), B(n) (the beep),
    i(var) (the MixMonitorID, for mute and stop over AMI). A recording of the IVR part has no `b`."""
    beep = f"B({policy.beep_every_s})" if policy is not None and policy.beep_every_s is not None else ""
    return f"{'b' if bridged_only else ''}{beep}i({id_variable})"


# ---------------------------------------------------------------- plain data <-> policy


def policy_to_data(policy: RecordingPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    percent: float | int = int(policy.percent) if float(policy.percent).is_integer() else policy.percent
    return {"mode": policy.mode, "percent": percent, "beep_every_s": policy.beep_every_s,
            "retention_days": policy.retention_days, "agents_may_listen": policy.agents_may_listen}


def policy_from_data(value: Any) -> tuple[RecordingPolicy | None, str | None]:
    """A policy from plain data (None: not recorded); (None, problem) when it is not one."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return None, (f"{value!r}: a recording policy is now a mapping {{mode: always|never|percent|on_demand, "
                      f"percent, beep_every_s, retention_days, agents_may_listen}}, not a policy name")
    if not isinstance(value, Mapping):
        return None, "must be a mapping {mode, percent, beep_every_s, retention_days, agents_may_listen}"
    unknown = sorted(str(key) for key in value if key not in POLICY_KEYS)
    if unknown:
        return None, f"unknown key {unknown[0]!r} (allowed: {', '.join(POLICY_KEYS)})"
    if "mode" not in value:
        return None, "missing required key 'mode'"
    try:
        return RecordingPolicy(**{key: value[key] for key in POLICY_KEYS if key in value
                                  and not (key == "percent" and value[key] is None)}), None
    except (TypeError, ValueError) as exc:
        return None, str(exc)


def override_from_data(value: Any) -> tuple[RecordingOverride | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, Mapping):
        return None, f"must be a mapping of {', '.join(OVERRIDE_KEYS)}"
    unknown = sorted(str(key) for key in value if key not in OVERRIDE_KEYS)
    if unknown:
        return None, f"unknown key {unknown[0]!r} (allowed: {', '.join(OVERRIDE_KEYS)})"
    mode, percent, beep = value.get("mode"), value.get("percent"), value.get("beep_every_s")
    problem = (_mode_problem(mode) if mode is not None else None) \
        or (_percent_problem(percent) if percent is not None else None) \
        or (_beep_problem(beep) if beep is not None else None)
    if problem is None and mode == "percent" and percent is None:
        problem = "mode percent needs a percent (0-100)"
    return (None, problem) if problem else (RecordingOverride(mode, percent, beep), None)


def _mode_problem(mode: object) -> str | None:
    return None if mode in MODES else f"mode {mode!r} is not one of {', '.join(MODES)}"


def _percent_problem(percent: object) -> str | None:
    ok = isinstance(percent, (int, float)) and not isinstance(percent, bool) and 0 <= percent <= 100
    return None if ok else f"percent {percent!r} must be a number from 0 to 100"


def _beep_problem(beep: object) -> str | None:
    low, high = BEEP_EVERY
    ok = beep is None or (isinstance(beep, int) and not isinstance(beep, bool) and low <= beep <= high)
    return None if ok else f"beep_every_s {beep!r} must be a whole number of seconds from {low} to {high}, or null"


def _policy_problem(policy: RecordingPolicy) -> str | None:
    low, high = RETENTION_DAYS
    days = policy.retention_days
    if _mode_problem(policy.mode) or _percent_problem(policy.percent) or _beep_problem(policy.beep_every_s):
        return _mode_problem(policy.mode) or _percent_problem(policy.percent) or _beep_problem(policy.beep_every_s)
    if not (isinstance(days, int) and not isinstance(days, bool) and low <= days <= high):
        return f"retention_days {days!r} must be a whole number of days from {low} to {high}"
    if not isinstance(policy.agents_may_listen, bool):
        return "agents_may_listen must be true or false"
    if policy.mode == "percent" and policy.percent == 0:
        return "mode percent needs a percent above 0 (or mode never)"
    return None
