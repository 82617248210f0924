"""schemathesis against `callcontrol serve` as a real process: every operation of the served OpenAPI document.

The service runs on a migrated SQLite file with the sandbox's ACD configuration (acd/sandbox.yaml), the
repository's flows and one finished recording (row and file: the id the document's examples name); AMI points at
a closed port, so it is up but not ready, which the API does not need (no Asterisk, no sandbox lock). Requests
are generated from the document it serves at /api/openapi.json:
- with the token, each operation's answers: never a 5xx (but a probe's 503 while not ready, which is described),
  and status code, content type, headers and body as described;
- without credentials or with a wrong token, no 2xx on any operation but the two probes.
Hypothesis runs derandomized (the same requests every run), a few examples per operation: 15 to 20 s of
requests measured on a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import schemathesis
from jsonschema import Draft202012Validator
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.schemas import APIOperation

from callcontrol.adapters.db.recording_store import SqlRecordingRegistry
from callcontrol.adapters.db.store import SqlCallRecordStore, make_engine
from callcontrol.adapters.http.openapi import DESCRIBED
from callcontrol.adapters.http.recordings_described import EXAMPLE_ID
from callcontrol.adapters.http.wrapups import EXAMPLE_CALL_ID
from callcontrol.core.calls import CallRecord, EndObservedBy, EndReason
from callcontrol.core.interactions import AgentLeg, QueueStint
from callcontrol.core.recordings import COMPLETE, Recording
from callcontrol.devtools.sipp import free_port
from tests.support.http_api import AUTH, TOKEN
from tests.support.paths import REPO
from tests.support.recording import write_wav
from tests.support.service_process import ServiceProcess, closed_port

EXAMPLES = 6  # per operation and test; with the explicit examples of the document first
BUDGET_S = 60  # every request of the module, once the service is up
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
PROBES = {("GET", "/healthz"), ("GET", "/readyz")}
OPEN = PROBES | {("POST", "/api/login")}  # anybody may call these; signing in is what the login is for
PASSWORD = "correct horse battery staple"  # the admin user's, as in POST /api/login's example
RUN = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
               phases=[Phase.explicit, Phase.generate],
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                      HealthCheck.function_scoped_fixture])


class LiveService:
    """`callcontrol serve` started once for the module (a plain subprocess: the tests here are synchronous)."""

    def __init__(self, tmp: Path) -> None:
        self.recordings = tmp / "recordings"
        self.service = ServiceProcess(
            f"sqlite+aiosqlite:///{tmp / 'calls.sqlite3'}", "s3cret-s3cret", ami_port=closed_port(),
            extra_env={"CALLCONTROL_API_TOKEN": TOKEN, "CALLCONTROL_AGI_PORT": str(free_port()),
                       "CALLCONTROL_FLOWS_DIR": str(REPO / "ivr_flows"),
                       "CALLCONTROL_RECORDINGS_DIR": str(self.recordings)})
        self.base_url = f"http://127.0.0.1:{self.service.http_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        for args in (("db", "upgrade"), ("acd", "import", str(REPO / "acd" / "sandbox.yaml"), "--replace")):
            code, out = asyncio.run(self.service.cli(*args))
            assert code == 0, out
        asyncio.run(self.register_example_recording())
        asyncio.run(self.register_example_call())
        added = subprocess.run([sys.executable, "-m", "callcontrol", "users", "add", "admin", "--role", "admin",
                                "--password-stdin"], env=self.service.env(), input=f"{PASSWORD}\n".encode(),
                               capture_output=True, timeout=60)
        assert added.returncode == 0, added.stdout + added.stderr
        with self.service.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "callcontrol", "serve"], env=self.service.env(),
                                            stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while self.get("/healthz")[0] != 200:
            assert self.process.poll() is None, f"serve exited:\n{self.service.log_tail()}"
            assert time.monotonic() < deadline, f"serve not up in 30 s:\n{self.service.log_tail()}"
            time.sleep(0.2)

    async def register_example_recording(self) -> None:
        """The recording the document's examples name (EXAMPLE_ID), as the recorder leaves a finished one: its row
        (ada's call in the sales queue, today, complete) and its WAV file under CALLCONTROL_RECORDINGS_DIR."""
        started = datetime.now(UTC) - timedelta(minutes=5)
        example = Recording(EXAMPLE_ID, "1764666000.1", "PJSIP/caller-00000001", "sales", "ada", started, 30,
                            agents_may_listen=True, state=COMPLETE, ended_at=started + timedelta(seconds=2),
                            duration_s=2.0)
        write_wav(self.recordings / example.relative_path, 2.0)
        engine = make_engine(self.service.database_url)
        try:
            await SqlRecordingRegistry(engine).save(example)
        finally:
            await engine.dispose()

    async def register_example_call(self) -> None:
        """The call PUT /api/calls/{call_id}/wrapup's example names (EXAMPLE_CALL_ID): ada answered it in sales
        (whose codes acd/sandbox.yaml lists), it ended a minute ago."""
        ended_at = datetime.now(UTC) - timedelta(minutes=1)
        started = ended_at - timedelta(seconds=30)
        record = CallRecord(EXAMPLE_CALL_ID, EXAMPLE_CALL_ID, "PJSIP/trunk-00000001", "15550100", "", "5000", started)
        leg = AgentLeg("ada", "PJSIP/agent1001", started + timedelta(seconds=5), wrapup_required=True)
        record.add_queue_stint(QueueStint("sales", started, "answered", left_at=ended_at, waited_s=5.0,
                                          agent_leg=leg.ended(ended_at)))
        record.mark_ivr_ended(EndReason.AGENT_ANSWERED, [], ended_at)
        record.mark_channel_gone(ended_at, EndObservedBy.AMI, 16)
        record.close()
        engine = make_engine(self.service.database_url)
        try:
            await SqlCallRecordStore(engine).save([record])
        finally:
            await engine.dispose()

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, bytes]:
        return self.request(path, headers, method)[:2]

    def request(self, path: str, headers: dict[str, str] | None = None,
                method: str = "GET") -> tuple[int, bytes, dict[str, str]]:
        request = urllib.request.Request(self.base_url + path, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)
        except OSError:
            return 0, b"", {}

    def stop(self) -> int:
        assert self.process is not None
        self.process.terminate()
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"serve ignored SIGTERM:\n{self.service.log_tail()}") from None


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    service = LiveService(tmp_path_factory.mktemp("openapi_live"))
    service.start()
    started = time.monotonic()
    yield service
    code = service.stop()
    assert code == 0, service.service.log_tail()
    errors = [line for line in service.service.log_lines() if line.get("level") in ("error", "critical")]
    assert errors == [], errors  # nothing blew up behind an answer that looked fine
    assert time.monotonic() - started < BUDGET_S, "the schemathesis run is over its time budget"


