"""The agent login line with a fake channel and store: PIN checked, login/logout toggled, the PIN never logged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import structlog

from callcontrol.core.acd.model import Agent, Queue
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.agent_phone import PIN_ATTEMPTS, agent_login_line
from callcontrol.services.agent_pins import AgentPins
from tests.support.agi_channel import KeyedPhone
from tests.support.clock import DESK_START, SettableClock
from tests.support.pbx import FakePbx
from tests.support.stores import PinStore


def pins(store: PinStore | None = None, clock: SettableClock | None = None) -> AgentPins:
    return AgentPins(store or PinStore(), clock or SettableClock(DESK_START))


@pytest.fixture
def desk() -> AcdDesk:
    return AcdDesk([Queue("sales", "Sales")], [Agent("ada", "Ada", "PJSIP/agent1001")], FakePbx(),
                   SettableClock(DESK_START))


async def test_the_right_pin_logs_in_then_out(desk):
    phone = KeyedPhone(["4817"])
    assert await agent_login_line(phone, "PJSIP/agent1001", desk, pins()) == "logged_in"
    assert desk.distributor.agent_status("ada").state.value == "available"
    assert phone.played == ["agent-loginok"] and phone.hung_up
    phone = KeyedPhone(["4817"])
    assert await agent_login_line(phone, "PJSIP/agent1001", desk, pins()) == "logged_out"
    assert phone.played == ["agent-loggedoff"]


async def test_wrong_pins_are_refused_after_the_attempts_and_never_logged(desk):
    with structlog.testing.capture_logs() as logs:
        phone = KeyedPhone(["1111"] * PIN_ATTEMPTS)
        assert await agent_login_line(phone, "PJSIP/agent1001", desk, pins()) == "wrong_pin"
    assert desk.distributor.agent_status("ada").state.value == "logged_out"
    assert phone.played == ["agent-incorrect"] * PIN_ATTEMPTS
    assert "1111" not in repr(logs) and "4817" not in repr(logs)


async def test_a_device_that_is_no_agent_is_refused_and_another_agents_pin_does_not_help(desk):
    phone = KeyedPhone(["4817"])
    assert await agent_login_line(phone, "PJSIP/agent1002", desk, pins()) == "unknown_device"
    assert desk.distributor.agent_status("ada").state.value == "logged_out"


async def test_an_agent_hanging_up_mid_pin_changes_nothing(desk):
    phone = KeyedPhone([], hang_up_after=0)
    assert await agent_login_line(phone, "PJSIP/agent1001", desk, pins()) == "caller_hangup"
    assert desk.distributor.agent_status("ada").state.value == "logged_out"
    await asyncio.sleep(0)


async def test_wrong_pins_over_several_calls_lock_the_agent_and_redialling_gives_no_fresh_tries(desk):
    """3 wrong PINs in one call, 2 in the next: the 5th locks ada, the line says the PIN is not accepted and
    hangs up at once; the next calls are not even asked for a PIN, the right one included (no hint)."""
    store, clock = PinStore(), SettableClock(DESK_START)
    checker = pins(store, clock)
    phone = KeyedPhone(["1111"] * 3)
    assert await agent_login_line(phone, "PJSIP/agent1001", desk, checker) == "wrong_pin"
    with structlog.testing.capture_logs() as logs:
        phone = KeyedPhone(["2222", "3333", "4817"])
        assert await agent_login_line(phone, "PJSIP/agent1001", desk, checker) == "locked"
    assert phone.played == ["agent-incorrect", "agent-incorrect"] and phone.entries == ["4817"] and phone.hung_up
    locked = [e for e in logs if e["event"] == "acd.pin_locked"]
    assert locked == [{"event": "acd.pin_locked", "agent": "ada", "source": "phone", "failures": 5,
                       "lockout_s": 300, "device": "PJSIP/agent1001", "log_level": "warning"}]
    assert not any(pin in repr(logs) for pin in ("1111", "2222", "3333", "4817"))
    verified = store.verified
    for _ in range(3):
        phone = KeyedPhone(["4817"])
        assert await agent_login_line(phone, "PJSIP/agent1001", desk, checker) == "locked"
        assert phone.played == ["agent-incorrect"] and phone.entries == ["4817"] and phone.hung_up
    assert store.verified == verified  # no PIN hashed while locked
    assert desk.distributor.agent_status("ada").state.value == "logged_out"
    clock.current += timedelta(seconds=300)
    assert await agent_login_line(KeyedPhone(["4817"]), "PJSIP/agent1001", desk, checker) == "logged_in"


async def test_a_lockout_from_the_api_holds_on_the_phone(desk):
    """One limit for every source: wrong PINs over HTTP Basic lock the phone line too."""
    checker = pins()
    for _ in range(5):
        verdict = await checker.check("ada", "0000", "api", remote="127.0.0.1")
    assert verdict.locked is not None and verdict.locked.lockout_started
    phone = KeyedPhone(["4817"])
    assert await agent_login_line(phone, "PJSIP/agent1001", desk, checker) == "locked"
    assert desk.distributor.agent_status("ada").state.value == "logged_out"
