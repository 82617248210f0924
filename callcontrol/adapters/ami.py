"""AMI client: panoramisk's parser under one owned session loop (ordered events, watchdog, resync).

panoramisk 1.4 defects handled here (each has a test in tests/unit/adapters/test_ami.py):
- callbacks that raise kill the connection, coroutine callbacks are fire-and-forget: the only
  callback is a put_nowait into one ordered queue; a dispatcher task owned by the service consumes it;
- its ping never checks the reply: a watchdog sends Ping and drops the connection when no reply comes and
  no event arrives meanwhile (under load a reply waits behind a backlog of events: that session is alive);
- close() during a pending reconnect does not stop it: panoramisk never reconnects here, this loop does,
  and cancelling it stops everything;
- unanswered actions are re-sent after FullyBooted: nothing is ever re-sent; pending actions fail
  with AmiConnectionLost and every action is bounded by a timeout;
- QueueAdd's future never resolves: single-response actions are sent with as_list=False;
- events missed while disconnected are never replayed: after each login a CoreShowChannels snapshot
  goes into the event queue before any event that follows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from callcontrol.core.events import (
    AcdEvent,
    BlindTransferSeen,
    ChannelAnswered,
    ChannelCreated,
    ChannelEvent,
    ChannelHangupRequested,
    ChannelHoldChanged,
    ChannelHungUp,
    ChannelsSnapshot,
    DeviceStateChanged,
    DialEnded,
    KeyReceived,
    OriginateFailed,
    SpyStarted,
    SpyStopped,
    SupervisionEvent,
)
from callcontrol.core.identifiers import ASTERISK_ID, CHANNEL_NAME, ENDPOINT, WAKE_DIGIT
from callcontrol.services.ports import CallerHungUp

log = structlog.get_logger(__name__)

CHANNEL_STATE_UP = "6"


class AmiError(Exception):
    """An AMI action did not succeed."""


class AmiNotConnected(AmiError):
    """No logged-in AMI session right now."""


class AmiConnectionLost(AmiError):
    """The session ended before the action was answered; it will not be re-sent."""


class AmiLoginRejected(AmiError):
    """Asterisk refused the username/secret."""


class _ForgetEverything:
    """Makes panoramisk's protocol forget every unanswered action instead of queueing it for re-send."""

    def __contains__(self, _: object) -> bool:
        return True


class _Session(Manager):
    """One panoramisk Manager per TCP connection, stripped of its callbacks, pinger and reconnects."""

    def __init__(self, client: AmiClient) -> None:
        super().__init__(
            host=client.host, port=client.port, loop=asyncio.get_running_loop(),
            forgetable_actions=_ForgetEverything(), log=logging.getLogger("panoramisk.manager"),
        )
        self._client = client

    def dispatch(self, event: Message) -> list[str]:
        self._client._receive(event)  # put_nowait only: nothing here can raise into the protocol
        return []

    def connection_lost(self, exc: Exception | None) -> None:
        self._client._session_lost(self, exc)