@pytest.fixture(scope="module")
def served_schema(live: LiveService) -> schemathesis.BaseSchema:
    """The document as the live service serves it (with the token), loaded by schemathesis."""
    status, body = live.get("/api/openapi.json", AUTH)
    assert status == 200, body
    return schemathesis.openapi.from_dict(json.loads(body))


AGENT_DAY = ("login", "pause", "resume", "logout")


def in_order(operation: tuple[str, str]) -> tuple[int, int, str]:
    """Reads first, deletes last, an agent's actions in the order of its day: so that each operation meets the
    sandbox's agents and queues under their documented ids, in a state where its example succeeds."""
    method, path = operation
    action = path.rsplit("/", 1)[-1]
    return ("GET", "POST", "PUT", "PATCH", "DELETE").index(method), AGENT_DAY.index(action) if action in AGENT_DAY else 0, path


OPERATIONS = sorted(DESCRIBED, key=in_order)  # the whole API: the unit tests keep DESCRIBED equal to the routes
NO_SUCCESS = {("GET", "/api/feed"), ("GET", "/readyz"),  # a plain GET of a WebSocket; a service with no AMI
              # a live recording needs a live call (Asterisk): the finished example answers 409 not_live
              *(("POST", f"/api/recordings/{{recording_id}}/{action}") for action in ("pause", "resume", "stop")),
              ("GET", "/api/calls/{call_id}"),  # a call in progress needs Asterisk: the example id answers 404
              # a transfer needs a caller talking with an agent (Asterisk): here every call id answers 404 no_call
              ("POST", "/api/calls/{call_id}/transfer"),
              # supervision needs an agent talking (Asterisk): every call id answers 404, so no session exists
              ("POST", "/api/calls/{call_id}/supervise"),
              *((method, "/api/supervision/{session_id}") for method in ("GET", "PATCH", "DELETE"))}


