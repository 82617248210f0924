"""Places SIPp test calls through the sandbox Asterisk: one call (demo, tests) or a load at a rate (benchmarks)."""

from __future__ import annotations

import asyncio
import csv
import math
import os
import socket
import struct
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from callcontrol.core.identifiers import DEVICE_NAME, DIALED_NUMBER, DTMF_DIGITS
from callcontrol.settings import REPO_ROOT

SCENARIOS_DIR = REPO_ROOT / "sipp"
DTMF_PCAPS = Path("/usr/share/sip-tester")
# renumbered copies of the DTMF pcaps, see dtmf_pcap(); per user, as a root-owned one would refuse others
DTMF_CACHE = Path(tempfile.gettempdir()) / f"callcontrol-sipp-dtmf-v1-{os.getuid()}"
_PCAP_NAMES = {"*": "star", "#": "pound"}
SPEAK = "speak"  # in a caller's key list: talk for SPEAK_MS (a message, a conversation) instead of a digit
SPEAK_MS = 3000
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
    """SIPp XML for (pause_ms, digit) pairs, per sipp/caller.xml's @DTMF_BLOCK@ contract.

    A pair (pause_ms, SPEAK) makes the caller talk for SPEAK_MS instead (a tone as its voice), (pause_ms,
    "speak:<ms>") for that long (one RTP stream: Asterisk keeps only the first of two streams that restart their
    sequence numbers); the next pause counts from the start of the talking, as for a digit.
    """
    parts = []
    for position, (pause_ms, digit) in enumerate(digits):
        if digit == SPEAK:
            pcap = voice_pcap(SPEAK_MS)
        elif digit.startswith(f"{SPEAK}:") and digit[len(SPEAK) + 1:].isdigit():  # speak:12000 talks 12 s
            pcap = voice_pcap(min(int(digit[len(SPEAK) + 1:]), 120_000))
        elif len(digit) != 1 or not DTMF_DIGITS.match(digit):
            raise ValueError(f"not a DTMF digit: {digit!r}")
        else:
            pcap = dtmf_pcap(digit, position)
        parts.append(f'<pause milliseconds="{int(pause_ms)}"/>'
                     f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
    return "\n".join(parts)


def voice_pcap(duration_ms: int, hz: int = 440) -> Path:
    """A caller's voice for tests: a PCMU (payload 0) RTP stream of a sine tone, 20 ms a packet, as an Ethernet
    pcap that SIPp's play_pcap_audio replays at the pace of its timestamps (cached beside the DTMF copies)."""
    target = DTMF_CACHE / f"voice_{int(duration_ms)}ms_{hz}hz.pcap"
    if target.exists():
        return target
    packets = []
    for index in range(max(1, int(duration_ms) // 20)):
        samples = (int(8000 * math.sin(2 * math.pi * hz * (160 * index + n) / 8000)) for n in range(160))
        rtp = struct.pack("!BBHII", 0x80, 0, index & 0xFFFF, 160 * index, 0x5EEC0DE) + bytes(map(_ulaw, samples))
        udp = struct.pack("!HHHH", 40000, 40000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), index & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        usec = index * 20_000
        packets.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame)
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # little-endian, Ethernet
    DTMF_CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    partial.write_bytes(header + b"".join(packets))
    os.replace(partial, target)
    return target


def _ulaw(sample: int) -> int:
    """One 16-bit linear sample as G.711 mu-law."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def dtmf_pcap(digit: str, position: int) -> Path:
    """SIPp's RFC 4733 pcap for `digit`, renumbered as the call's digit number `position` (0, 1, ...).

    play_pcap_audio replays a pcap's RTP headers as recorded, and each dtmf_2833_*.pcap carries fixed
    sequence numbers and timestamps (lower for 7 than for #, the same for two 7s). Asterisk drops an event
    whose timestamp is not newer than the last one's, so the second digit of "#7" or "77" would be lost. The copy
    (cached in DTMF_CACHE) numbers digit N after digit N-1: any sequence of digits arrives.
    """
    name = _PCAP_NAMES.get(digit, digit)
    target = DTMF_CACHE / f"dtmf_2833_{name}_{position}.pcap"
    if target.exists():
        return target
    data = bytearray((DTMF_PCAPS / f"dtmf_2833_{name}.pcap").read_bytes())
    if data[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack_from("<I", data, 20)[0] != 1:
        raise ValueError(f"dtmf_2833_{name}.pcap: expected a little-endian Ethernet pcap")
    offset, first_seq = 24, None
    while offset + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, offset + 8)[0]
        packet = offset + 16
        rtp = packet + 14 + (data[packet + 14] & 0x0F) * 4 + 8  # Ethernet, IPv4 (its header length), UDP
        seq = struct.unpack_from("!H", data, rtp + 2)[0]
        first_seq = seq if first_seq is None else first_seq
        # each pcap spans 8 sequence numbers (end packets repeated); timestamps 1 s (8000 samples) apart
        struct.pack_into("!HI", data, rtp + 2, (1000 + 16 * position + seq - first_seq) & 0xFFFF,
                         8000 * (position + 1))
        offset = packet + caplen
    DTMF_CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


def scenario(digits: list[tuple[int, str]] | None = None, hangup_after_ms: int | None = None) -> str:
    """The caller scenario XML: press digits, then wait for Asterisk's BYE or hang up hangup_after_ms later."""
    if hangup_after_ms is None:
        return (SCENARIOS_DIR / "caller.xml").read_text().replace("@DTMF_BLOCK@", dtmf_block(digits or []))
    text = (SCENARIOS_DIR / "caller_hangs_up.xml").read_text().replace("@DTMF_BLOCK@", dtmf_block(digits or []))
    return text.replace("@HANGUP_AFTER_MS@", str(int(hangup_after_ms)))


@dataclass(frozen=True)
class SippRun:
    returncode: int
    output: str
    successful: int
    failed: int


async def run_sipp(xml: str, number: str, caller: str, *, calls: int = 1, rate: float | None = None,
                   limit: int = 1, timeout_s: float = 60, message_log: Path | None = None) -> SippRun:
    """Run one SIPp process on its own UDP port; returns its exit code and success/failure counts. message_log:
    SIPp writes every message there (see invite_times)."""
    if not DIALED_NUMBER.match(number) or not DIALED_NUMBER.match(caller):
        raise ValueError("number and caller must be dialled numbers")
    args = [SANDBOX_SIP, "-s", number, "-p", str(free_port(socket.SOCK_DGRAM)), "-key", "caller", caller,
            "-l", str(limit)]
    if message_log is not None:
        args += ["-trace_msg", "-message_file", str(message_log)]
    if rate is not None:
        args += ["-r", str(rate)]
    return await _run_sipp(xml, args, calls=calls, timeout_s=timeout_s)


def agent_scenario(ring_ms: int, talk_ms: int) -> str:
    """The agent phone scenario XML (sipp/agent_uas.xml): ring, answer, talk, then hang up (0: never)."""
    if ring_ms < 0 or talk_ms < 0:
        raise ValueError("ring_ms and talk_ms must not be negative")
    return ((SCENARIOS_DIR / "agent_uas.xml").read_text()
            .replace("@RING_MS@", str(int(ring_ms))).replace("@TALK_MS@", str(int(talk_ms))))


async def run_agent(port: int, ring_ms: int, talk_ms: int, calls: int = 1, timeout_s: float = 60,
                    message_log: Path | None = None) -> SippRun:
    """An agent phone (UAS) on 127.0.0.1:<port>: answers `calls` calls after ring_ms, hangs up after talk_ms.

    talk_ms=0: the agent never hangs up; it waits for Asterisk's BYE. Returns when SIPp exits (after
    `calls` calls, or with an error after timeout_s). message_log: SIPp writes every message there with the
    time it was sent or received (see invite_times).
    """
    trace = ["-trace_msg", "-message_file", str(message_log)] if message_log is not None else []
    return await _run_sipp(agent_scenario(ring_ms, talk_ms), ["-p", str(int(port)), *trace], calls=calls,
                           timeout_s=timeout_s)


def invite_times(message_log: Path) -> list[datetime]:
    """When each INVITE reached the phone, from a SIPp message log (its timestamps are the machine's local
    time, UTC on these machines)."""
    times = []
    stamp: datetime | None = None
    for line in message_log.read_text(errors="replace").splitlines():
        if line.startswith("-----") and line.count(" ") >= 2:
            try:
                stamp = datetime.strptime(" ".join(line.split()[1:3]), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
            except ValueError:
                stamp = None
        elif line.startswith("INVITE ") and stamp is not None:
            times.append(stamp)
            stamp = None
    return times


async def start_agent(port: int, ring_ms: int, talk_ms: int, calls: int = 1, timeout_s: float = 60,
                      bind_timeout_s: float = 5, message_log: Path | None = None) -> asyncio.Task[SippRun]:
    """run_agent in the background; returns its task once SIPp listens on the port, so calls can follow.

    Usage: ``agent = await start_agent(5101, 1000, 2000)``, then
    ``call, answered = await asyncio.gather(place_call(...), agent)``. If SIPp exits before binding
    (e.g. the port is busy), the task is returned at once and awaiting it gives SIPp's output.
    """
    task = asyncio.create_task(run_agent(port, ring_ms, talk_ms, calls=calls, timeout_s=timeout_s,
                                         message_log=message_log))
    await _until_bound(port, task, bind_timeout_s)
    return task


async def start_phone(xml: str, port: int, calls: int = 1, timeout_s: float = 60,
                      message_log: Path | None = None) -> asyncio.Task[SippRun]:
    """A phone (UAS) running its own scenario XML on 127.0.0.1:<port>, started like start_agent."""
    trace = ["-trace_msg", "-message_file", str(message_log)] if message_log is not None else []
    task = asyncio.create_task(_run_sipp(xml, ["-p", str(int(port)), *trace], calls=calls, timeout_s=timeout_s))
    await _until_bound(port, task)
    return task


def agent_hold_scenario(ring_ms: int, talk_ms: int, hold_ms: int, after_ms: int) -> str:
    """The agent phone that holds (sipp/agent_hold.xml): ring, answer, talk, re-INVITE sendonly, hold, re-INVITE
    sendrecv, talk, hang up."""
    times = {"RING_MS": ring_ms, "TALK_MS": talk_ms, "HOLD_MS": hold_ms, "AFTER_MS": after_ms}
    if any(value < 0 for value in times.values()):
        raise ValueError("the times must not be negative")
    text = (SCENARIOS_DIR / "agent_hold.xml").read_text()
    for name, value in times.items():
        text = text.replace(f"@{name}@", str(int(value)))
    return text


async def start_holding_agent(port: int, ring_ms: int, talk_ms: int, hold_ms: int, after_ms: int,
                              timeout_s: float = 60, message_log: Path | None = None) -> asyncio.Task[SippRun]:
    """An agent phone (UAS) on 127.0.0.1:<port> that answers one call, holds the caller for hold_ms after talk_ms
    and hangs up after_ms after taking them back; started like start_agent."""
    trace = ["-trace_msg", "-message_file", str(message_log)] if message_log is not None else []
    task = asyncio.create_task(_run_sipp(agent_hold_scenario(ring_ms, talk_ms, hold_ms, after_ms),
                                         ["-p", str(int(port)), *trace], calls=1, timeout_s=timeout_s))
    await _until_bound(port, task)
    return task


async def start_transferring_agent(port: int, ring_ms: int, talk_ms: int, target: str,
                                   timeout_s: float = 60) -> asyncio.Task[SippRun]:
    """An agent phone (sipp/agent_refers.xml) that answers after ring_ms, talks talk_ms, then blind-transfers the
    caller to `target` (digits, what the agent keys) with a REFER; started like start_agent."""
    if not DIALED_NUMBER.match(target) or ring_ms < 0 or talk_ms <= 0:
        raise ValueError("target must be a dialled number, ring_ms >= 0 and talk_ms > 0")
    xml = ((SCENARIOS_DIR / "agent_refers.xml").read_text().replace("@RING_MS@", str(int(ring_ms)))
           .replace("@TALK_MS@", str(int(talk_ms))).replace("@TARGET@", target).replace("@ASTERISK@", SANDBOX_SIP))
    task = asyncio.create_task(_run_sipp(xml, ["-p", str(int(port))], calls=1, timeout_s=timeout_s))
    await _until_bound(port, task)
    return task


async def start_busy_phone(port: int, calls: int = 1, timeout_s: float = 60) -> asyncio.Task[SippRun]:
    """An agent phone that answers every INVITE 486 Busy Here (sipp/agent_busy.xml), started like start_agent."""
    task = asyncio.create_task(_run_sipp((SCENARIOS_DIR / "agent_busy.xml").read_text(), ["-p", str(int(port))],
                                         calls=calls, timeout_s=timeout_s))
    await _until_bound(port, task)
    return task


async def _until_bound(port: int, task: asyncio.Task[SippRun], bind_timeout_s: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bind_timeout_s
    while not task.done():
        bound = udp_port_bound(port)
        if bound is None:  # cannot tell: give SIPp the time it usually needs
            await asyncio.sleep(0.3)
            break
        if bound:
            break
        if loop.time() > deadline:
            task.cancel()
            raise RuntimeError(f"SIPp phone did not bind 127.0.0.1:{port} within {bind_timeout_s}s")
        await asyncio.sleep(0.05)


def udp_port_bound(port: int) -> bool | None:
    """Whether a UDP socket is bound to 127.0.0.1:<port> (or 0.0.0.0), read from /proc/net/udp: a probe
    bind() could steal the port from a process starting up. None if that file cannot be read."""
    wanted = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return None
    return any(fields[1] in wanted for fields in (line.split() for line in lines) if len(fields) > 1)


async def _run_sipp(xml: str, args: list[str], *, calls: int, timeout_s: float, local_ip: str = "127.0.0.1") -> SippRun:
    """One SIPp process on local_ip with its own media port, running `xml` with the role-specific `args`."""
    workdir = Path(tempfile.mkdtemp(prefix="callcontrol-sipp-"))
    scenario_path = workdir / "scenario.xml"
    scenario_path.write_text(xml)
    stats = workdir / "stats.csv"
    args = ["sipp", *args, "-sf", str(scenario_path), "-i", local_ip, "-mp", str(free_media_port()),
            "-m", str(calls), "-nostdin", "-timeout", str(int(timeout_s)), "-timeout_error",
            "-trace_stat", "-stf", str(stats), "-fd", "1"]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, cwd=workdir)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s + 15)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    except asyncio.CancelledError:  # never leave a SIPp behind (it would hold its ports)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
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


AGENT_PHONES_IP = "127.0.0.2"  # where agent phones call from (dialplan/pjsip.conf); the trunk is 127.0.0.1


async def place_agent_call(phone: str, number: str, digits: list[tuple[int, str]] | None = None,
                           hangup_after_ms: int | None = None, timeout_s: float = 60) -> SippRun:
    """A call from an agent phone (its SIP user, e.g. agent1001) to `number`, e.g. the *70 login line."""
    if not DEVICE_NAME.match(phone) or not DIALED_NUMBER.match(number):
        raise ValueError("phone must be a SIP user name and number a dialled number")
    args = [SANDBOX_SIP, "-s", number, "-p", str(free_port(socket.SOCK_DGRAM)), "-key", "caller", phone]
    return await _run_sipp(scenario(digits, hangup_after_ms), args, calls=1, timeout_s=timeout_s,
                           local_ip=AGENT_PHONES_IP)


async def place_call(caller: str, number: str = "5000", digits: list[tuple[int, str]] | None = None,
                     hangup_after_ms: int | None = None, timeout_s: float = 60) -> SippRun:
    """One call from `caller` to `number`; returns when SIPp exits."""
    return await run_sipp(scenario(digits, hangup_after_ms), number, caller, timeout_s=timeout_s)
