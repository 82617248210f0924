"""/api/recordings: list, show, listen/download (streamed, HTTP Range), pause/resume/stop a live one, legal hold.

The middleware (auth.py) has checked the route's Permission (core/permissions.py) and audited any refusal before a
handler here runs; a handler checks the recording's scope through its queue and agent (404 out of scope: nothing
leaks that it exists). An agent reaches only its own recordings, and hears them only where the queue allows it
(agents_may_listen). Every listen and download, every control and every refusal here goes to the AuditTrail
port. No request parameter is ever a path: an id must match identifiers.RECORDING_ID (anything else, traversal
and NUL included, is 404) and the file is found from the registry's row. The OpenAPI description of these
routes is recordings_described.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from callcontrol.adapters.db.recording_store import RecordingFilter
from callcontrol.adapters.http.acd_json import request_json
from callcontrol.adapters.http.auth import Route, principal_of
from callcontrol.adapters.recording_files import RecordingDirectory
from callcontrol.core.audit import AuditEntry, Outcome
from callcontrol.core.identifiers import ACD_ID, ASTERISK_ID, is_recording_id
from callcontrol.core.permissions import Permission, Principal, Role, sees_call
from callcontrol.core.recordings import CONTENT_TYPES, Recording, silent_seconds
from callcontrol.services.ports import AuditTrail, Clock
from callcontrol.services.recording_ports import RecordingControlFailed, RecordingRefused
from callcontrol.services.recordings import CallRecorder

Teams = Callable[[str], Iterable[str]]  # an agent's or a queue's teams (empty when unknown)
MAX_LIMIT = 1000  # the most recordings one list answers


@dataclass
class RecordingsApi:
    """What the recordings routes work with."""

    registry: Any  # SqlRecordingRegistry (get, find, save)
    recorder: CallRecorder
    files: RecordingDirectory
    audit: AuditTrail
    clock: Clock
    agent_teams: Teams = lambda agent_id: ()
    queue_teams: Teams = lambda queue_id: ()


RECORDINGS = web.AppKey("recordings", RecordingsApi)


def recording_json(recording: Recording) -> dict[str, Any]:
    """A recording as the API and the call record show it (never its path)."""
    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None
    return {"id": recording.id, "call_id": recording.call_id, "queue": recording.queue, "agent": recording.agent,
            "state": recording.state, "started_at": at(recording.started_at), "ended_at": at(recording.ended_at),
            "duration_s": recording.duration_s, "size_bytes": recording.size_bytes, "format": recording.format,
            "sha256": recording.sha256, "legal_hold": recording.legal_hold, "purged_at": at(recording.purged_at),
            "retention_days": recording.retention_days, "problem": recording.problem,
            "paused_spans": [{"started_at": at(span.started_at), "ended_at": at(span.ended_at),
                              "reason": span.reason} for span in recording.spans],
            "silent_s": round(silent_seconds(recording), 3),
            "audio": f"/api/recordings/{recording.id}/audio"}


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def _not_found() -> web.Response:
    return _error(404, "not_found", "no such recording")


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


async def _audit(request: web.Request, principal: Principal, action: str, object_id: str, outcome: Outcome,
                 **detail: object) -> None:
    api = request.app[RECORDINGS]
    await api.audit.record(AuditEntry(api.clock.now(), principal.user, action, "recording", object_id[:64], outcome,
                                      role=principal.role.value, source=request.remote, detail=detail))


def _in_scope(api: RecordingsApi, principal: Principal, recording: Recording, listen: bool) -> bool:
    if principal.role is Role.AGENT:  # only its own, and to hear them the queue must allow it
        return recording.agent == principal.agent_id and (recording.agents_may_listen or not listen)
    queues = [(recording.queue, api.queue_teams(recording.queue))] if recording.queue else []
    agents = [(recording.agent, api.agent_teams(recording.agent))] if recording.agent else []
    return sees_call(principal, queues, agents)


async def _authorized(request: web.Request, action: str, listen: bool = False) -> tuple[Principal, Recording]:
    """The principal and the recording the path names, or _Refused (audited) with the 404 to give. The route's
    permission was checked by the middleware (its refusals are audited there)."""
    api = request.app[RECORDINGS]
    principal = principal_of(request)
    raw_id = request.match_info.get("recording_id", "")
    recording = await api.registry.get(raw_id) if is_recording_id(raw_id) else None
    if recording is None or not _in_scope(api, principal, recording, listen):
        await _audit(request, principal, action, raw_id if is_recording_id(raw_id) else "(invalid id)",
                     Outcome.DENIED, reason="not found or out of scope")
        raise _Refused(_not_found())
    return principal, recording


# ---------------------------------------------------------------- reads


def _filter(query: Any) -> RecordingFilter | str:
    """The list's filter from ?call=&agent=&queue=&from=&to=&limit=, or what is wrong with it."""
    values: dict[str, Any] = {}
    for key, field_name, grammar in (("call", "call_id", ASTERISK_ID), ("agent", "agent", ACD_ID),
                                     ("queue", "queue", ACD_ID)):
        if key in query:
            if not grammar.match(query[key]):
                return f"{key} is not a valid id"
            values[field_name] = query[key]
    for key, field_name in (("from", "since"), ("to", "until")):
        if key in query:
            try:
                moment = datetime.fromisoformat(query[key])
                if moment.tzinfo is None:
                    return f"{key} must carry its UTC offset"
                values[field_name] = moment.astimezone(UTC)
            except (ValueError, OverflowError):  # not a time, or one that is outside the years UTC can hold
                return f"{key} must be an ISO 8601 time with its offset (2026-12-02T09:00:00+00:00)"
    if "limit" in query:
        if not re.fullmatch(r"[0-9]{1,4}", query["limit"]) or not 1 <= int(query["limit"]) <= MAX_LIMIT:
            return f"limit must be a whole number from 1 to {MAX_LIMIT}"
        values["limit"] = int(query["limit"])
    return RecordingFilter(**values)


