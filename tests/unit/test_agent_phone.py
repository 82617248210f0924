"""The agent login line with a fake channel and store: PIN checked, login/logout toggled, the PIN never logged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import structlog

from callcontrol.core.acd.model import Agent, Queue
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.agent_phone import PIN_ATTEMPTS, agent_login_line
from callcontrol.services.ports import CallerHungUp


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 23, 10, tzinfo=UTC)


class Pbx:
    async def wake(self, channel: str) -> None:
        return None


class Store:
    def __init__(self) -> None:
        self.pins = {"ada": "4817"}

    async def verify_agent_pin(self, agent_id: str, pin: str) -> bool:
        return self.pins.get(agent_id) == pin


class Phone:
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


@pytest.fixture
def desk() -> AcdDesk:
    return AcdDesk([Queue("sales", "Sales")], [Agent("ada", "Ada", "PJSIP/agent1001")], Pbx(), Clock())


async def test_the_right_pin_logs_in_then_out(desk):
    phone = Phone(["4817"])
    assert await agent_login_line(phone, "PJSIP/agent1001", desk, Store()) == "logged_in"
    assert desk.distributor.agent_status("ada").state.value == "available"
    assert phone.played == ["agent-loginok"] and phone.hung_up
    phone = Phone(["4817"])
    assert await agent_login_line(phone, "PJSIP/agent1001", desk, Store()) == "logged_out"
    assert phone.played == ["agent-loggedoff"]


async def test_wrong_pins_are_refused_after_the_attempts_and_never_logged(desk):
    with structlog.testing.capture_logs() as logs:
        phone = Phone(["1111"] * PIN_ATTEMPTS)
        assert await agent_login_line(phone, "PJSIP/agent1001", desk, Store()) == "wrong_pin"
    assert desk.distributor.agent_status("ada").state.value == "logged_out"
    assert phone.played == ["agent-incorrect"] * PIN_ATTEMPTS
    assert "1111" not in repr(logs) and "4817" not in repr(logs)


async def test_a_device_that_is_no_agent_is_refused_and_another_agents_pin_does_not_help(desk):
    phone = Phone(["4817"])
    assert await agent_login_line(phone, "PJSIP/agent1002", desk, Store()) == "unknown_device"
    assert desk.distributor.agent_status("ada").state.value == "logged_out"


async def test_an_agent_hanging_up_mid_pin_changes_nothing(desk):
    phone = Phone([], hang_up_after=0)
    assert await agent_login_line(phone, "PJSIP/agent1001", desk, Store()) == "caller_hangup"
    assert desk.distributor.agent_status("ada").state.value == "logged_out"
    await asyncio.sleep(0)