class AmiClient:
    """Keeps one logged-in AMI session alive and delivers its events in order on `events`."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        ping_interval_s: float = 10.0,
        ping_timeout_s: float = 5.0,
        action_timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.host = host
        self.port = port
        self._username = username
        self._secret = secret
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._action_timeout_s = action_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        self._clock = clock
        self.events: asyncio.Queue[Message | ChannelsSnapshot] = asyncio.Queue()
        self._session: _Session | None = None
        self._lost: asyncio.Future[None] | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        self._logged_in = False  # this session passed Login
        self.ready = False  # logged in and resynced
        self.problem: str | None = "not connected yet"
        self.logins = 0
        self._last_event_at = 0.0  # loop time of the last event read

    def __repr__(self) -> str:  # never shows the secret
        return f"<AmiClient {self._username}@{self.host}:{self.port} ready={self.ready}>"

    # -- the session loop (the one reconnect mechanism) ---------------------------------------

    async def run(self) -> None:
        """Connect, log in, resync, watch; on any loss wait with backoff and start again. Cancel to stop."""
        delay = self._reconnect_min_s
        while True:
            try:
                await self._one_session()
                delay = self._reconnect_min_s
            except AmiLoginRejected as exc:
                self._down(f"AMI login rejected for user '{self._username}': {exc}")
            except (OSError, TimeoutError) as exc:
                self._down(f"AMI connection to {self.host}:{self.port} failed: {exc or type(exc).__name__}")
            except AmiError as exc:
                self._down(f"AMI session ended: {exc}")
            log.info("ami.reconnect_scheduled", in_s=delay, problem=self.problem)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max_s)

    async def _one_session(self) -> None:
        loop = asyncio.get_running_loop()
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(AMIProtocol, self.host, self.port), self._connect_timeout_s
        )
        session = _Session(self)
        protocol.factory = session
        protocol.log = logging.getLogger("panoramisk.ami_protocol")
        protocol.config = session.config
        protocol.encoding = session.encoding = "utf8"
        session.protocol = protocol
        session.responses = protocol.responses
        self._session = session
        self._lost = loop.create_future()
        watchdog: asyncio.Task[None] | None = None
        try:
            reply = await self.send(
                {"Action": "Login", "Username": self._username, "Secret": self._secret, "Events": "on"},
                require_login=False,
            )
            if not reply.success:
                raise AmiLoginRejected(reply.get("Message", "rejected"))
            self._logged_in = True
            self.logins += 1
            log.info("ami.logged_in", host=self.host, port=self.port, user=self._username, logins=self.logins)
            await self._resync()
            self.ready = True
            self.problem = None
            watchdog = asyncio.create_task(self._watchdog(), name="ami-watchdog")
            await self._lost
            raise AmiConnectionLost("connection closed by Asterisk")
        finally:
            self.ready = self._logged_in = False
            if watchdog is not None:
                watchdog.cancel()
                await asyncio.gather(watchdog, return_exceptions=True)
            self._session = None
            protocol.close()
            transport.close()
            self._fail_pending()

    async def _resync(self) -> None:
        """Put a snapshot of live channels in the event queue: what was missed while down is derived from it."""
        at = self._clock()
        listed = await self.send_list({"Action": "CoreShowChannels"})
        shown = [m for m in listed if m.get("Event") == "CoreShowChannel"]
        uniqueids = frozenset(m["Uniqueid"] for m in shown)
        self.events.put_nowait(ChannelsSnapshot(uniqueids, at, frozenset(m.get("Channel", "") for m in shown)))
        log.info("ami.resynced", channels=len(uniqueids))

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._ping_interval_s)
            asked_at = loop.time()
            try:
                await self.send({"Action": "Ping"}, timeout=self._ping_timeout_s)
            except TimeoutError:
                if self._last_event_at > asked_at:  # events keep coming: the reply is queued behind them
                    log.warning("ami.lagging", ping_unanswered_s=self._ping_timeout_s)
                    continue
                log.warning("ami.ping_unanswered", timeout_s=self._ping_timeout_s)
                self._abort("no reply to Ping")
                return

    def _abort(self, reason: str) -> None:
        session = self._session
        if session is not None and session.protocol is not None:
            self.problem = f"AMI connection dropped: {reason}"
            session.protocol.transport.abort()

    def _down(self, problem: str) -> None:
        self.ready = False
        self.problem = problem
        log.warning("ami.down", problem=problem)

    # -- panoramisk callbacks (synchronous, must not raise) -----------------------------------

    def _receive(self, message: Message) -> None:
        self._last_event_at = asyncio.get_running_loop().time()
        self.events.put_nowait(message)

    def _session_lost(self, session: _Session, exc: Exception | None) -> None:
        if session is self._session and self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _fail_pending(self) -> None:
        for future in self._pending:
            if not future.done():
                future.set_exception(AmiConnectionLost("AMI session lost before the reply; not re-sent"))
        self._pending.clear()

    # -- actions ------------------------------------------------------------------------------

    async def send(self, action: dict[str, Any], *, timeout: float | None = None,
                   require_login: bool = True) -> Message:
        """Send a single-response action; bounded by a timeout; never re-sent after a reconnect."""
        return await self._send(action, as_list=False, timeout=timeout, require_login=require_login)

    async def send_list(self, action: dict[str, Any], *, timeout: float | None = None) -> list[Message]:
        """Send an action answered by an event list (…Complete); an Error reply raises AmiError."""
        reply = await self._send(action, as_list=None, timeout=timeout, require_login=True)
        if isinstance(reply, Message):
            raise AmiError(f"{action['Action']}: {reply.get('Message', reply.get('Response'))}")
        return list(reply)

    async def _send(self, action: dict[str, Any], *, as_list: bool | None, timeout: float | None,
                    require_login: bool) -> Any:
        session = self._session
        if session is None or (require_login and not self._logged_in):
            raise AmiNotConnected(self.problem or "AMI not connected")
        future = session.send_action(dict(action), as_list=as_list)
        self._pending.add(future)
        try:
            return await asyncio.wait_for(future, timeout or self._action_timeout_s)
        finally:
            self._pending.discard(future)


NO_SUCH_CHANNEL = frozenset({"channel not found", "no such channel"})  # Asterisk's replies for a channel gone


class AmiPbx:
    """The PbxActions port over AMI."""

    def __init__(self, client: AmiClient) -> None:
        self._client = client

    async def wake(self, channel: str) -> None:
        if not CHANNEL_NAME.match(channel):
            raise ValueError(f"not a channel name: {channel[:40]!r}")
        # Receive: the channel hears the digit as if the caller pressed it (Asterisk 16+), so WAIT FOR DIGIT ends
        action = {"Action": "PlayDTMF", "Channel": channel, "Digit": WAKE_DIGIT, "Duration": "100", "Receive": "yes"}
        try:
            reply = await self._client.send(action)
        except (AmiNotConnected, AmiConnectionLost):
            # AMI is reconnecting: the caller would otherwise wait until the offer expires. A second wake-up
            # (if the first one got through) is harmless: the caller's session only re-checks its offer.
            await self._until_ready()
            reply = await self._client.send(action)
        if reply.get("Response") != "Success":
            message = str(reply.get("Message", reply.get("Response")))
            if message.lower() in NO_SUCH_CHANNEL:
                raise CallerHungUp(f"PlayDTMF on {channel}: {message}")
            raise AmiError(f"PlayDTMF on {channel}: {message}")

    async def _until_ready(self, timeout_s: float = 10.0) -> None:
        """Right after the service starts (restored callbacks) AMI may not be logged in yet: wait a little."""
        for _ in range(int(timeout_s / 0.1)):
            if self._client.ready:
                return
            await asyncio.sleep(0.1)

    async def call_agent_for_callback(self, endpoint: str, ring_timeout_s: float, call_id: str) -> None:
        # the answered agent's channel runs [callcontrol-callback] (dialplan/extensions.conf), which hands it to
        # the service's `callback` AGI script with the call id; the dialplan, not us, knows the AGI address
        if not ENDPOINT.match(endpoint) or not ASTERISK_ID.match(call_id):
            raise ValueError(f"cannot call {endpoint[:64]!r} back for {call_id[:64]!r}")
        await self._until_ready()
        reply = await self._client.send({
            "Action": "Originate", "Channel": endpoint, "Timeout": str(int(ring_timeout_s * 1000)),
            "Context": "callcontrol-callback", "Exten": "s", "Priority": "1",
            "Variable": f"CALLCONTROL_CALLBACK={call_id}", "CallerID": '"Callback" <callback>', "Async": "true",
        })
        if reply.get("Response") != "Success":
            raise AmiError(f"Originate to {endpoint}: {reply.get('Message', reply.get('Response'))}")


def _timestamp(message: Message, fallback: datetime) -> datetime:
    raw = message.get("Timestamp")
    try:
        return datetime.fromtimestamp(float(raw), UTC) if raw else fallback
    except (TypeError, ValueError):
        return fallback


def translate(message: Message | ChannelsSnapshot,
              now: datetime
              ) -> ChannelEvent | AcdEvent | SupervisionEvent | ChannelHoldChanged | BlindTransferSeen | None:
    """Turn an AMI event into the domain event the services use (None for events we do not follow)."""
    if isinstance(message, ChannelsSnapshot):
        return message
    name = message.get("Event", "")
    if name == "DialEnd":
        return DialEnded(message.get("Uniqueid", ""), message.get("DestChannel", ""), message.get("DialStatus", ""),
                         _timestamp(message, now), message.get("DestUniqueid", ""))
    if name == "Newchannel":
        return ChannelCreated(message.get("Uniqueid", ""), message.get("Channel", ""), _timestamp(message, now))
    if name == "DeviceStateChange":
        return DeviceStateChanged(message.get("Device", ""), message.get("State", ""), _timestamp(message, now))
    if name == "Hangup":
        cause = message.get("Cause", "")
        return ChannelHungUp(
            uniqueid=message.get("Uniqueid", ""),
            linkedid=message.get("Linkedid", ""),
            cause=int(cause) if cause.isdigit() else None,
            cause_text=message.get("Cause-txt", ""),
            at=_timestamp(message, now),
            channel=message.get("Channel", ""),
        )
    if name in ("SoftHangupRequest", "HangupRequest"):
        cause = message.get("Cause", "")
        if cause.isdigit() and int(cause):
            return ChannelHangupRequested(message.get("Uniqueid", ""), int(cause), _timestamp(message, now))
        return None
    if name == "ChanSpyStart":
        return SpyStarted(message.get("SpyerUniqueid", ""), message.get("SpyeeUniqueid", ""),
                          message.get("SpyeeChannel", ""), _timestamp(message, now))
    if name == "ChanSpyStop":
        return SpyStopped(message.get("SpyerUniqueid", ""), _timestamp(message, now))
    if name == "DTMFEnd" and message.get("Direction") == "Received":
        return KeyReceived(message.get("Uniqueid", ""), message.get("Digit", ""), _timestamp(message, now))
    if name == "OriginateResponse" and message.get("Response") == "Failure":
        return OriginateFailed(message.get("ActionID", ""), message.get("Reason", ""), _timestamp(message, now))
    if name in ("Hold", "Unhold"):
        return ChannelHoldChanged(message.get("Uniqueid", ""), message.get("Linkedid", ""), message.get("Channel", ""),
                                  name == "Hold", _timestamp(message, now))
    if name in ("BlindTransfer", "AttendedTransfer"):  # docs/transfers.md: the fields Asterisk 22 sends
        return BlindTransferSeen(
            message.get("TransfererChannel", "") or message.get("OrigTransfererChannel", ""),
            message.get("TransfererUniqueid", "") or message.get("OrigTransfererUniqueid", ""),
            message.get("TransfereeUniqueid", ""), message.get("Context", "") or message.get("DestType", ""),
            message.get("Extension", "") or message.get("DestExten", ""), message.get("Result", ""),
            message.get("IsExternal", "") == "Yes", _timestamp(message, now), attended=name == "AttendedTransfer")
    if name == "Newstate" and message.get("ChannelState") == CHANNEL_STATE_UP:
        return ChannelAnswered(message.get("Uniqueid", ""), message.get("Linkedid", ""), _timestamp(message, now))
    return None
