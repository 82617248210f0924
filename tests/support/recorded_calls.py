"""Helpers of the real-call recording and people tests: a talking queue call, the registry and the audit trail read
straight from the service's database, users made with the real `callcontrol users add`."""

from __future__ import annotations

import asyncio

from callcontrol.adapters.db.people_store import SqlAuditTrail
from callcontrol.adapters.db.recording_store import RecordingFilter, SqlRecordingRegistry
from callcontrol.adapters.db.store import make_engine
from callcontrol.core.audit import AuditEntry
from callcontrol.core.recordings import Recording
from callcontrol.devtools.sipp import SPEAK, SippRun, place_call, start_agent
from tests.support.service_process import ServiceProcess

ADA_PORT = 5101  # the sandbox's PJSIP/agent1001 registers from here


async def talking_call(caller: str, talk_ms: int, agent_talk_ms: int, hangup_after_ms: int | None = None,
                       number: str = "5002") -> tuple[SippRun, SippRun]:
    """A caller who talks (a tone, one RTP stream) for talk_ms from 0.5 s; ada answers after 0.5 s of ringing
    and hangs up after agent_talk_ms. MixMonitor writes a frame for each frame of media: a phone sends RTP all
    the time (no silence suppression), so the caller's voice is what keeps the file's clock."""
    phone = await start_agent(ADA_PORT, 500, agent_talk_ms, timeout_s=60)
    try:
        speech = [(500, f"{SPEAK}:{talk_ms}")]
        return tuple(await asyncio.gather(  # type: ignore[return-value]
            place_call(caller, number=number, digits=speech, hangup_after_ms=hangup_after_ms, timeout_s=60),
            phone))
    finally:
        phone.cancel()
        await asyncio.gather(phone, return_exceptions=True)


async def registered(database_url: str, **wanted: str) -> list[Recording]:
    """The recordings registry as the service wrote it."""
    engine = make_engine(database_url)
    try:
        return await SqlRecordingRegistry(engine).find(RecordingFilter(**wanted))
    finally:
        await engine.dispose()


async def final_recording(database_url: str, call_id: str) -> Recording | None:
    """The call's recording once it is no longer live (None before)."""
    found = [r for r in await registered(database_url, call_id=call_id) if not r.live]
    return found[0] if found else None


async def audit_entries(database_url: str) -> list[AuditEntry]:
    """Every row of audit_events, newest first."""
    engine = make_engine(database_url)
    try:
        return await SqlAuditTrail(engine).entries(limit=10_000)
    finally:
        await engine.dispose()


async def add_user(service: ServiceProcess, *args: str) -> str:
    """`callcontrol users add <args>` against the service's database; returns the token it printed."""
    code, out = await service.cli("users", "add", *args)
    assert code == 0, out
    return out.strip().splitlines()[-1]
