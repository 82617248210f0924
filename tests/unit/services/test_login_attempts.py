"""Failed sign-ins limited per source address and user name (services/login_attempts.py)."""

from __future__ import annotations

from datetime import timedelta

from callcontrol.core.acd.pin_attempts import PinPolicy
from callcontrol.services import login_attempts
from callcontrol.services.login_attempts import LoginAttempts
from tests.support.clock import T0

POLICY = PinPolicy(max_failures=3, window_s=60, lockout_s=10, max_lockout_s=40)


def test_wrong_tokens_lock_the_address_and_the_lockout_doubles() -> None:
    attempts = LoginAttempts(POLICY)
    assert [attempts.failed(T0, "10.0.0.1") for _ in range(2)] == [None, None]
    locked = attempts.failed(T0, "10.0.0.1")
    assert locked is not None and locked.lockout_started and locked.retry_after_s == 10
    assert attempts.locked(T0 + timedelta(seconds=9), "10.0.0.1").retry_after_s == 1
    assert attempts.locked(T0, "10.0.0.2") is None  # another address is not affected
    later = T0 + timedelta(seconds=10)
    assert attempts.locked(later, "10.0.0.1") is None
    for _ in range(3):
        locked = attempts.failed(later, "10.0.0.1")
    assert locked.retry_after_s == 20


def test_parallel_password_guesses_get_no_more_tries_and_a_success_resets_the_name() -> None:
    attempts = LoginAttempts(POLICY)
    assert [attempts.begin_password(T0, f"10.0.0.{i}", "root") for i in range(3)] == [None, None, None]
    assert attempts.begin_password(T0, "10.0.0.9", "root") is not None  # three in flight: the fourth waits
    attempts.end_password(T0, "10.0.0.0", "root", ok=False)
    attempts.end_password(T0, "10.0.0.1", "root", ok=False)
    attempts.end_password(T0, "10.0.0.2", "root", ok=True)
    assert attempts.begin_password(T0, "10.0.0.3", "root") is None  # the name's count started again
    attempts.end_password(T0, "10.0.0.3", "root", ok=False)
    assert attempts.begin_password(T0, "10.0.0.4", "root") is None
    assert attempts.end_password(T0, "10.0.0.4", "root", ok=False) is None
    assert attempts.begin_password(T0, "10.0.0.5", "root") is None
    locked = attempts.end_password(T0, "10.0.0.5", "root", ok=False)
    assert locked is not None and locked.lockout_started  # three failures for the name
    assert attempts.begin_password(T0, "10.0.0.6", "root") is not None  # from any address
    assert attempts.begin_password(T0, "10.0.0.6", "other") is None


def test_memory_stays_bounded_with_many_addresses(monkeypatch) -> None:
    monkeypatch.setattr(login_attempts, "PRUNE_ABOVE", 50)
    attempts = LoginAttempts(POLICY)
    for i in range(200):
        attempts.failed(T0 + timedelta(seconds=i * 61), f"10.0.{i // 256}.{i % 256}")  # each out of the window
    assert attempts.attempts.tracked() <= 51


def test_wrong_secrets_for_one_user_lock_that_user_from_any_address() -> None:
    attempts = LoginAttempts(POLICY)
    for i in range(3):
        attempts.failed(T0, f"10.0.0.{i}", "sue")
    assert attempts.locked_user(T0, "sue") is not None and attempts.locked_user(T0, "ann") is None
    assert attempts.locked(T0, "10.0.0.0") is None  # one failure per address: none locked
