"""Places SIPp test calls through the sandbox Asterisk: one call (demo, tests) or a load at a rate (benchmarks)."""

from __future__ import annotations

import asyncio
import csv
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from callcontrol.core.tokens import DIALED_NUMBER, DTMF_DIGITS
from callcontrol.settings import REPO_ROOT

SCENARIOS_DIR = REPO_ROOT / "sipp"
DTMF_PCAPS = Path("/usr/share/sip-tester")
_PCAP_NAMES = {"*": "star", "#": "pound"}
SANDBOX_SIP = "127.0.0.1:5060"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_media_port() -> int:
    """An even UDP port N with N and N+2 free: SIPp's -mp binds both (audio and video)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM) & ~1
        try:
            for candidate in (port, port + 2):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.bind(("127.0.0.1", candidate))
            return port
        except OSError:
            continue
    raise RuntimeError("no free UDP port pair for SIPp media")


def dtmf_block(digits: list[tuple[int, str]]) -> str:
    """SIPp XML for (pause_ms, digit) pairs, per sipp/caller.xml's @DTMF_BLOCK@ contract."""
    parts = []
    for pause_ms, digit in digits:
        if len(digit) != 1 or not DTMF_DIGITS.match(digit):
            raise ValueError(f"not a DTMF digit: {digit!r}")
        pcap = DTMF_PCAPS / f"dtmf_2833_{_PCAP_NAMES.get(digit, digit)}.pcap"
        parts.append(f'<pause milliseconds="{int(pause_ms)}"/>'
                     f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
    return "\n".join(parts)


def scenario(digits: list[tuple[int, str]] | None = None, hangup_after_ms: int | None = None) -> str:
    """The caller scenario XML: press digits and wait for Asterisk's BYE, or hang up after a delay."""
    if hangup_after_ms is None:
        return (SCENARIOS_DIR / "caller.xml").read_text().replace("@DTMF_BLOCK@", dtmf_block(digits or []))
    return (SCENARIOS_DIR / "caller_hangs_up.xml").read_text().replace("@HANGUP_AFTER_MS@", str(int(hangup_after_ms)))


@dataclass(frozen=True)
class SippRun:
    returncode: int
    output: str
    successful: int
    failed: int


async def run_sipp(xml: str, number: str, caller: str, *, calls: int = 1, rate: float | None = None,
                   limit: int = 1, timeout_s: float = 60) -> SippRun:
    """Run one SIPp process on its own UDP port; returns its exit code and success/failure counts."""
    if not DIALED_NUMBER.match(number) or not DIALED_NUMBER.match(caller):
        raise ValueError("number and caller must be dialled numbers")
    workdir = Path(tempfile.mkdtemp(prefix="callcontrol-sipp-"))
    scenario_path = workdir / "scenario.xml"
    scenario_path.write_text(xml)
    stats = workdir / "stats.csv"
    args = ["sipp", SANDBOX_SIP, "-sf", str(scenario_path), "-s", number, "-i", "127.0.0.1",
            "-p", str(free_port(socket.SOCK_DGRAM)), "-mp", str(free_media_port()),
            "-key", "caller", caller, "-m", str(calls), "-l", str(limit), "-nostdin",
            "-timeout", str(int(timeout_s)), "-timeout_error", "-trace_stat", "-stf", str(stats), "-fd", "1"]
    if rate is not None:
        args += ["-r", str(rate)]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, cwd=workdir)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s + 15)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    successful, failed = _final_counts(stats)
    return SippRun(proc.returncode if proc.returncode is not None else -1,
                   out.decode(errors="replace")[-3000:], successful, failed)


def _final_counts(stats: Path) -> tuple[int, int]:
    try:
        rows = list(csv.DictReader(stats.open(), delimiter=";"))
    except OSError:
        return 0, 0
    if not rows:
        return 0, 0
    last = rows[-1]
    return int(last.get("SuccessfulCall(C)", 0) or 0), int(last.get("FailedCall(C)", 0) or 0)


async def place_call(caller: str, number: str = "5000", digits: list[tuple[int, str]] | None = None,
                     hangup_after_ms: int | None = None, timeout_s: float = 60) -> SippRun:
    """One call from `caller` to `number`; returns when SIPp exits."""
    return await run_sipp(scenario(digits, hangup_after_ms), number, caller, timeout_s=timeout_s)
