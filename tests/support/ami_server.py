"""A fake Asterisk AMI server over real TCP: banner, Login, Ping, CoreShowChannels, QueueAdd, pushed events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

EOL = "\r\n"


def frame(headers: dict[str, str]) -> bytes:
    return (EOL.join(f"{k}: {v}" for k, v in headers.items()) + EOL + EOL).encode()


@dataclass
class FakeAmiServer:
    secret: str = "s3cret"
    answer_pings: bool = True
    channels: list[str] = field(default_factory=list)
    received: list[dict[str, str]] = field(default_factory=list)
    connections: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> FakeAmiServer:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop_all(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def push(self, *events: dict[str, str]) -> None:
        """Send events to every client in one TCP write (one chunk)."""
        data = b"".join(frame(event) for event in events)
        for writer in self._writers:
            writer.write(data)

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.received if a.get("Action", "").lower() == name.lower()]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action = dict(line.split(": ", 1) for line in raw.decode().split(EOL) if ": " in line)
                self.received.append(action)
                self._answer(action, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()

    def _answer(self, action: dict[str, str], writer: asyncio.StreamWriter) -> None:
        name = action.get("Action", "").lower()
        action_id = action.get("ActionID", "")
        if name == "login":
            ok = action.get("Secret") == self.secret
            writer.write(frame({"Response": "Success" if ok else "Error", "ActionID": action_id,
                                "Message": "Authentication accepted" if ok else "Authentication failed"}))
            if not ok:
                writer.transport.close()
        elif name == "ping" and self.answer_pings:
            writer.write(frame({"Response": "Success", "ActionID": action_id, "Ping": "Pong"}))
        elif name == "coreshowchannels":
            out = [frame({"Response": "Success", "ActionID": action_id, "EventList": "start",
                          "Message": "Channels will follow"})]
            out += [frame({"Event": "CoreShowChannel", "ActionID": action_id, "Uniqueid": u, "Linkedid": u,
                           "Channel": f"PJSIP/trunk-{i:08x}"}) for i, u in enumerate(self.channels)]
            out.append(frame({"Event": "CoreShowChannelsComplete", "ActionID": action_id, "EventList": "Complete",
                              "ListItems": str(len(self.channels))}))
            writer.write(b"".join(out))
        elif name == "queueadd":
            writer.write(frame({"Response": "Success", "ActionID": action_id, "Message": "Added interface to queue"}))
        # Originate and anything else: never answered (to test timeouts and no re-send).
