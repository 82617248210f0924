"""Live supervision: who may listen to, whisper to or barge into which call, the sessions' life and their audit.

A request is checked here (the permission, the call's scope, the supervisor's phone) before anything reaches
Asterisk; the session then lives on AMI events of the supervisor's channel (its uniqueid is chosen here). Every
session start, refusal, mode change and end is written to the audit trail as it happens, so a restart loses
nothing: after each AMI resync, a session the audit trail shows open is adopted when Asterisk still has its
channel, or closed as ended while the service was down.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Protocol

import structlog

from callcontrol.core.audit import AuditEntry, Outcome
from callcontrol.core.events import (
    ChannelAnswered,
    ChannelHungUp,
    ChannelsSnapshot,
    KeyReceived,
    OriginateFailed,
    SpyStarted,
    SpyStopped,
)
from callcontrol.core.identifiers import ENDPOINT
from callcontrol.core.permissions import Permission, Principal, Role, allows
from callcontrol.core.supervision import SESSION_ID, SPYER_UNIQUEID, Mode, Session, State, spyer_uniqueid
from callcontrol.services.agent_calls import AgentCall, AgentCallTracker
from callcontrol.services.ports import AuditReader, AuditTrail, Clock
from callcontrol.services.supervision_recovery import sessions_left_open

log = structlog.get_logger(__name__)

RING_TIMEOUT_S = 20.0
RINGING_GRACE_S = 10.0  # a session still ringing this long after its ring timeout ends as not answered
ADOPT_WINDOW = timedelta(hours=12)  # how far back the audit trail is read for sessions left open by a restart
KEEP_ENDED = 200  # ended sessions kept in memory for GET /api/supervision/{id}
EXPIRY_CHECK_S = 1.0  # how often, when nothing is being written, ringing sessions are checked for expiry


class SupervisorPhones(Protocol):
    async def ring(self, session_id: str, endpoint: str, mode: Mode, target_uniqueid: str, spyer_uniqueid: str,
                   ring_timeout_s: float, agent_id: str) -> None: ...

    async def set_mode(self, spyer_uniqueid: str, mode: Mode) -> None: ...

    async def hang_up(self, spyer_uniqueid: str) -> None: ...

    @staticmethod
    def originate_action_id(session_id: str) -> str: ...


class SupervisionRefused(Exception):
    """A request that cannot be carried out: `status` for HTTP, `code` for the JSON error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


CallScope = Callable[[Principal, AgentCall], bool]  # may this principal see this call (its queue's, agent's teams)


