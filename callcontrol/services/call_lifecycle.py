"""The life of calls in the service: AGI requests routed by script, records around the IVR, the callback leg.

Also what a start takes back from the previous run: its unfinished records (closed from Asterisk's hangup log
when they ended meanwhile), the ACD's configuration, agent states, booked callbacks and today's history.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

from callcontrol.core.acd.history import day_start, handled_calls
from callcontrol.core.calls import CallRecord, EndReason
from callcontrol.core.events import ChannelHungUp, device_of
from callcontrol.core.ivr import IvrState
from callcontrol.core.identifiers import ASTERISK_ID
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.agent_phone import agent_login_line
from callcontrol.services.agent_pins import AgentPins
from callcontrol.services.call_log import CallLog
from callcontrol.services.flow_catalog import FlowCatalog
from callcontrol.services.ivr_session import run_flow
from callcontrol.services.recording_ports import FlowRecorder
from callcontrol.services.transfers import PHONE_TRANSFER_SCRIPT, TRANSFER_SCRIPT, TransferDesk
from callcontrol.services.ports import (
    AcdStore,
    AgiChannel,
    AgiRequest,
    CallerRef,
    CallRecordStore,
    Clock,
    HangupLog,
    HttpClient,
)

log = structlog.get_logger(__name__)

IVR_SCRIPT = "ivr"
AGENT_LOGIN_SCRIPT = "agent-login"  # the agents' feature code (dialplan [agents-out])
CALLBACK_SCRIPT = "callback"  # an agent answered a booked callback (dialplan [callcontrol-callback])
SUPERVISE_SCRIPT = "supervise"  # a supervisor's own phone on the supervision line (dialplan [supervisors-out])
TRANSFER_SCRIPTS = frozenset({TRANSFER_SCRIPT, PHONE_TRANSFER_SCRIPT})  # a transferred caller back (cc-transfer)


class CallLifecycle:
    def __init__(self, calls: CallLog, acd: AcdDesk, catalog: FlowCatalog, agent_pins: AgentPins,
                 http: HttpClient, clock: Clock, store: CallRecordStore, acd_store: AcdStore,
                 hangup_log: HangupLog) -> None:
        self.calls = calls
        self.acd = acd
        self.catalog = catalog
        self.agent_pins = agent_pins
        self.http = http
        self.clock = clock
        self.store = store
        self.acd_store = acd_store
        self.hangup_log = hangup_log
        self.recorder: FlowRecorder | None = None  # records the IVR part (record_ivr), mutes secure inputs
        # the supervision line (services/supervisor_phone.py): (channel, device, uniqueid) -> what happened
        self.supervisor_line: Callable[[AgiChannel, str, str], Awaitable[str]] | None = None
        self.transfers: TransferDesk | None = None  # the transfer legs of blind-transferred callers

    async def handle_call(self, request: AgiRequest, channel: AgiChannel) -> None:
        """One call in the IVR phase. A call this returns from without CALLCONTROL_DONE=1 goes to the fallback."""
        if request.script == AGENT_LOGIN_SCRIPT and ASTERISK_ID.match(request.uniqueid):
            with structlog.contextvars.bound_contextvars(call_id=request.uniqueid):
                device = device_of(request.channel)
                outcome = await agent_login_line(channel, device, self.acd, self.agent_pins)
                log.info("agent_phone.call_ended", device=device[:64], outcome=outcome)
            return
        if request.script == SUPERVISE_SCRIPT and self.supervisor_line is not None \
                and ASTERISK_ID.match(request.uniqueid):
            with structlog.contextvars.bound_contextvars(call_id=request.uniqueid):
                device = device_of(request.channel)
                outcome = await self.supervisor_line(channel, device, request.uniqueid)
                log.info("supervisor_phone.call_ended", device=device[:64], outcome=outcome)
            return
        if request.script == CALLBACK_SCRIPT and ASTERISK_ID.match(request.arg(1)) \
                and ASTERISK_ID.match(request.uniqueid):
            await self._callback_leg(request, channel)
            return
        if request.script in TRANSFER_SCRIPTS and self.transfers is not None and ASTERISK_ID.match(request.arg(1)) \
                and ASTERISK_ID.match(request.uniqueid):
            with structlog.contextvars.bound_contextvars(call_id=request.arg(1)):
                ended = await self.transfers.run_leg(request, channel, request.arg(1))
                log.info("transfer.leg_ended", outcome=ended)
            return
        if request.script != IVR_SCRIPT or not ASTERISK_ID.match(request.uniqueid):
            log.warning("agi.unknown_request", script=request.script[:40])
            return
        call_id = request.arg(1) if ASTERISK_ID.match(request.arg(1)) else request.uniqueid
        with structlog.contextvars.bound_contextvars(call_id=call_id):
            await self._ivr_call(request, channel, call_id)

    async def _ivr_call(self, request: AgiRequest, channel: AgiChannel, call_id: str) -> None:
        """The caller in the flow its dialled number selects; its record opens now and its IVR part ends here."""
        flow, library = self.catalog.for_call(request.dialed_number)
        self.calls.call_started(CallRecord(
            call_id=call_id, uniqueid=request.uniqueid, channel=request.channel,
            caller_number=request.caller_number, caller_name=request.caller_name,
            dialed_number=request.dialed_number, started_at=self.clock.now(),
            flow_id=flow.id if flow else None, flow_version=flow.version if flow else None,
        ))
        if flow is None:
            log.warning("call.no_flow", dialed_number=request.dialed_number[:32])
            self.calls.ivr_ended(call_id, EndReason.NO_FLOW, [])
            return
        latest: deque[IvrState] = deque(maxlen=1)  # the newest state, for an interrupted walk

        def walked(state: IvrState) -> None:
            latest.append(state)
            self.calls.walked(call_id, state)  # written with the next flush
        try:
            facts = {"caller.number": request.caller_number, "caller.name": request.caller_name,
                     "call.dialed": request.dialed_number}
            result = await run_flow(flow, channel, self.clock, on_step=walked,
                                    on_answered=lambda: self.calls.answered(call_id), facts=facts,
                                    http=self.http, queues=self.acd, library=library,
                                    caller=CallerRef(call_id, request.uniqueid, request.channel,
                                                     request.caller_number), recorder=self.recorder)
        except asyncio.CancelledError:
            self.calls.ivr_ended(call_id, EndReason.SERVICE_SHUTDOWN, _path(latest))
            raise
        if result.error:
            log.error("call.ivr_error", error=result.error)
        self.calls.ivr_ended(call_id, result.reason, [step.as_dict() for step in result.path],
                             result.variables)

    async def _callback_leg(self, request: AgiRequest, channel: AgiChannel) -> None:
        """The agent's leg of a booked callback: its own call record (the agent called the customer back)."""
        with structlog.contextvars.bound_contextvars(call_id=request.uniqueid):
            device = device_of(request.channel)
            self.calls.call_started(CallRecord(
                call_id=request.uniqueid, uniqueid=request.uniqueid, channel=request.channel,
                caller_number=device, caller_name="callback", dialed_number="", started_at=self.clock.now()))
            leg = await self.acd.run_callback_leg(channel, request.arg(1), device)
            self.calls.ivr_ended(
                request.uniqueid, EndReason.TRANSFERRED if leg.outcome == "connected" else EndReason.FLOW_HANGUP,
                [{"node": "callback", "result": leg.outcome, "at": self.clock.now().isoformat()}],
                {"callback_for": leg.booked_by, "agent": leg.agent, "number": leg.number})
            log.info("acd.callback_leg_ended", outcome=leg.outcome)

    # ------------------------------------------------------------------ after a restart

    async def take_over(self) -> None:
        """At start: adopt what the previous run left (records, ACD configuration, agent states, callbacks)."""
        unfinished = await self.store.load_active()
        self.calls.adopt_unfinished(unfinished, await self.hangups_of(unfinished))
        agents, queues = await self.acd_store.load_config()
        self.acd.configure(queues, agents)
        await self.restore_history(unfinished)
        self.acd.restore({agent_id: (state, reason) for agent_id, (state, reason, _) in
                          (await self.acd_store.latest_states()).items()})
        self.acd.restore_callbacks(await self.acd_store.booked_callbacks())
        log.info("acd.configured", agents=len(agents), queues=[queue.id for queue in queues])

    async def hangups_of(self, records: list[CallRecord]) -> list[ChannelHungUp]:
        """Asterisk's logged hangups of these calls (none without a hangup log, or when it cannot be read)."""
        if not records:
            return []
        try:
            return await self.hangup_log.hangups({record.call_id for record in records},
                                                 min(record.started_at for record in records))
        except OSError as exc:
            log.warning("hangup_log.unreadable", error=f"{type(exc).__name__}: {exc}"[:300])
            return []

    async def restore_history(self, adopted: list[CallRecord]) -> None:
        """Agents' calls and talk today and the queues' handle times, from today's records (those adopted
        just now as they are after adoption: closed from the hangup log, or still going on)."""
        today = {record.call_id: record for record in await self.store.started_since(day_start(self.clock.now()))}
        today.update({record.call_id: record for record in adopted if record.call_id in today})
        handled = handled_calls(today.values())
        self.acd.distributor.restore_history(handled)
        log.info("acd.history_restored", conversations=len(handled))


def _path(latest: deque[IvrState]) -> list[dict[str, str]]:
    """The path of the newest IVR state seen, for a walk that was interrupted."""
    return [step.as_dict() for step in latest[-1].path] if latest else []