async def list_recordings(request: web.Request) -> web.Response:
    api, principal = request.app[RECORDINGS], principal_of(request)
    wanted = _filter(request.query)
    if isinstance(wanted, str):
        return _error(400, "bad_request", wanted)
    found = [r for r in await api.registry.find(wanted) if _in_scope(api, principal, r, listen=False)]
    return web.json_response({"recordings": [recording_json(r) for r in found]})


async def show_recording(request: web.Request) -> web.Response:
    try:
        _, recording = await _authorized(request, "recording.show")
    except _Refused as refused:
        return refused.response
    return web.json_response(recording_json(recording))


async def recording_audio(request: web.Request) -> web.StreamResponse:
    """The audio, streamed by aiohttp's FileResponse (Range, If-Range, 206/416 done there); ?download=1 as an
    attachment. Audited as recording.listen or recording.download, with the Range asked."""
    download = request.query.get("download") == "1"
    action = "recording.download" if download else "recording.listen"
    try:
        principal, recording = await _authorized(request, action, listen=True)
    except _Refused as refused:
        return refused.response
    api = request.app[RECORDINGS]
    path = api.files.path_of(recording.relative_path)
    if recording.purged_at is not None or recording.live or not path.is_file():
        await _audit(request, principal, action, recording.id, Outcome.DENIED, reason="no audio")
        return _error(404 if recording.purged_at is None else 410, "no_audio",
                      "purged" if recording.purged_at is not None else f"no audio ({recording.state})")
    await _audit(request, principal, action, recording.id, Outcome.ALLOWED,
                 range=request.headers.get("Range", "")[:100])
    headers = {"Content-Type": CONTENT_TYPES[recording.format], "Cache-Control": "no-store",
               "X-Content-Type-Options": "nosniff"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{recording.id}.{recording.format}"'
    return web.FileResponse(path, headers=headers)


# ---------------------------------------------------------------- controls


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request_json(request) if request.can_read_body else {}
    except ValueError:
        raise _Refused(_error(400, "bad_request", "the body must be JSON")) from None
    if not isinstance(body, dict):
        raise _Refused(_error(400, "bad_request", "the body must be a JSON object"))
    return body


def _control(action: str) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        api = request.app[RECORDINGS]
        try:
            principal, recording = await _authorized(request, f"recording.{action}")
            body = await _body(request)
            reason = body.get("reason", "api")
            if action == "pause" and not isinstance(reason, str):
                raise _Refused(_error(400, "bad_request", "reason must be a lowercase identifier"))
            try:
                if action == "pause":
                    changed = await api.recorder.pause(recording.id, reason)
                elif action == "resume":
                    changed = await api.recorder.resume(recording.id)
                else:
                    changed = await api.recorder.stop(recording.id)
            except RecordingRefused:
                raise _Refused(_error(409, "not_live", f"recording is {recording.state}, not live")) from None
            except RecordingControlFailed as exc:
                raise _Refused(_error(502, "asterisk_failed", str(exc))) from None
            except ValueError as exc:
                raise _Refused(_error(400, "bad_request", str(exc))) from None
        except _Refused as refused:
            return refused.response
        await _audit(request, principal, f"recording.{action}", recording.id, Outcome.ALLOWED,
                     **({"reason": reason} if action == "pause" else {}))
        return web.json_response(recording_json(changed))
    return handle


async def set_hold(request: web.Request) -> web.Response:
    """PUT {"legal_hold": true|false}: a held recording is never purged."""
    api = request.app[RECORDINGS]
    try:
        principal, recording = await _authorized(request, "recording.hold")
        body = await _body(request)
    except _Refused as refused:
        return refused.response
    hold = body.get("legal_hold")
    if not isinstance(hold, bool):
        return _error(400, "bad_request", 'needs {"legal_hold": true} or {"legal_hold": false}')
    if recording.purged_at is not None:
        return _error(409, "purged", "the recording was purged")
    try:
        changed = await api.recorder.set_hold(recording.id, hold)
    except RecordingRefused:  # gone since it was read
        return _not_found()
    await _audit(request, principal, "recording.hold", recording.id, Outcome.ALLOWED, legal_hold=hold)
    return web.json_response(recording_json(changed))


ROUTES = (
    Route("GET", "/api/recordings", list_recordings, Permission.RECORDINGS_LIST),
    Route("GET", "/api/recordings/{recording_id}", show_recording, Permission.RECORDINGS_LIST),
    Route("GET", "/api/recordings/{recording_id}/audio", recording_audio, Permission.RECORDINGS_LISTEN),
    *(Route("POST", f"/api/recordings/{{recording_id}}/{action}", _control(action), Permission.RECORDINGS_CONTROL)
      for action in ("pause", "resume", "stop")),
    Route("PUT", "/api/recordings/{recording_id}/hold", set_hold, Permission.RECORDINGS_MANAGE),
)
