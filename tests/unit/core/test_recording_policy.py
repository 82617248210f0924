"""The recording policy: modes, the deterministic percentage, overrides, MixMonitor options, plain data."""

from __future__ import annotations

import pytest

from callcontrol.core.recording_policy import (
    RecordingOverride,
    RecordingPolicy,
    bucket_of,
    decide,
    mixmonitor_options,
    override_from_data,
    policy_from_data,
    policy_to_data,
)


def test_always_never_and_on_demand() -> None:
    assert decide(RecordingPolicy("always"), "1700000000.1")
    assert not decide(RecordingPolicy("never"), "1700000000.1")
    assert decide(RecordingPolicy("on_demand"), "1700000000.1")  # armed (paused) from the start


def test_percent_is_deterministic_and_close_to_its_share() -> None:
    policy = RecordingPolicy("percent", 50)
    keys = [f"1764650000.{n}" for n in range(2000)]
    chosen = [decide(policy, key) for key in keys]
    assert chosen == [decide(policy, key) for key in keys]  # the same call always gets the same answer
    assert 900 < sum(chosen) < 1100
    assert all(decide(RecordingPolicy("percent", 100), key) for key in keys[:50])
    assert sum(decide(RecordingPolicy("percent", 1), key) for key in keys) < 60
    assert bucket_of("x") == bucket_of("x") and 0 <= bucket_of("x") < 10_000


def test_override_changes_only_what_it_names() -> None:
    queue = RecordingPolicy("always", beep_every_s=15, retention_days=30, agents_may_listen=True)
    assert RecordingOverride(mode="never").applied_to(queue) == RecordingPolicy("never", 0, 15, 30, True)
    assert RecordingOverride(beep_every_s=20).applied_to(queue).beep_every_s == 20
    assert RecordingOverride().applied_to(queue) == queue


def test_mixmonitor_options_bridged_only_id_and_beep() -> None:
    assert mixmonitor_options(RecordingPolicy("always"), "CC_REC_ID") == "bi(CC_REC_ID)"
    assert mixmonitor_options(RecordingPolicy("always", beep_every_s=15), "V") == "bB(15)i(V)"


def test_plain_data_round_trip() -> None:
    policy = RecordingPolicy("percent", 12.5, 30, 365, True)
    assert policy_from_data(policy_to_data(policy)) == (policy, None)
    assert policy_from_data(None) == (None, None)
    assert policy_to_data(None) is None


@pytest.mark.parametrize(("value", "message"), [
    ("gold_calls", "a recording policy is now a mapping"),
    ({"percent": 3}, "missing required key 'mode'"),
    ({"mode": "sometimes"}, "mode 'sometimes' is not one of"),
    ({"mode": "percent", "percent": 101}, "percent 101 must be a number from 0 to 100"),
    ({"mode": "percent"}, "mode percent needs a percent above 0"),
    ({"mode": "always", "beep_every_s": 1}, "beep_every_s 1 must be a whole number of seconds from 5 to 300"),
    ({"mode": "always", "retention_days": 0}, "retention_days 0 must be a whole number of days"),
    ({"mode": "always", "agents_may_listen": "yes"}, "agents_may_listen must be true or false"),
    ({"mode": "always", "file": "/etc/passwd"}, "unknown key 'file'"),
    ([1], "must be a mapping"),
])
def test_bad_policies_are_refused_with_a_clear_message(value: object, message: str) -> None:
    policy, problem = policy_from_data(value)
    assert policy is None and problem is not None and message in problem


def test_flow_overrides_from_data() -> None:
    assert override_from_data({"mode": "percent", "percent": 50}) == (RecordingOverride("percent", 50), None)
    assert override_from_data(None) == (None, None)
    assert "needs a percent" in (override_from_data({"mode": "percent"})[1] or "")
    assert "unknown key 'retention_days'" in (override_from_data({"retention_days": 3})[1] or "")
