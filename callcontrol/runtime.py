"""Composition root of `callcontrol serve`: builds the adapters and services, owns every task, shuts down cleanly."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError

from callcontrol.adapters.agi_server import FastAgiServer
from callcontrol.adapters.ami import AmiClient, AmiPbx, translate
from callcontrol.adapters.db.acd_store import SqlAcdStore
from callcontrol.adapters.db.people_store import SqlAuditTrail, SqlPeopleStore
from callcontrol.adapters.db.schema import schema_status
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.adapters.flow_watch import FlowWatcher
from callcontrol.adapters.hangup_log import CelHangupLog
from callcontrol.adapters.http.app import HttpServer, make_app
from callcontrol.adapters.http.recordings import RecordingsApi
from callcontrol.adapters.http_client import AiohttpClient
from callcontrol.adapters.ami_recording import AmiRecordingControls
from callcontrol.adapters.ami_supervision import AmiSupervisorPhones
from callcontrol.adapters.http.scope import AcdScope
from callcontrol.adapters.ami_transfer import AmiTransfers
from callcontrol.adapters.db.recording_store import SqlRecordingRegistry
from callcontrol.adapters.recording_files import RecordingDirectory
from callcontrol.core.acd.errors import AcdError
from callcontrol.core.identifiers import ASTERISK_DIR
from callcontrol.core.permissions import Principal, Role
from callcontrol.core.recording_policy import RecordingPolicy
from callcontrol.core.wrapup import WrapupPolicy
from callcontrol.core.transfers import AllowLists, parse_phone_codes
from callcontrol.core.domain_events import (
    AgentAnswered,
    AgentStateChanged,
    CallHoldChanged,
    CallbackBooked,
    CallbackDone,
    ConversationStarted,
    QueueStintEnded,
    QueueStintProgressed,
)
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.agent_calls import AgentCall, AgentCallTracker
from callcontrol.services.agent_legs import AgentLegHolds
from callcontrol.services.agent_pins import AgentPins
from callcontrol.services.ami_routing import AmiRouting, ami_routes
from callcontrol.services.call_lifecycle import CallLifecycle
from callcontrol.services.call_log import CallLog
from callcontrol.services.dialplan_queues import DialplanQueueDesk
from callcontrol.services.event_bus import EventBus
from callcontrol.services.flow_catalog import FlowCatalog
from callcontrol.services.live_calls import LiveCalls, RecordingStateTap
from callcontrol.services.login_attempts import LoginAttempts
from callcontrol.services.people import People
from callcontrol.services.ports import HangupLog, NoHangupLog, SystemClock
from callcontrol.services.recording_recovery import OpenRecordingRecovery
from callcontrol.services.recording_retention import RecordingPurger
from callcontrol.services.recordings import CallRecorder
from callcontrol.services.supervision import Supervision
from callcontrol.services.supervisor_phone import SupervisorLine
from callcontrol.services.record_writer import BatchWriter, RecordWriter, TransitionWriter
from callcontrol.services.wrapups import Wrapups
from callcontrol.services.transfers import TransferDesk
from callcontrol.settings import Settings

log = structlog.get_logger(__name__)

DRAIN_TIMEOUT_S = 15.0
WRITE_LINGER_S = 0.05  # a writer woken by one row waits this long for more: one transaction for several calls


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
        self.writer = RecordWriter(self.store, linger_s=WRITE_LINGER_S)
        self.calls = CallLog(self.writer, self.clock)
        self.hangup_log: HangupLog = CelHangupLog(settings.asterisk_hangup_log) \
            if settings.asterisk_hangup_log is not None else NoHangupLog()
        self.acd_store = SqlAcdStore(self._engine)
        self.transitions = TransitionWriter(self.acd_store, linger_s=WRITE_LINGER_S)
        self.callbacks = BatchWriter(self.acd_store.callbacks_changed, "acd_callbacks")
        self.ami = AmiClient(
            settings.ami_host, settings.ami_port, settings.ami_username, settings.require_ami_secret(),
            ping_interval_s=settings.ami_ping_interval_s, ping_timeout_s=settings.ami_ping_timeout_s,
            action_timeout_s=settings.ami_action_timeout_s, reconnect_min_s=settings.ami_reconnect_min_s,
            reconnect_max_s=settings.ami_reconnect_max_s,
        )
        self.events = EventBus()
        self.recording_files = RecordingDirectory(settings.recordings_dir, settings.recordings_asterisk_dir
                                                  or str(settings.recordings_dir))
        self.recordings = SqlRecordingRegistry(self._engine)
        self.live_calls = LiveCalls(self.clock)  # the calls in progress (/api/calls, the feed's call events)
        self.recorder = CallRecorder(RecordingStateTap(self.recordings, self.live_calls.recording_saved),
                                     self.recording_files, AmiRecordingControls(self.ami),
                                     self.clock, self._recording_policy)
        self.holds = AgentLegHolds(self.calls, self.events)  # the phones' Hold/Unhold: the legs' hold spans
        self.purger = RecordingPurger(self.recordings, self.recording_files, self.clock,
                                      settings.recordings_purge_interval_s)
        self.calls.events = self.events  # CallStarted, CallEnded
        self._subscribe()
        self._phone_codes = parse_phone_codes(settings.transfer_phone_codes)
        # queues the ACD does not define are rung by the operator's dialplan ([callcontrol-queues])
        self.acd = AcdDesk((), (), AmiPbx(self.ami), self.clock, events=self.events, fallback=DialplanQueueDesk(),
                           max_misses=settings.acd_max_misses, busy_retry_s=settings.acd_busy_retry_s)
        self.agent_pins = AgentPins(self.acd_store, self.clock)  # one attempt limit for the API and the phones
        self.http_client = AiohttpClient()
        self.lifecycle = CallLifecycle(self.calls, self.acd, self.catalog, self.agent_pins, self.http_client,
                                       self.clock, self.store, self.acd_store, self.hangup_log)
        self.acd.waits.recorder = self.recorder  # a queue call's recording starts before the agent's Dial
        self.lifecycle.recorder = self.recorder  # a flow's IVR recording, its secure inputs muted
        self.recording_recovery = OpenRecordingRecovery(self.recorder, self.recordings)  # the last run's open ones
        self.audit = SqlAuditTrail(self._engine)  # the AuditTrail every audited act is written to
        self.agent_calls = AgentCallTracker()  # the agents' channels in conversation: what supervision joins
        self.events.subscribe("agent-calls", self.agent_calls.agent_answered, AgentAnswered, inline=True)
        self.scope = AcdScope(self.acd.view)
        self.supervision = Supervision(AmiSupervisorPhones(self.ami), self.agent_calls, self.audit, self.clock,
                                       self._sees_call, lambda user: settings.supervisor_phones.get(user, ()),
                                       audit_reader=self.audit, ring_timeout_s=settings.supervision_ring_timeout_s)
        self.supervision.watchers.append(self.live_calls.supervision_changed)  # who supervises, on /api/calls
        # blind transfers (docs/transfers.md): the API's, a phone's REFER, and the caller's transfer leg
        self.transfers = TransferDesk(self.acd, AmiTransfers(self.ami), self.clock, self._transfer_allow_lists,
                                      self.calls.stints_of, self.calls.transfer_step, recorder=self.recorder)
        self.lifecycle.transfers = self.transfers
        self.ami_routing = AmiRouting(ami_routes(self.lifecycle, self.acd, self.recording_recovery,
                                                 self.agent_calls, self.supervision, self.holds, self.transfers))
        self.wrapups = Wrapups(self.calls, self.store, self._wrapup_policy, self.clock, settings.wrapup_window_s)
        self.agi = FastAgiServer(settings.agi_host, settings.agi_port, self.lifecycle.handle_call,
                                 header_timeout_s=settings.agi_header_timeout_s)
        self.people = People(SqlPeopleStore(self._engine), self.clock)
        self.login_attempts = LoginAttempts()  # one limit for passwords (the API) and phone PINs (supervision line)
        phones = settings.supervisor_phones
        self.supervisor_line = SupervisorLine(
            self.supervision, self.agent_calls, self.people, self.login_attempts, self.clock,
            lambda device: tuple(user for user, own in phones.items() if device in own),
            lambda: {agent_id: self.acd.view.agent(agent_id).endpoint for agent_id in self.acd.view.agent_ids()})
        self.lifecycle.supervisor_line = self.supervisor_line.answer
        self.http = HttpServer(make_app(self.not_ready_reasons, flows=self.catalog, acd=self.acd,
                                        api_token=settings.api_token, acd_store=self.acd_store,
                                        agent_pins=self.agent_pins, allowed_origins=settings.http_allowed_origins,
                                        people=self.people, audit=self.audit, audit_reader=self.audit,
                                        login_attempts=self.login_attempts,
                                        clock=self.clock, degraded_reasons=self.degraded_reasons,
                                        recordings=RecordingsApi(self.recordings, self.recorder,
                                                                 self.recording_files, self.audit,
                                                                 self.clock),
                                        supervision=self.supervision, live_calls=self.live_calls,
                                        caller_masked_for=[Role(role) for role in settings.mask_caller_for],
                                        wrapups=self.wrapups, transfers=self.transfers),
                               settings.http_host, settings.http_port)
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
        self.events.subscribe("agent-leg-holds", self.holds.hold_changed, CallHoldChanged, inline=True)
        self.events.subscribe("live-calls-holds", lambda event: self.live_calls.hold_changed(
            event.call_id, event.on_hold, event.at) if event.party == "agent" else None, CallHoldChanged)
        self.events.subscribe("recorder-conversation", self.recorder.conversation_started, ConversationStarted,
                              inline=True)
        self.events.subscribe("recorder-finish", self.recorder.stint_ended, QueueStintEnded)
        self.live_calls.subscribe(self.events)
        self.events.subscribe("callback-writer", lambda event: self.callbacks.submit(
            ("booked" if isinstance(event, CallbackBooked) else "done", event.callback)), CallbackBooked, CallbackDone)

    def _recording_policy(self, queue_id: str) -> RecordingPolicy | None:
        try:
            return self.acd.distributor.queue(queue_id).recording
        except AcdError:
            return None

    def _sees_call(self, principal: Principal, call: AgentCall) -> bool:
        return self.scope.sees_call(principal, [call.queue_id] if call.queue_id else [], [call.agent_id])

    def _wrapup_policy(self, queue_id: str) -> WrapupPolicy | None:
        try:
            return self.acd.distributor.queue(queue_id).wrapup
        except AcdError:
            return None

    def _transfer_allow_lists(self) -> AllowLists:
        """Where a call may be transferred to now: the ACD's queues and agents, the configured numbers and codes."""
        return AllowLists(self.acd.distributor.queue_ids(), self.acd.view.agent_ids(),
                          self.settings.transfer_numbers, self._phone_codes)

    def degraded_reasons(self) -> list[str]:
        """What works less well while the service still takes calls (/readyz says degraded)."""
        return [problem for problem in (self.recorder.problem, self.purger.problem) if problem]

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
        if not ASTERISK_DIR.match(self.recording_files.asterisk_root):
            raise StartupError(f"recordings directory as Asterisk sees it "
                               f"({self.recording_files.asterisk_root[:80]!r}) "
                               "must be an absolute path of letters, digits, '_', '.', '-' and '/': set "
                               "CALLCONTROL_RECORDINGS_ASTERISK_DIR")
        self.flow_watcher.reload_now()
        await self.lifecycle.take_over()
        await self.http.start()
        try:
            self._tasks = [
                asyncio.create_task(self.events.run(), name="event-bus"),
                asyncio.create_task(self.writer.run(), name="record-writer"),
                asyncio.create_task(self.calls.run_flusher(), name="record-flusher"),
                asyncio.create_task(self.ami.run(), name="ami-session"),
                asyncio.create_task(self.ami_routing.consume(self.ami.events,
                                                             lambda message: translate(message, self.clock.now())),
                                    name="ami-dispatcher"),
                asyncio.create_task(self.flow_watcher.run(), name="flow-watcher"),
                asyncio.create_task(self.transitions.run(), name="transition-writer"),
                asyncio.create_task(self.callbacks.run(), name="callback-writer"),
                asyncio.create_task(self.acd.run(), name="acd"),
                asyncio.create_task(self.purger.run(), name="recording-purger"),
                asyncio.create_task(self.recording_recovery.run(), name="recording-recovery"),
                asyncio.create_task(self.supervision.run(), name="supervision"),
            ]
            await self.agi.start()
            log.info("service.started", agi=f"{self.settings.agi_host}:{self.agi.port}",
                     http=f"{self.settings.http_host}:{self.settings.http_port}",
                     database=self.settings.database_url_for_display())
            await stop.wait()
            log.info("service.stopping", calls_in_ivr=self.agi.active_sessions)
            await self.agi.stop(self.settings.shutdown_grace_s)
            await self.events.drain(DRAIN_TIMEOUT_S)
            await self.recorder.finish_all()
            await self.supervision.drain()
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