class Supervision:
    def __init__(self, phones: SupervisorPhones, calls: AgentCallTracker, audit: AuditTrail, clock: Clock,
                 sees_call: CallScope, phones_of: Callable[[str], tuple[str, ...]],
                 audit_reader: AuditReader | None = None, ring_timeout_s: float = RING_TIMEOUT_S) -> None:
        self._phones, self._calls, self._audit, self._clock = phones, calls, audit, clock
        self._sees_call, self._phones_of, self._reader = sees_call, phones_of, audit_reader
        self.ring_timeout_s = ring_timeout_s
        self._sessions: dict[str, Session] = {}
        self._by_spyer: dict[str, str] = {}
        self._by_action: dict[str, str] = {}
        self._writes: asyncio.Queue[AuditEntry] = asyncio.Queue()
        self._adopted = False
        self._adopted_ids: set[str] = set()  # sessions of an earlier run: the tracker never saw their call
        self._targets_gone: set[str] = set()  # live sessions whose agent channel (or caller) hung up
        calls.on_call_ended(self._agent_call_ended)
        self.watchers: list[Callable[[str, tuple[str, ...]], None]] = []  # (call id, its supervisors) on a change

    # -- requests (API, phone) ---------------------------------------------------------------------------------

    async def start(self, principal: Principal, call_id: str, mode: Mode, endpoint: str | None,
                    source: str | None = None) -> Session:
        """Ring the supervisor's phone and join it to the call's agent channel in `mode`."""
        session = await self._open(principal, call_id, mode, endpoint, source, None)
        self._by_action[self._phones.originate_action_id(session.id)] = session.id
        try:
            await self._phones.ring(session.id, session.endpoint, mode, session.target_uniqueid,
                                    session.spyer_uniqueid, self.ring_timeout_s, session.agent_id)
        except Exception as exc:
            self._update(session.originate_failed(self._clock.now()), detail={"error": str(exc)[:200]})
            raise SupervisionRefused(502, "pbx_failed", f"could not ring {session.endpoint}: {exc}") from None
        log.info("supervision.ringing", session=session.id, supervisor=principal.user, agent=session.agent_id,
                 call=call_id, mode=mode.value, endpoint=session.endpoint)
        return session

    async def start_on_phone(self, principal: Principal, call_id: str, device: str, spyer_uniqueid: str,
                             source: str) -> Session:
        """The supervision line: the supervisor's phone is on the line already (its channel, `spyer_uniqueid`);
        the same checks as start(), then the line hands the channel to [cc-supervise] in listen mode."""
        if not SPYER_UNIQUEID.match(spyer_uniqueid):
            raise SupervisionRefused(400, "bad_channel", "not a channel's uniqueid")
        return await self._open(principal, call_id, Mode.LISTEN, device, source, spyer_uniqueid)

    async def _open(self, principal: Principal, call_id: str, mode: Mode, endpoint: str | None, source: str | None,
                    on_the_line: str | None) -> Session:
        call = self._calls.agent_call(call_id) if call_id else None
        refusal = self._refusal(principal, call, endpoint)
        if refusal is not None:
            await self._audit_now(principal, "supervision.start", call_id or "(none)", Outcome.DENIED, source,
                                  {"mode": mode.value, "reason": refusal.code})
            raise refusal
        assert call is not None
        phone = endpoint or self._phones_of(principal.user)[0]
        session_id = f"sup_{secrets.token_hex(8)}"
        now = self._clock.now()
        session = Session(session_id, principal.user, phone, call.call_id, call.agent_id, call.queue_id,
                          call.uniqueid, call.channel, on_the_line or spyer_uniqueid(session_id, int(now.timestamp())),
                          mode, now, phone_answered=on_the_line is not None)
        self._track(session)
        await self._audit_now(principal, "supervision.start", call.call_id, Outcome.ALLOWED, source,
                              {**self._facts(session), "via": "phone" if on_the_line else "api"})
        return session

    async def change_mode(self, principal: Principal, session_id: str, mode: Mode) -> Session:
        """Play the mode's key to the supervisor's channel; the change is recorded when Asterisk shows the key."""
        session = self._own(principal, session_id)
        if session.state is not State.ACTIVE:
            raise SupervisionRefused(409, "not_active", f"session {session_id} is {session.state.value}")
        if mode is session.mode:
            return session
        self._sessions[session_id] = session = session.mode_requested(mode, principal.user)
        try:
            await self._phones.set_mode(session.spyer_uniqueid, mode)
        except Exception as exc:  # the channel went meanwhile (its Hangup ends the session), or AMI is down
            current = self._sessions.get(session_id, session)
            if current.pending_mode is mode:
                self._sessions[session_id] = replace(current, pending_mode=None, pending_by="")
            raise SupervisionRefused(502, "pbx_failed", f"could not change the mode: {exc}"[:300]) from None
        return session

    async def end(self, principal: Principal, session_id: str) -> Session:
        session = self._own(principal, session_id)
        if not session.live:
            return session
        self._sessions[session_id] = session = session.end_requested(principal.user)
        try:
            await self._phones.hang_up(session.spyer_uniqueid)
        except Exception as exc:  # the channel is gone already: its Hangup event ends the session
            log.info("supervision.hangup_failed", session=session_id, error=str(exc)[:200])
        return session

    def session(self, principal: Principal, session_id: str) -> Session:
        return self._own(principal, session_id)

    def sessions(self, principal: Principal, live_only: bool = True) -> list[Session]:
        return [s for s in self._sessions.values() if (s.live or not live_only) and self._may_see(principal, s)]

    def supervisors_of(self, call_id: str) -> tuple[str, ...]:
        """Who supervises this call now (for the live calls view)."""
        return tuple(s.supervisor for s in self._sessions.values() if s.live and s.call_id == call_id)

    # -- AMI ---------------------------------------------------------------------------------------------------

    def channel_answered(self, event: ChannelAnswered) -> None:
        session = self._of_spyer(event.uniqueid)
        if session is not None:
            self._sessions[session.id] = session.answered()

    async def spy_started(self, event: SpyStarted) -> None:
        session = self._of_spyer(event.spyer_uniqueid)
        if session is None:
            return
        if event.spyee_uniqueid != session.target_uniqueid:  # never expected: ChanSpy's u takes the exact channel
            log.error("supervision.wrong_target", session=session.id, spyee=event.spyee_uniqueid,
                      expected=session.target_uniqueid)
            await self._phones.hang_up(session.spyer_uniqueid)
            return
        self._update(session.spy_started(event.at), "supervision.joined",
                     detail={"spyee_uniqueid": event.spyee_uniqueid, "spyee_channel": event.spyee_channel})

    def spy_stopped(self, event: SpyStopped) -> None:
        session = self._of_spyer(event.spyer_uniqueid)
        if session is not None:
            log.info("supervision.spy_stopped", session=session.id)

    def key_received(self, event: KeyReceived) -> None:
        session = self._of_spyer(event.uniqueid)
        if session is None:
            return
        moved, change = session.key_pressed(event.key, event.at)
        self._sessions[session.id] = moved
        if change is not None:
            self._update(moved, "supervision.mode_change", actor=change.by.removeprefix("api:")
                         if change.by.startswith("api:") else moved.supervisor,
                         detail={"from": change.old.value, "to": change.new.value, "by": change.by})

    def channel_hung_up(self, event: ChannelHungUp) -> None:
        for live in self._sessions.values():
            if live.live and event.uniqueid in (live.target_uniqueid, live.call_id):
                self._targets_gone.add(live.id)
        session = self._of_spyer(event.uniqueid)
        if session is None:
            return
        target_gone = session.id in self._targets_gone or (
            session.id not in self._adopted_ids and self._calls.agent_call(session.call_id) is None)
        self._update(session.hung_up(event.at, target_gone), "supervision.end")

    def originate_failed(self, event: OriginateFailed) -> None:
        session_id = self._by_action.pop(event.action_id, None)
        session = self._sessions.get(session_id) if session_id else None
        if session is not None:
            self._update(session.originate_failed(event.at), "supervision.end", detail={"originate": event.reason})

    async def channels_resynced(self, snapshot: ChannelsSnapshot) -> None:
        """After each AMI login: sessions whose channel Asterisk no longer has ended while AMI was down; the
        first time, the audit trail's open sessions of an earlier run are adopted or closed."""
        for session in list(self._sessions.values()):
            if session.live and session.spyer_uniqueid not in snapshot.uniqueids:
                self._update(session.ended_while_down(snapshot.at), "supervision.end")
        if not self._adopted and self._reader is not None:
            self._adopted = True
            for session in await sessions_left_open(self._reader, snapshot.at - ADOPT_WINDOW,
                                                    frozenset(self._sessions)):
                if session.spyer_uniqueid in snapshot.uniqueids:
                    self._track(replace(session, state=State.ACTIVE))
                    self._adopted_ids.add(session.id)
                    log.info("supervision.adopted", session=session.id)
                else:
                    self._update(session.ended_while_down(snapshot.at), "supervision.end",
                                 detail={"recovered": True})

    # -- the owner's loop --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Write the audit entries in order and end sessions whose phone never answered; until cancelled."""
        loop = asyncio.get_running_loop()
        checked = loop.time()
        while True:
            try:
                entry = await asyncio.wait_for(self._writes.get(), EXPIRY_CHECK_S)
            except TimeoutError:
                entry = None
            if entry is not None:
                await self._audit.record(entry)
            if loop.time() - checked >= EXPIRY_CHECK_S:  # also while entries keep coming
                checked = loop.time()
                await self._expire_ringing()

    async def drain(self) -> None:
        while not self._writes.empty():
            await self._audit.record(self._writes.get_nowait())

    async def _expire_ringing(self) -> None:
        """End each session not joined by its deadline, and hang its phone up: should the phone ring still, or
        ChanSpy have joined with its ChanSpyStart missed, no one stays on a call with no session audited."""
        deadline = timedelta(seconds=self.ring_timeout_s + RINGING_GRACE_S)
        now = self._clock.now()
        for session in list(self._sessions.values()):
            if session.state is State.RINGING and now - session.requested_at > deadline:
                self._update(session.originate_failed(now), "supervision.end", detail={"expired": True})
                try:
                    await self._phones.hang_up(session.spyer_uniqueid)
                except Exception as exc:  # gone already, as expected when it never answered
                    log.info("supervision.expired_hangup_failed", session=session.id, error=str(exc)[:200])

    # -- inside ------------------------------------------------------------------------------------------------

    def _refusal(self, principal: Principal, call: AgentCall | None, endpoint: str | None) -> SupervisionRefused | None:
        if not allows(principal, Permission.CALLS_SUPERVISE):
            return SupervisionRefused(403, "forbidden", f"a {principal.role.value} may not supervise calls")
        if call is None or not self._sees_call(principal, call):
            return SupervisionRefused(404, "unknown_call", "no call with an agent on it by that id")
        phones = self._phones_of(principal.user)
        if endpoint is not None and (not ENDPOINT.match(endpoint) or endpoint not in phones):
            return SupervisionRefused(400, "endpoint_not_allowed",
                                      f"endpoint must be one of your supervisor phones: {', '.join(phones) or 'none'}")
        if not phones:
            return SupervisionRefused(409, "no_supervisor_phone",
                                      f"user {principal.user} has no supervisor phone (CALLCONTROL_SUPERVISOR_PHONES)")
        busy = [s for s in self._sessions.values() if s.live and s.endpoint == (endpoint or phones[0])]
        if busy:
            return SupervisionRefused(409, "phone_busy", f"{busy[0].endpoint} is in session {busy[0].id}")
        return None

    def _own(self, principal: Principal, session_id: str) -> Session:
        session = self._sessions.get(session_id) if SESSION_ID.match(session_id) else None
        if session is None or not self._may_see(principal, session):
            raise SupervisionRefused(404, "unknown_session", "no supervision session by that id")
        return session

    @staticmethod
    def _may_see(principal: Principal, session: Session) -> bool:
        return principal.role is Role.ADMIN or principal.user == session.supervisor

    def _of_spyer(self, uniqueid: str) -> Session | None:
        session_id = self._by_spyer.get(uniqueid)
        return self._sessions.get(session_id) if session_id else None

    def _track(self, session: Session) -> None:
        self._sessions[session.id] = session
        self._by_spyer[session.spyer_uniqueid] = session.id
        self._tell(session.call_id)

    def _tell(self, call_id: str) -> None:
        """Who supervises the call now, to each watcher (the live calls view)."""
        for watcher in self.watchers:
            watcher(call_id, self.supervisors_of(call_id))

    def _agent_call_ended(self, call_id: str) -> None:
        """The agent's call ended: ChanSpy's E option ends each session on it (its Hangup follows)."""
        for session in self._sessions.values():
            if session.live and session.call_id == call_id:
                log.info("supervision.agent_call_ended", session=session.id)

    def _update(self, session: Session, action: str | None = None, actor: str | None = None,
                detail: dict[str, object] | None = None) -> None:
        before = self._sessions.get(session.id)
        self._sessions[session.id] = session
        if before is not None and before.live and not session.live:
            self._tell(session.call_id)
        if action is None and before is not None and before.live and not session.live:
            action = "supervision.end"
        if action is not None:
            self._writes.put_nowait(self._entry(session, action, actor or session.supervisor, detail or {}))
        if not session.live:
            self._by_spyer.pop(session.spyer_uniqueid, None)
            self._by_action.pop(self._phones.originate_action_id(session.id), None)  # a late failure finds nothing
            self._targets_gone.discard(session.id)
            self._adopted_ids.discard(session.id)
            log.info("supervision.ended", session=session.id, supervisor=session.supervisor, agent=session.agent_id,
                     call=session.call_id, reason=session.end_reason.value if session.end_reason else None,
                     duration_s=session.duration_s, mode=session.mode.value, mode_changes=len(session.changes))
            self._forget_old()

    def _forget_old(self) -> None:
        ended = [s.id for s in self._sessions.values() if not s.live]
        for session_id in ended[:max(0, len(ended) - KEEP_ENDED)]:
            del self._sessions[session_id]

    def _entry(self, session: Session, action: str, actor: str, detail: dict[str, object]) -> AuditEntry:
        return AuditEntry(self._clock.now(), actor, action, "call", session.call_id, Outcome.ALLOWED,
                          None, None, {**self._facts(session), **detail})

    @staticmethod
    def _facts(session: Session) -> dict[str, object]:
        facts = session.as_json()
        facts["session"] = facts.pop("id")
        for noise in ("requested_at", "mode_changes"):
            facts.pop(noise)
        if not session.live:
            facts["mode_changes"] = [change.as_json() for change in session.changes]
            facts["requested_at"] = session.requested_at.isoformat()
        facts["target_channel"] = session.target_channel
        facts["spyer_uniqueid"] = session.spyer_uniqueid
        facts["target_uniqueid"] = session.target_uniqueid
        return facts

    async def _audit_now(self, principal: Principal, action: str, call_id: str, outcome: Outcome,
                         source: str | None, detail: dict[str, object]) -> None:
        await self._audit.record(AuditEntry(self._clock.now(), principal.user, action, "call", call_id[:128],
                                            outcome, principal.role.value, source, detail))