def each_request(operation: APIOperation, send: Callable[[schemathesis.Case], None]) -> None:
    """send() for the operation's documented examples (ids the service knows, a body it accepts), then for
    EXAMPLES requests generated from its description: the same ones every run."""
    for strategy, count in [*((example, 1) for example in operation.get_strategies_from_examples()),
                            (operation.as_strategy(), EXAMPLES)]:
        @settings(RUN, max_examples=count)
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            send(case)
        run()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_with_the_token_every_operation_answers_as_described_and_never_5xx(method, path, served_schema, live):
    """Every operation with the API token: no 5xx (the probe's described 503 aside), answers as described."""
    checks = [check for check in CHECKS if not (check is not_a_server_error and path == "/readyz")]
    statuses: list[int] = []

    def send(case: schemathesis.Case) -> None:
        statuses.append(case.call_and_validate(base_url=live.base_url, headers=AUTH, checks=checks).status_code)
    each_request(served_schema[path][method], send)
    if (method, path) not in NO_SUCCESS:  # the checks above saw real answers, not only refusals
        assert any(200 <= status < 300 for status in statuses), statuses


def test_only_the_probes_are_open(served_schema):
    """The document says what the last test checks: only /healthz and /readyz need no credentials."""
    open_operations = {(method.upper(), path) for path, item in served_schema.raw_schema["paths"].items()
                       for method, operation in item.items() if operation["security"] == []}
    assert open_operations == OPEN


def test_a_method_no_route_has_is_a_json_405_naming_the_described_ones(served_schema, live):
    """A method the path has no route for, on every described path: 405, the JSON error, Allow = the described
    methods."""
    for path, item in served_schema.raw_schema["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)  # any id: the method is refused before the handler
        unserved = next(method for method in ("PATCH", "PUT", "POST", "DELETE") if method.lower() not in item)
        status, body, headers = live.request(concrete, AUTH, unserved)
        assert status == 405 and json.loads(body)["error"] == "method_not_allowed", (path, status, body[:200])
        allowed = set(headers["Allow"].split(",")) - {"HEAD"}
        assert allowed == {method.upper() for method in item}, (path, headers["Allow"])


def test_the_feed_s_snapshot_has_the_described_agents_and_queues(served_schema, live):
    """The WebSocket with the token: its first message's agents and queues are shaped as the Agent and Queue
    schemas of the document (what GET /api/agents and /api/queues answer); without the token no handshake."""
    async def first_message(headers: dict[str, str]) -> dict:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{live.base_url}/api/feed", headers=headers) as ws:
                return await ws.receive_json(timeout=5)

    snapshot = asyncio.run(first_message(AUTH))
    schemas = served_schema.raw_schema["components"]["schemas"]
    assert snapshot["type"] == "snapshot" and snapshot["agents"] and snapshot["queues"]
    for kind, items in (("Agent", snapshot["agents"]), ("Queue", snapshot["queues"])):
        for item in items:
            Draft202012Validator(schemas[kind]).validate(item)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        asyncio.run(first_message({}))
    assert refused.value.status == 401


# Last in the module: wrong credentials may count against the test's address (a rate limit answers 429).
@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if op not in OPEN],
                         ids=[f"{m} {p}" for m, p in OPERATIONS if (m, p) not in OPEN])
def test_without_credentials_nothing_but_the_probes_succeeds(method, path, served_schema, live):
    """No Authorization, a wrong token, a token without its scheme, a stranger's Basic: a JSON refusal (401, 403;
    429 once a limit counts wrong credentials), never 2xx."""
    def send(case: schemathesis.Case) -> None:
        for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": TOKEN},
                        {"Authorization": "Basic bm9ib2R5Om5vcGlu"}):
            response = case.call(base_url=live.base_url, headers=headers)
            answer = (headers, response.status_code, response.text[:200])
            assert response.status_code in (401, 403, 429), answer
            assert response.headers["content-type"][0].startswith("application/json"), answer
    each_request(served_schema[path][method], send)
