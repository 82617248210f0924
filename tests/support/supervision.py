"""A supervisor-phones fake for fast unit tests: it records what the service asked of Asterisk."""

from __future__ import annotations

from callcontrol.core.supervision import Mode


class RecordedPhones:
    def __init__(self, fail_ring: Exception | None = None) -> None:
        self.rung: list[tuple[str, str, Mode, str, str]] = []
        self.modes: list[tuple[str, Mode]] = []
        self.hung_up: list[str] = []
        self.fail_ring = fail_ring

    @staticmethod
    def originate_action_id(session_id: str) -> str:
        return f"cc-supervise-{session_id}"

    async def ring(self, session_id: str, endpoint: str, mode: Mode, target_uniqueid: str, spyer_uniqueid: str,
                   ring_timeout_s: float, agent_id: str) -> None:
        if self.fail_ring is not None:
            raise self.fail_ring
        self.rung.append((session_id, endpoint, mode, target_uniqueid, spyer_uniqueid))

    async def set_mode(self, spyer_uniqueid: str, mode: Mode) -> None:
        self.modes.append((spyer_uniqueid, mode))

    async def hang_up(self, spyer_uniqueid: str) -> None:
        self.hung_up.append(spyer_uniqueid)
