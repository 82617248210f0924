"""The http flow node on real calls: a SIPp caller, the sandbox Asterisk 22, the service, a local JSON service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from callcontrol.core.calls import EndReason
from tests.integration.harness import call_and_record, labels
from tests.support.service_process import ServiceProcess

HTTP_TIMEOUT_S = 1  # the lookup node's
SLOW_ANSWER_S = 3  # /api/slow answers this late: well past the node's timeout

# Times from the caller's ACK (see test_flow_nodes.py): `account` plays beep then waits 3 s for a first digit;
# the keys 1.5 s in, 0.6 s apart (inter-digit timeout 2 s), # ending the input.
GOLD_ACCOUNT = [(1500, "1"), (600, "2"), (600, "#")]
UNKNOWN_ACCOUNT = [(1500, "9"), (600, "9"), (600, "#")]


@dataclass
class AccountsService:
    """A local JSON service the flow's http node calls; it records every request's path and query."""

    base_url: str = ""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def accounts(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        if request.query.get("account") == "12":
            return web.json_response({"customer": {"name": "Ada", "tier": "gold"}})
        return web.json_response({"error": "no such account"}, status=404)

    async def slow(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        await asyncio.sleep(SLOW_ANSWER_S)
        return web.json_response({"customer": {"name": "Ada", "tier": "gold"}})


@pytest.fixture
async def accounts_service() -> AsyncIterator[AccountsService]:
    """The accounts service on 127.0.0.1, on a free port the OS picks."""
    service = AccountsService()
    app = web.Application()
    app.router.add_get("/api/accounts", service.accounts)
    app.router.add_get("/api/slow", service.slow)
    runner = web.AppRunner(app, shutdown_timeout=SLOW_ANSWER_S + 2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    service.base_url = f"http://{host}:{port}/api/"
    yield service
    await runner.cleanup()


def http_flow(base_url: str, endpoint: str) -> str:
    """The test flow for 5002: an account number, a lookup at `endpoint` under `base_url`, a branch on the tier."""
    return f"""\
id: lookup
numbers: ["5002"]
allow: {{http: ["{base_url}"]}}
start: account
nodes:
  account: {{type: input, prompts: [beep], variable: account, min_digits: 2, max_digits: 4, timeout_s: 3,
            inter_digit_timeout_s: 2, max_attempts: 1, next: lookup, exhausted: late}}
  lookup: {{type: http, method: GET, url: "{base_url}{endpoint}", timeout_s: {HTTP_TIMEOUT_S},
           query: {{caller: caller.number, account: vars.account}}, result: {{tier: customer.tier}},
           ok: tier, error: failed, timeout: late}}
  tier: {{type: branch, cases: [{{when: 'vars.tier == "gold"', goto: gold}}], default: plain}}
  gold: {{type: hangup, prompts: [beep]}}
  plain: {{type: hangup, prompts: [beep]}}
  failed: {{type: hangup, prompts: [im-sorry]}}
  late: {{type: hangup, prompts: [vm-goodbye]}}
"""


@pytest.fixture
def start_service(service_with_flow, accounts_service):
    """The service with the lookup test flow calling the local accounts service (endpoint: accounts or slow)."""
    async def start(endpoint: str = "accounts") -> ServiceProcess:
        return await service_with_flow("lookup.yaml", http_flow(accounts_service.base_url, endpoint))
    return start


async def test_http_lookup_ok_maps_the_answer_and_branches(start_service, records, accounts_service,
                                                           no_channels_left):
    """A known account is looked up with the caller's number, its tier lands in a variable and picks the branch."""
    await start_service()
    _, _, record = await call_and_record(records, "15550701", GOLD_ACCOUNT, "lookup")

    assert labels(record) == ["account:12", "lookup[ok]", "tier(case_1)", "gold"]
    assert record.variables == {"account": "12", "tier": "gold"}
    assert accounts_service.requests == [("/api/accounts", {"caller": "15550701", "account": "12"})]
    assert record.end_reason is EndReason.FLOW_HANGUP


async def test_http_lookup_non_2xx_takes_the_error_exit(start_service, records, accounts_service, no_channels_left):
    """An unknown account gets a 404, recorded with its status, and the lookup takes its error exit."""
    await start_service()
    _, _, record = await call_and_record(records, "15550702", UNKNOWN_ACCOUNT, "lookup")

    assert labels(record) == ["account:99", "lookup:404[error]", "failed"]
    assert record.variables == {"account": "99"}
    assert accounts_service.requests == [("/api/accounts", {"caller": "15550702", "account": "99"})]
    assert record.end_reason is EndReason.FLOW_HANGUP


async def test_http_lookup_past_its_timeout_takes_the_timeout_exit(start_service, records, accounts_service,
                                                                   no_channels_left):
    """A service answering after the node's timeout_s is abandoned and the lookup takes its timeout exit."""
    await start_service(endpoint="slow")
    _, _, record = await call_and_record(records, "15550703", GOLD_ACCOUNT, "lookup")

    assert labels(record) == ["account:12", "lookup[timeout]", "late"]
    assert record.variables == {"account": "12"}
    assert accounts_service.requests == [("/api/slow", {"caller": "15550703", "account": "12"})]
    assert record.end_reason is EndReason.FLOW_HANGUP
