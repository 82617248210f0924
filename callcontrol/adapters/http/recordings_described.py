"""The OpenAPI description of /api/recordings (recordings.py's ROUTES): its operations and the Recording schema.

Kept out of recordings.py for its length; openapi.py's DESCRIBED_MODULES lists this module. EXAMPLE_ID is the
recording the examples name: tests/process/test_openapi_live.py registers it (row and file) before the run.
"""

from __future__ import annotations

from callcontrol.adapters.http.openapi_parts import (
    NULLABLE_STRING,
    TIMESTAMP,
    Operations,
    Schema,
    array_of,
    error_response,
    json_body,
    json_pattern,
    json_response,
    obj,
    operation,
    query,
    ref,
)
from callcontrol.adapters.http.recordings import MAX_LIMIT
from callcontrol.core.identifiers import ACD_ID, ASTERISK_ID, RECORDING_ID, SPAN_REASON
from callcontrol.core.recordings import CONTENT_TYPES, STATES

EXAMPLE_ID = "rec_0123456789abcdef0123456789abcdef"

_NUMBER_OR_NULL: Schema = {"type": ["number", "null"]}
SCHEMAS: dict[str, Schema] = {
    "Recording": obj({
        "id": {"type": "string", "pattern": json_pattern(RECORDING_ID)},
        "call_id": {"type": "string"}, "queue": NULLABLE_STRING, "agent": NULLABLE_STRING,
        "state": {"enum": list(STATES)}, "started_at": TIMESTAMP, "ended_at": TIMESTAMP,
        "duration_s": _NUMBER_OR_NULL, "size_bytes": {"type": ["integer", "null"]},
        "format": {"enum": sorted(CONTENT_TYPES)}, "sha256": NULLABLE_STRING, "legal_hold": {"type": "boolean"},
        "purged_at": TIMESTAMP, "retention_days": {"type": "integer"},
        "problem": {"type": ["string", "null"], "description": "why it is failed, missing, empty or discarded"},
        "paused_spans": array_of(obj({"started_at": TIMESTAMP, "ended_at": TIMESTAMP, "reason": {"type": "string"}},
                                     required=("started_at", "ended_at", "reason"))),
        "silent_s": {"type": "number", "description": "how long the file holds deliberate silence (paused spans)"},
        "audio": {"type": "string", "description": "where its audio is (GET)"},
    }, required=("id", "call_id", "queue", "agent", "state", "started_at", "ended_at", "duration_s", "size_bytes",
                 "format", "sha256", "legal_hold", "purged_at", "retention_days", "problem", "paused_spans",
                 "silent_s", "audio")),
}

_ID = {"name": "recording_id", "in": "path", "required": True, "schema": {"type": "string"}, "example": EXAMPLE_ID,
       "description": "the recording's id (rec_ and 32 hex digits); any other text is 404, never a path"}
_NOT_FOUND = error_response("No such recording, or one out of the caller's scope (the same answer), or an id that "
                            "is not one")
_RECORDING = json_response("The recording", ref("Recording"))
_BAD_BODY = error_response("The body is not a JSON object, or a field is not as described")
_TIME: Schema = {"type": "string", "format": "date-time"}


def _control(summary: str, description: str) -> dict:
    return operation(summary, tag="recordings", description=description, parameters=[_ID],
                     responses={200: json_response("The recording as it is now", ref("Recording")),
                                400: _BAD_BODY, 404: _NOT_FOUND,
                                409: error_response("The recording is not live (not_live)"),
                                502: error_response("Asterisk could not carry it out (asterisk_failed)")})


OPERATIONS: Operations = {
    ("GET", "/api/recordings"): operation(
        "The recordings in the caller's scope, newest first", tag="recordings",
        description="Filtered by call, agent, queue and start time; only what the caller's scope reaches (a "
                    "supervisor's teams and queues, an agent's own).",
        parameters=[query("call", "the call's id (its Asterisk uniqueid)",
                          {"type": "string", "pattern": json_pattern(ASTERISK_ID)}),
                    query("agent", "the agent who took the call", {"type": "string", "pattern": json_pattern(ACD_ID)}),
                    query("queue", "the queue the call went through",
                          {"type": "string", "pattern": json_pattern(ACD_ID)}),
                    query("from", "started at or after (ISO 8601 with its offset)", _TIME),
                    query("to", "started before (ISO 8601 with its offset)", _TIME),
                    query("limit", "at most this many", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                                         "default": 100})],
        responses={200: json_response("The recordings", obj({"recordings": array_of(ref("Recording"))},
                                                            required=("recordings",))),
                   400: error_response("A filter is not a valid id, time (with its offset) or limit")}),
    ("GET", "/api/recordings/{recording_id}"): operation(
        "One recording: its call, agent, queue, times, size, checksum, paused spans, state", tag="recordings",
        parameters=[_ID], responses={200: _RECORDING, 404: _NOT_FOUND}),
    ("GET", "/api/recordings/{recording_id}/audio"): operation(
        "The recording's audio, streamed; HTTP Range supported", tag="recordings",
        description="Every listen and download is audited (who, when, from where, the Range asked). An agent hears "
                    "its own recordings only where the queue lets agents listen.",
        parameters=[_ID,
                    query("download", "1: as an attachment (Content-Disposition), audited as a download",
                          {"type": "string", "enum": ["1"]}),
                    {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"},
                     "description": "one byte range (RFC 9110), e.g. bytes=0-1023", "example": "bytes=0-43"}],
        responses={
            200: {"description": "The whole file",
                  "headers": {"Accept-Ranges": {"schema": {"type": "string"}}},
                  "content": {content_type: {"schema": {"type": "string", "format": "binary"}}
                              for content_type in sorted(set(CONTENT_TYPES.values()))}},
            206: {"description": "The byte range asked",
                  "headers": {"Content-Range": {"schema": {"type": "string"}, "required": True}},
                  "content": {content_type: {"schema": {"type": "string", "format": "binary"}}
                              for content_type in sorted(set(CONTENT_TYPES.values()))}},
            404: error_response("No such recording (or out of scope), or no audio: it is live or its file is "
                                "missing"),
            410: error_response("The recording was purged (its file deleted under retention)"),
            416: {"description": "The Range cannot be satisfied (no body)",
                  "headers": {"Content-Range": {"schema": {"type": "string"}, "required": True}}}}),
    ("POST", "/api/recordings/{recording_id}/pause"): {
        **_control("Pause a live recording: the file holds silence until it is resumed",
                   "Mutes both directions (MixMonitorMute) and opens a paused span with the reason."),
        "requestBody": {**json_body(obj({"reason": {"type": "string", "pattern": json_pattern(SPAN_REASON)}},
                                        closed=False), "why (api when left out)", {"reason": "payment_capture"}),
                        "required": False}},
    ("POST", "/api/recordings/{recording_id}/resume"): _control(
        "Resume a paused recording", "Unmutes and closes the open paused span."),
    ("POST", "/api/recordings/{recording_id}/stop"): _control(
        "Stop a live recording now; the call goes on", "The file is closed, measured and checksummed."),
    ("PUT", "/api/recordings/{recording_id}/hold"): operation(
        "Put a recording on legal hold, or lift it: a held recording is never purged", tag="recordings",
        parameters=[_ID], body=json_body(obj({"legal_hold": {"type": "boolean"}}, required=("legal_hold",)),
                                         "the hold", {"legal_hold": True}),
        responses={200: _RECORDING, 400: _BAD_BODY, 404: _NOT_FOUND,
                   409: error_response("The recording was purged")}),
}
