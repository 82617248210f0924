"""Composition root of `callcontrol serve`: builds the adapters and services, owns every task, shuts down cleanly."""

from __future__ import annotations

import asyncio
from collections import deque

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError

from callcontrol.adapters.agi import AgiConnection, AgiRequest, FastAgiServer
from callcontrol.adapters.ami import AmiClient, AmiPbx, translate
from callcontrol.adapters.db.acd_store import SqlAcdStore
from callcontrol.adapters.db.schema import schema_status
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.adapters.flow_watch import FlowWatcher
from callcontrol.adapters.hangup_log import CelHangupLog
from callcontrol.adapters.http_api import HttpServer, make_app
from callcontrol.adapters.http_client import AiohttpClient
from callcontrol.core.acd.history import day_start, handled_calls
from callcontrol.core.calls import CallRecord, EndReason
from callcontrol.core.domain_events import (
    AgentStateChanged,
    CallbackBooked,
    CallbackDone,
    QueueStintEnded,
    QueueStintProgressed,
)
from callcontrol.core.events import (
    ChannelCreated,
    ChannelHungUp,
    ChannelsSnapshot,
    DeviceStateChanged,
    DialEnded,
    device_of,
)
from callcontrol.core.ivr import IvrState
from callcontrol.core.tokens import ASTERISK_ID
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.agent_phone import agent_login_line
from callcontrol.services.agent_pins import AgentPins
from callcontrol.services.call_log import CallLog
from callcontrol.services.dialplan_queues import DialplanQueueDesk
from callcontrol.services.event_bus import EventBus
from callcontrol.services.flow_catalog import FlowCatalog
from callcontrol.services.ivr_session import run_flow
from callcontrol.services.ports import CallerRef, HangupLog, NoHangupLog, SystemClock
from callcontrol.services.record_writer import BatchWriter, RecordWriter, TransitionWriter
from callcontrol.settings import Settings

log = structlog.get_logger(__name__)

IVR_SCRIPT = "ivr"
AGENT_LOGIN_SCRIPT = "agent-login"  # the agents' feature code (dialplan [agents-out])
CALLBACK_SCRIPT = "callback"  # an agent answered a booked callback (dialplan [callcontrol-callback])
DRAIN_TIMEOUT_S = 15.0


