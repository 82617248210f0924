"""Failed agent PIN attempts (core/acd/pin_attempts.py): lockout after 5 wrong PINs in 5 minutes, growing, reset by
a success; attempts in flight count. Time is passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcontrol.core.acd.pin_attempts import Locked, PinAttempts, PinPolicy

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fail(attempts: PinAttempts, agent: str, now: datetime) -> Locked | None:
    assert attempts.start(agent, now) is None
    return attempts.finish(agent, False, now)


def test_five_wrong_pins_in_five_minutes_lock_the_agent_and_nobody_else() -> None:
    attempts = PinAttempts()
    for n in range(4):
        assert fail(attempts, "ada", at(n * 10)) is None
    locked = fail(attempts, "ada", at(40))
    assert locked == Locked(300, lockout_started=True, failures=5)
    assert attempts.start("ada", at(41)) == Locked(299)  # refused before any PIN is checked
    assert attempts.locked("ada", at(339)) == Locked(1)
    assert attempts.start("bob", at(41)) is None  # per agent


def test_the_lockout_ends_and_each_next_one_lasts_twice_as_long_up_to_an_hour() -> None:
    attempts = PinAttempts()
    now, lengths = 0.0, []
    for _ in range(6):
        for _ in range(5):
            locked = fail(attempts, "ada", at(now))
        assert locked is not None and locked.lockout_started
        lengths.append(locked.retry_after_s)
        assert attempts.start("ada", at(now + locked.retry_after_s - 1)) is not None
        now += locked.retry_after_s
    assert lengths == [300, 600, 1200, 2400, 3600, 3600]


def test_a_success_resets_the_failures_and_the_growth() -> None:
    attempts = PinAttempts()
    for _ in range(5):
        fail(attempts, "ada", at(0))
    for n in range(4):
        fail(attempts, "ada", at(300 + n))
    assert attempts.start("ada", at(310)) is None
    assert attempts.finish("ada", True, at(310)) is None
    assert attempts.tracked() == 0  # nothing kept for an agent with nothing against it
    for n in range(4):
        assert fail(attempts, "ada", at(311 + n)) is None  # four fresh tries, not one
    assert fail(attempts, "ada", at(320)) == Locked(300, lockout_started=True, failures=5)  # growth reset too


def test_failures_older_than_the_window_do_not_count() -> None:
    attempts = PinAttempts()
    for n in range(20):  # one wrong PIN every 80 s: never 5 within 300 s
        assert fail(attempts, "ada", at(n * 80)) is None


def test_attempts_in_flight_count_so_a_parallel_burst_gets_no_more_tries() -> None:
    attempts = PinAttempts()
    started = [attempts.start("ada", at(0)) for _ in range(20)]
    assert started[:5] == [None] * 5 and all(s == Locked(1) for s in started[5:])
    results = [attempts.finish("ada", False, at(1)) for _ in range(5)]
    assert results[:4] == [None] * 4 and results[4] is not None and results[4].lockout_started
    assert attempts.start("ada", at(2)) == Locked(299)


def test_an_invalid_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        PinPolicy(max_failures=0)
    with pytest.raises(ValueError):
        PinPolicy(lockout_s=600, max_lockout_s=300)
