"""A supervisor's phone over AMI: ring it into [cc-supervise], change its ChanSpy mode, hang it up.

AMI classes used: originate and call only.

Every argument is a validated token built by the service: the endpoint (PJSIP/<device>), the target and supervisor
channel uniqueids (digits '.' digits), the mode (one of three extensions). The Originate is a Context/Exten one:
Asterisk 22's Originate filter restricts Application originates (ChanSpy among the risky data), not these, and the
ChanSpy options live in the dialplan, not here (../shared/design/recording-supervision.md, A6 and A7).
"""

from __future__ import annotations

from callcontrol.adapters.ami import NO_SUCH_CHANNEL, AmiClient, AmiError
from callcontrol.core.identifiers import ACD_ID, ENDPOINT
from callcontrol.core.supervision import MODE_KEYS, SESSION_ID, SPYER_UNIQUEID, TARGET_UNIQUEID, Mode

SUPERVISE_CONTEXT = "cc-supervise"


class SupervisorPhoneGone(AmiError):
    """The supervisor's channel is no longer there."""


class AmiSupervisorPhones:
    """Implements the SupervisorPhones port."""

    def __init__(self, client: AmiClient) -> None:
        self._client = client

    @staticmethod
    def originate_action_id(session_id: str) -> str:
        return f"cc-supervise-{session_id}"

    async def ring(self, session_id: str, endpoint: str, mode: Mode, target_uniqueid: str, spyer_uniqueid: str,
                   ring_timeout_s: float, agent_id: str) -> None:
        """Ring the supervisor's phone; once answered it spies on exactly `target_uniqueid` in `mode`."""
        if not (SESSION_ID.match(session_id) and ENDPOINT.match(endpoint) and TARGET_UNIQUEID.match(target_uniqueid)
                and SPYER_UNIQUEID.match(spyer_uniqueid) and ACD_ID.match(agent_id)):
            raise ValueError("supervision originate arguments must be validated tokens")
        reply = await self._client.send({
            "Action": "Originate", "ActionID": self.originate_action_id(session_id), "Channel": endpoint,
            "Context": SUPERVISE_CONTEXT, "Exten": Mode(mode).value, "Priority": "1",
            "Timeout": str(int(ring_timeout_s * 1000)), "ChannelId": spyer_uniqueid,
            "Variable": f"CC_SPY_TARGET={target_uniqueid}", "CallerID": f'"Supervise {agent_id}" <supervise>',
            "Async": "true",
        })
        if reply.get("Response") != "Success":
            raise AmiError(f"Originate to {endpoint}: {reply.get('Message', reply.get('Response'))}")

    async def set_mode(self, spyer_uniqueid: str, mode: Mode) -> None:
        """Play the mode's key to the supervisor's channel as if pressed (ChanSpy's d option takes it)."""
        await self._on_channel({"Action": "PlayDTMF", "Channel": self._spyer(spyer_uniqueid),
                                "Digit": MODE_KEYS[Mode(mode)], "Duration": "100", "Receive": "yes"})

    async def hang_up(self, spyer_uniqueid: str) -> None:
        await self._on_channel({"Action": "Hangup", "Channel": self._spyer(spyer_uniqueid), "Cause": "16"})

    @staticmethod
    def _spyer(uniqueid: str) -> str:
        if not SPYER_UNIQUEID.match(uniqueid):
            raise ValueError("not a supervisor channel's uniqueid")
        return uniqueid

    async def _on_channel(self, action: dict[str, str]) -> None:
        reply = await self._client.send(action)
        if reply.get("Response") == "Success":
            return
        message = str(reply.get("Message", reply.get("Response")))
        if message.lower() in NO_SUCH_CHANNEL:
            raise SupervisorPhoneGone(f"{action['Action']}: {message}")
        raise AmiError(f"{action['Action']} on {action['Channel']}: {message}")