class StartupError(RuntimeError):
    """The service cannot start; the message says why and what to do."""


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = SystemClock()
        self.catalog = FlowCatalog()
        self.flow_watcher = FlowWatcher(settings.flows_dir, self.catalog, now=self.clock.now,
                                        sounds_dir=settings.sounds_dir)
        self._engine = make_engine(settings.database_url)
        self.store = SqlCallRecordStore(self._engine)
        self.writer = RecordWriter(self.store)
        self.calls = CallLog(self.writer, self.clock)
        self.hangup_log: HangupLog = CelHangupLog(settings.asterisk_hangup_log) \
            if settings.asterisk_hangup_log is not None else NoHangupLog()
        self.acd_store = SqlAcdStore(self._engine)
        self.transitions = TransitionWriter(self.acd_store)
        self.callbacks = BatchWriter(self.acd_store.callbacks_changed, "acd_callbacks")
        self.ami = AmiClient(
            settings.ami_host, settings.ami_port, settings.ami_username, settings.require_ami_secret(),
            ping_interval_s=settings.ami_ping_interval_s, ping_timeout_s=settings.ami_ping_timeout_s,
            action_timeout_s=settings.ami_action_timeout_s, reconnect_min_s=settings.ami_reconnect_min_s,
            reconnect_max_s=settings.ami_reconnect_max_s,
        )
        # queues the ACD does not define are rung by the operator's dialplan ([callcontrol-queues])
        self.events = EventBus()
        self._subscribe()
        self.acd = AcdDesk((), (), AmiPbx(self.ami), self.clock, events=self.events, fallback=DialplanQueueDesk(),
                           max_misses=settings.acd_max_misses, busy_retry_s=settings.acd_busy_retry_s)
        self.agent_pins = AgentPins(self.acd_store, self.clock)  # one attempt limit for the API and the phones
        self.agi = FastAgiServer(settings.agi_host, settings.agi_port, self.handle_call,
                                 header_timeout_s=settings.agi_header_timeout_s)
        self.http = HttpServer(make_app(self.not_ready_reasons, flows=self.catalog, acd=self.acd,
                                        api_token=settings.api_token, acd_store=self.acd_store,
                                        agent_pins=self.agent_pins),
                               settings.http_host, settings.http_port)
        self.http_client = AiohttpClient()
        self._tasks: list[asyncio.Task[None]] = []
        self._schema_problem: str | None = "schema not checked yet"

    def _subscribe(self) -> None:
        """Who hears the domain events. The call log is inline: its stints stay in order with the call path's
        direct calls (a stint ended just before the IVR ends is in the record that end closes)."""
        self.events.subscribe("call-log-stint", lambda event: self.calls.stint_progress(event.call_id, event.stint),
                              QueueStintProgressed, inline=True)
        self.events.subscribe("call-log-stints", lambda event: self.calls.queue_stint(event.call_id, event.stint),
                              QueueStintEnded, inline=True)
        self.events.subscribe("transition-writer", lambda event: self.transitions.submit(event.transition),
                              AgentStateChanged)
        self.events.subscribe("callback-writer", lambda event: self.callbacks.submit(
            ("booked" if isinstance(event, CallbackBooked) else "done", event.callback)), CallbackBooked, CallbackDone)

    def not_ready_reasons(self) -> list[str]:
        reasons = []
        if not self.ami.ready:
            reasons.append(self.ami.problem or "AMI not logged in")
        if self._schema_problem:
            reasons.append(self._schema_problem)
        for writer in (self.writer, self.transitions, self.callbacks):
            if writer.problem:
                reasons.append(writer.problem)
        return reasons

    async def _check_database(self) -> None:
        where = self.settings.database_url_for_display()
        try:
            status = await schema_status(self._engine, self.settings.migrations_dir)
        except (OSError, OperationalError, DBAPIError) as exc:
            raise StartupError(f"database unreachable at {where}: {exc.__class__.__name__}: "
                               f"{str(getattr(exc, 'orig', exc))[:300]}") from None
        if not status.is_current:
            raise StartupError(f"database {where}: {status.describe()}")
        self._schema_problem = None

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down in order and return."""
        await self._check_database()
        self.flow_watcher.reload_now()
        unfinished = await self.store.load_active()
        self.calls.adopt_unfinished(unfinished, await self._hangups_of(unfinished))
        agents, queues = await self.acd_store.load_config()
        self.acd.configure(queues, agents)
        await self._restore_history(unfinished)
        self.acd.restore({agent_id: (state, reason) for agent_id, (state, reason, _) in
                          (await self.acd_store.latest_states()).items()})
        self.acd.restore_callbacks(await self.acd_store.booked_callbacks())
        log.info("acd.configured", agents=len(agents), queues=[queue.id for queue in queues])
        await self.http.start()
        try:
            self._tasks = [
                asyncio.create_task(self.events.run(), name="event-bus"),
                asyncio.create_task(self.writer.run(), name="record-writer"),
                asyncio.create_task(self.calls.run_flusher(), name="record-flusher"),
                asyncio.create_task(self.ami.run(), name="ami-session"),
                asyncio.create_task(self._dispatch_channel_events(), name="ami-dispatcher"),
                asyncio.create_task(self.flow_watcher.run(), name="flow-watcher"),
                asyncio.create_task(self.transitions.run(), name="transition-writer"),
                asyncio.create_task(self.callbacks.run(), name="callback-writer"),
                asyncio.create_task(self.acd.run(), name="acd"),
            ]
            await self.agi.start()
            log.info("service.started", agi=f"{self.settings.agi_host}:{self.agi.port}",
                     http=f"{self.settings.http_host}:{self.settings.http_port}",
                     database=self.settings.database_url_for_display())
            await stop.wait()
            log.info("service.stopping", calls_in_ivr=self.agi.active_sessions)
            await self.agi.stop(self.settings.shutdown_grace_s)
            await self.events.drain(DRAIN_TIMEOUT_S)
            self.calls.flush()
            await self.writer.drain(DRAIN_TIMEOUT_S)
            await self.transitions.drain(DRAIN_TIMEOUT_S)
            await self.callbacks.drain(DRAIN_TIMEOUT_S)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.agi.stop(0)
            await self.http.stop()
            await self.http_client.close()
            await self._engine.dispose()
            log.info("service.stopped", records_written=self.writer.written, calls_open=self.calls.active_count,
                     agi_digit_latency=self.agi.digit_latency.summary())

    async def _hangups_of(self, records: list[CallRecord]) -> list[ChannelHungUp]:
        """Asterisk's logged hangups of these calls (none without a hangup log, or when it cannot be read)."""
        if not records:
            return []
        try:
            return await self.hangup_log.hangups({record.call_id for record in records},
                                                 min(record.started_at for record in records))
        except OSError as exc:
            log.warning("hangup_log.unreadable", error=f"{type(exc).__name__}: {exc}"[:300])
            return []

    async def _restore_history(self, adopted: list[CallRecord]) -> None:
        """Agents' calls and talk today and the queues' handle times, from today's records (those adopted
        just now as they are after adoption: closed from the hangup log, or still going on)."""
        today = {record.call_id: record for record in await self.store.started_since(day_start(self.clock.now()))}
        today.update({record.call_id: record for record in adopted if record.call_id in today})
        handled = handled_calls(today.values())
        self.acd.distributor.restore_history(handled)
        log.info("acd.history_restored", conversations=len(handled))

    async def _callback_leg(self, request: AgiRequest, channel: AgiConnection) -> None:
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

    async def _dispatch_channel_events(self) -> None:
        """The single consumer of AMI events: in order, and one bad event never stops the rest."""
        while True:
            message = await self.ami.events.get()
            try:
                event = translate(message, self.clock.now())
                if isinstance(event, (DialEnded, DeviceStateChanged)):
                    self.acd.apply(event)
                elif isinstance(event, ChannelCreated):
                    self.acd.channel_changed(event)
                elif isinstance(event, ChannelsSnapshot):  # calls it finds gone take their end from the log
                    self.calls.apply(event, await self._hangups_of(self.calls.gone_in(event)))
                    self.acd.channels_resynced(event)
                elif event is not None:
                    self.calls.apply(event)
                    if isinstance(event, ChannelHungUp):
                        self.acd.channel_changed(event)
            except Exception:
                log.exception("ami.event_failed", ami_event=getattr(message, "get", lambda *_: "?")("Event"))

    async def handle_call(self, request: AgiRequest, channel: AgiConnection) -> None:
        """One call in the IVR phase. A call this returns from without CALLCONTROL_DONE=1 goes to the fallback."""
        if request.script == AGENT_LOGIN_SCRIPT and ASTERISK_ID.match(request.uniqueid):
            with structlog.contextvars.bound_contextvars(call_id=request.uniqueid):
                device = device_of(request.channel)
                outcome = await agent_login_line(channel, device, self.acd, self.agent_pins)
                log.info("agent_phone.call_ended", device=device[:64], outcome=outcome)
            return
        if request.script == CALLBACK_SCRIPT and ASTERISK_ID.match(request.arg(1)) \
                and ASTERISK_ID.match(request.uniqueid):
            await self._callback_leg(request, channel)
            return
        if request.script != IVR_SCRIPT or not ASTERISK_ID.match(request.uniqueid):
            log.warning("agi.unknown_request", script=request.script[:40])
            return
        call_id = request.arg(1) if ASTERISK_ID.match(request.arg(1)) else request.uniqueid
        with structlog.contextvars.bound_contextvars(call_id=call_id):
            flow, library = self.catalog.for_call(request.dialed_number)
            self.calls.call_started(CallRecord(
                call_id=call_id, uniqueid=request.uniqueid, channel=request.channel,
                caller_number=request.caller_number, caller_name=request.caller_name,
                dialed_number=request.dialed_number, started_at=self.clock.now(),
                flow_id=flow.id if flow else None, flow_version=flow.version if flow else None,
            ))
            if flow is None:
                log.warning("call.no_flow", dialed_number=request.dialed_number[:32])
                self.calls.ivr_ended(request.uniqueid, EndReason.NO_FLOW, [])
                return
            latest: deque[IvrState] = deque(maxlen=1)  # the newest state, for an interrupted walk

            def walked(state: IvrState) -> None:
                latest.append(state)
                self.calls.walked(request.uniqueid, state)  # written with the next flush
            try:
                facts = {"caller.number": request.caller_number, "caller.name": request.caller_name,
                         "call.dialed": request.dialed_number}
                result = await run_flow(flow, channel, self.clock, on_step=walked,
                                        on_answered=lambda: self.calls.answered(request.uniqueid), facts=facts,
                                        http=self.http_client, queues=self.acd, library=library,
                                        caller=CallerRef(call_id, request.uniqueid, request.channel, request.caller_number))
            except asyncio.CancelledError:
                self.calls.ivr_ended(request.uniqueid, EndReason.SERVICE_SHUTDOWN, _path(latest))
                raise
            if result.error:
                log.error("call.ivr_error", error=result.error)
            self.calls.ivr_ended(request.uniqueid, result.reason, [step.as_dict() for step in result.path],
                                 result.variables)


def _path(latest: deque[IvrState]) -> list[dict[str, str]]:
    """The path of the newest IVR state seen, for a walk that was interrupted."""
    return [step.as_dict() for step in latest[-1].path] if latest else []
