"""Skills-based routing on real calls: SIPp callers and agent phones, the sandbox Asterisk, the service's ACD.

Agents log in and pause over the HTTP API; the ACD configuration is imported with `callcontrol acd import`.
Each agent phone is a SIPp UAS on its static contact port (dialplan/pjsip.conf: agent100N on 127.0.0.1:510N).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy

from callcontrol.adapters.db.acd_store import SqlAcdStore
from callcontrol.adapters.db.store import make_engine
from callcontrol.core.calls import CallRecord, EndReason
from callcontrol.devtools.sipp import SippRun, place_agent_call, place_call, start_agent, start_busy_phone
from tests.integration.harness import AmiObserver, call_and_record, labels, most_channels_per_phone, transitions
from tests.support.polling import eventually
from tests.support.service_process import Records, ServiceProcess

TOKEN = "test-token-0123456789"
RING_TIMEOUT_S = 4
WRAP_UP_S = 3  # ada's own wrap-up time (the queue has none)
RELAX_AFTER_S = 3  # then english 2 is enough: cy qualifies
MAX_MISSES = 2  # consecutive unanswered offers before an agent is paused "missed"
ACD = f"""\
agents:
  - {{id: ada, name: Ada, endpoint: PJSIP/agent1001, teams: [sales], skills: {{english: 5}}, wrap_up_s: {WRAP_UP_S}}}
  - {{id: bob, name: Bob, endpoint: PJSIP/agent1002, teams: [sales], skills: {{english: 9}}}}
  - {{id: cy, name: Cy, endpoint: PJSIP/agent1003, teams: [sales], skills: {{english: 2}}}}
queues:
  - {{id: sales, name: Sales, required_skills: {{english: 3}}, strategy: best_skill, ring_timeout_s: {RING_TIMEOUT_S},
     wrap_up_s: 0, max_wait_s: 600, callback_allowed: true,
     escalations: [{{after_s: {RELAX_AFTER_S}, relax: {{english: 2}}}}]}}
"""
FLOW = """\
id: desk
numbers: ["5002"]
allow: {queues: [sales]}
start: sales
nodes:
  sales: {type: queue, queue: sales, max_wait_s: 20, exit_keys: {"9": bye}, answered: bye, timeout: sorry,
          no_agents: sorry, callback: {key: "2", numbers: "01555000[0-9]{2}", next: booked},
          announce: {position: true, estimated_wait: true, every_s: 15}}
  booked: {type: play, prompts: [beep], next: bye}
  sorry: {type: play, prompts: [im-sorry], next: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
"""
PORTS = {"ada": 5101, "bob": 5102, "cy": 5103}


@pytest.fixture
async def acd_service(sandbox, ami_secret, sqlite_url, tmp_path: Path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "desk.yaml").write_text(FLOW)
    config = tmp_path / "acd.yaml"
    config.write_text(ACD)
    service = ServiceProcess(sqlite_url, ami_secret, extra_env={"CALLCONTROL_FLOWS_DIR": str(flows),
                                                               "CALLCONTROL_API_TOKEN": TOKEN,
                                                               "CALLCONTROL_ACD_MAX_MISSES": str(MAX_MISSES)})
    await service.start(acd_config=config)
    yield service
    assert await service.stop() == 0, service.log_tail()


async def api(service: ServiceProcess, method: str, path: str, body: dict | None = None,
              token: str | None = TOKEN) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"http://127.0.0.1:{service.http_port}{path}", json=body,
                                   headers=headers) as response:
            return response.status, await response.json()


async def call_with_phones(records: Records, caller: str, phones: list[asyncio.Task[SippRun]]
                           ) -> tuple[CallRecord, list[SippRun]]:
    """One caller into the desk flow while these agent phones run; the ended record and each phone's run."""
    try:
        call = await place_call(caller, number="5002", timeout_s=40)
        (record,) = await records.ended(1)
        runs = list(await asyncio.gather(*phones))
    finally:
        for phone in phones:  # never leave a phone holding its port for the next test
            phone.cancel()
        await asyncio.gather(*phones, return_exceptions=True)
    assert call.returncode == 0, call.output
    return record, runs


async def book_callback_while_ada_is_paused(service: ServiceProcess, records: Records, caller: str,
                                           number: str) -> CallRecord:
    """ada logs in and pauses (meeting); the caller presses 2, keys `number` and hangs up: its ended record."""
    await api(service, "POST", "/api/agents/ada/login")
    await api(service, "POST", "/api/agents/ada/pause", {"reason": "meeting"})
    keys = [(2000, "2"), (1500, number[0]), *((300, digit) for digit in number[1:]), (300, "#")]
    _, _, record = await call_and_record(records, caller, keys, "desk")
    assert labels(record) == ["sales[callback_requested]", "booked", "bye"]
    return record


async def resume_ada_and_connect_the_callback(service: ServiceProcess) -> None:
    """ada resumes: her phone (answers, waits for the end) is rung, then the customer's (answers, talks 1 s)."""
    customer = await start_agent(5190, 300, 1000, timeout_s=40)
    ada = await start_agent(PORTS["ada"], 300, 0, timeout_s=40)
    try:
        await api(service, "POST", "/api/agents/ada/resume")
        talked, rang = await asyncio.gather(customer, ada)
    finally:
        for phone in (customer, ada):
            phone.cancel()
        await asyncio.gather(customer, ada, return_exceptions=True)
    assert talked.returncode == 0 and talked.successful == 1, talked.output
    assert rang.returncode == 0 and rang.successful == 1, rang.output


async def booked_numbers(database_url: str) -> list[str]:
    """The numbers of the callbacks kept in the database."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return [row[0] for row in await connection.execute(sqlalchemy.text("SELECT number FROM acd_callbacks"))]
    finally:
        await engine.dispose()


async def test_best_skill_agent_gets_the_call_and_every_transition_is_logged(acd_service, records, sqlite_url,
                                                                            no_channels_left):
    """ada (english 5) and bob (english 9) log in; best_skill gives bob the call; cy (2) is not eligible."""
    for agent in ("ada", "bob", "cy"):
        status, body = await api(acd_service, "POST", f"/api/agents/{agent}/login")
        assert status == 200 and body["state"] == "available", body
    status, explained = await api(acd_service, "GET", "/api/queues/sales/explain")
    assert status == 200
    assert [(a["agent"], a["eligible"]) for a in explained["agents"]] == [("bob", True), ("ada", True),
                                                                         ("cy", False)]
    assert "english level 2 < required 3" in explained["agents"][2]["reason"]
    code, printed = await acd_service.cli("acd", "explain", "sales")
    assert code == 0, printed
    ranked = [line.split()[:2] for line in printed.splitlines()[1:]]
    assert ranked == [["1", "bob"], ["2", "ada"], ["-", "cy"]], printed

    bob = await start_agent(PORTS["bob"], 500, 1500, timeout_s=30)
    _, answered, record = await call_and_record(records, "15550801", [], "desk", bob)

    assert labels(record) == ["sales[answered]", "bye"]
    assert re.search(r"<-{10} BYE\s+1\s", answered.output), "bob, not Asterisk, should have hung up"
    (stint,) = record.queue_stints
    assert (stint.queue, stint.outcome, stint.agent) == ("sales", "answered", "bob")
    assert [(o.agent, o.result) for o in stint.offers] == [("bob", "answered")]
    assert 0 <= stint.waited_s < 2 and 1.0 < stint.talk_s < 4
    assert record.end_reason is EndReason.FLOW_HANGUP
    logged = await transitions(sqlite_url)
    assert [t for t in logged if t[0] == "bob"] == [
        ("bob", "available", "login"), ("bob", "reserved", "offered"), ("bob", "on_call", "answered"),
        ("bob", "available", "call_ended")]
    assert [t for t in logged if t[0] == "ada"] == [("ada", "available", "login")]


async def test_ring_no_answer_returns_the_caller_who_then_goes_to_the_next_agent(acd_service, records, sqlite_url,
                                                                                no_channels_left):
    """bob never answers: after the ring timeout the caller is back at the head of the queue and ada gets it."""
    for agent in ("ada", "bob"):
        await api(acd_service, "POST", f"/api/agents/{agent}/login")
    bob = await start_agent(PORTS["bob"], (RING_TIMEOUT_S + 5) * 1000, 0, timeout_s=40)
    ada = await start_agent(PORTS["ada"], 500, 1500, timeout_s=40)
    record, (rang, answered) = await call_with_phones(records, "15550802", [bob, ada])
    assert labels(record) == ["sales[answered]", "bye"]
    assert re.search(r"-{10}> CANCEL\s+1\s", rang.output), "Asterisk should have cancelled bob's ringing phone"
    assert answered.returncode == 0 and answered.successful == 1, answered.output
    (stint,) = record.queue_stints
    assert [(o.agent, o.result) for o in stint.offers] == [("bob", "noanswer"), ("ada", "answered")]
    assert stint.waited_s >= RING_TIMEOUT_S
    logged = await transitions(sqlite_url)
    assert ("bob", "available", "missed") in logged
    assert logged.index(("bob", "available", "missed")) < logged.index(("ada", "reserved", "offered"))
    status, body = await api(acd_service, "GET", "/api/agents/bob")
    assert body["missed_in_a_row"] == 1


async def test_a_paused_agent_gets_nothing_and_the_caller_leaves_with_the_exit_key(acd_service, records,
                                                                                 no_channels_left):
    """bob is paused (lunch): the caller waits, sees the queue in the API, then presses 9 to leave."""
    await api(acd_service, "POST", "/api/agents/bob/login")
    status, body = await api(acd_service, "POST", "/api/agents/bob/pause", {"reason": "lunch"})
    assert status == 200 and body["state"] == "paused" and body["pause_reason"] == "lunch"
    call = asyncio.create_task(place_call("15550803", number="5002", digits=[(3000, "9")], timeout_s=40))
    await asyncio.sleep(1.5)
    _, queues = await api(acd_service, "GET", "/api/queues/sales")
    assert [c["ringing"] for c in queues["calls"]] == [None] and queues["logged_in"] == 1
    result = await call
    (record,) = await records.ended(1)
    assert result.returncode == 0, result.output
    assert labels(record) == ["sales:9[exited_by_key]", "bye"]
    assert [(s.outcome, s.agent, s.offers) for s in record.queue_stints] == [("exited_by_key", None, ())]


async def test_nobody_logged_in_takes_the_no_agents_exit_and_the_api_refuses_without_the_token(
        acd_service, records, no_channels_left):
    _, _, record = await call_and_record(records, "15550804", [], "desk")
    assert labels(record) == ["sales[no_agents]", "sorry", "bye"]
    assert [s.outcome for s in record.queue_stints] == ["blocked"]
    status, body = await api(acd_service, "POST", "/api/agents/ada/login", token="wrong-token-0123456789")
    assert status == 401
    for path in ("/api/agents/ada", "/api/queues/sales", "/api/flows"):  # reads need the token too
        status, body = await api(acd_service, "GET", path, token=None)
        assert status == 401 and body["error"] == "unauthorized", path
    status, body = await api(acd_service, "POST", "/api/agents/nobody/login")
    assert status == 404 and body["error"] == "UnknownAgent"
    await api(acd_service, "POST", "/api/agents/ada/login")
    status, body = await api(acd_service, "POST", "/api/agents/ada/login")
    assert status == 409 and body["error"] == "AgentAlreadyLoggedIn"


async def test_escalation_after_the_wait_widens_the_pool_to_a_less_skilled_agent(acd_service, records, sqlite_url,
                                                                                no_channels_left):
    """Only cy (english 2 < 3) is logged in: the caller waits until the relax rule at 3 s, then cy gets it."""
    await api(acd_service, "POST", "/api/agents/cy/login")
    cy = await start_agent(PORTS["cy"], 200, 1000, timeout_s=30)
    started = asyncio.get_running_loop().time()
    _, answered, record = await call_and_record(records, "15550805", [], "desk", cy)
    assert labels(record) == ["sales[answered]", "bye"]
    assert asyncio.get_running_loop().time() - started >= RELAX_AFTER_S
    logged = await transitions(sqlite_url)
    assert [t for t in logged if t[0] == "cy"][:3] == [("cy", "available", "login"), ("cy", "reserved", "offered"),
                                                      ("cy", "on_call", "answered")]


async def test_wrap_up_delays_the_next_offer(acd_service, records, sqlite_url, no_channels_left):
    """ada takes a call, wraps up 3 s, and only then gets the caller who came in meanwhile."""
    await api(acd_service, "POST", "/api/agents/ada/login")
    ada = await start_agent(PORTS["ada"], 200, 1000, calls=2, timeout_s=40)
    try:
        first = asyncio.create_task(place_call("15550806", number="5002", timeout_s=40))
        await asyncio.sleep(2.5)  # ada answered at ~0.7 s and hung up at ~1.7 s: wrap-up until ~4.7 s
        second = await place_call("15550807", number="5002", timeout_s=40)
        await first
        ended = await records.ended(2)
        answered = await ada
    finally:
        ada.cancel()
        await asyncio.gather(ada, return_exceptions=True)
    assert second.returncode == 0 and answered.successful == 2, answered.output
    assert all(labels(record) == ["sales[answered]", "bye"] for record in ended)
    logged = [t for t in await transitions(sqlite_url) if t[0] == "ada"]
    assert logged == [("ada", "available", "login"), ("ada", "reserved", "offered"), ("ada", "on_call", "answered"),
                      ("ada", "wrap_up", "call_ended"), ("ada", "available", "wrap_up_ended"),
                      ("ada", "reserved", "offered"), ("ada", "on_call", "answered"), ("ada", "wrap_up", "call_ended")]
    status, body = await api(acd_service, "GET", "/api/agents/ada")
    assert body["calls_today"] == 2


async def test_load_run_never_offers_an_agent_two_calls(acd_service, records, sqlite_url, ami_secret,
                                                       no_channels_left):
    """15 callers in 5 s for ada and bob, each answering 1.5 s calls. Asterisk's own view (agent channels
    created and hung up, from our AMI observer) never shows an agent phone with two channels at once; every
    agent's logged transitions follow the state machine; every caller is answered."""
    for agent in ("ada", "bob"):
        await api(acd_service, "POST", f"/api/agents/{agent}/login")
    phones = [await start_agent(PORTS[agent], 200, 1500, calls=15, timeout_s=90) for agent in ("ada", "bob")]
    try:
        async with AmiObserver(ami_secret) as ami:
            callers = []
            for index in range(15):
                callers.append(asyncio.create_task(place_call(f"15550900{index:02d}", number="5002", timeout_s=80)))
                await asyncio.sleep(1 / 3)
            results = await asyncio.gather(*callers)
            ended = await records.ended(15, timeout=60)
            events = list(ami.seen)
    finally:
        for phone in phones:
            phone.cancel()
        await asyncio.gather(*phones, return_exceptions=True)
    assert all(result.returncode == 0 for result in results), [r.output for r in results if r.returncode][:1]
    assert sorted(tuple(labels(record)) for record in ended) == [("sales[answered]", "bye")] * 15
    most = most_channels_per_phone(events)
    assert most == {"PJSIP/agent1001": 1, "PJSIP/agent1002": 1}, most
    logged = await transitions(sqlite_url)
    allowed = {("available", "reserved"), ("reserved", "on_call"), ("reserved", "available"),
               ("on_call", "wrap_up"), ("on_call", "available"), ("wrap_up", "available")}
    for agent in ("ada", "bob"):
        states = [to_state for who, to_state, _ in logged if who == agent]
        assert all(pair in allowed for pair in zip(states, states[1:])), (agent, states)
    assert sum(1 for _, to_state, _ in logged if to_state == "on_call") == 15


async def test_agent_logs_in_and_out_from_the_phone_with_its_pin(acd_service, sqlite_url, no_channels_left):
    """ada's phone (agent1001) dials *70 and keys its PIN: logged in; again: logged out; a wrong PIN: nothing.
    The PIN is never in the service log."""
    engine = make_engine(sqlite_url)
    try:
        await SqlAcdStore(engine).set_agent_pin("ada", "4817")
    finally:
        await engine.dispose()
    pin = [(1500, "4"), (300, "8"), (300, "1"), (300, "7"), (300, "#")]

    login = await place_agent_call("agent1001", "*70", pin, timeout_s=30)
    assert login.returncode == 0, login.output
    _, ada = await api(acd_service, "GET", "/api/agents/ada")
    assert ada["state"] == "available"

    wrong = [(1500, "1"), (300, "1"), (300, "1"), (300, "1"), (300, "#")]
    refused = await place_agent_call("agent1001", "*70", wrong, hangup_after_ms=2000, timeout_s=30)
    assert refused.returncode == 0, refused.output
    _, ada = await api(acd_service, "GET", "/api/agents/ada")
    assert ada["state"] == "available"

    logout = await place_agent_call("agent1001", "*70", pin, timeout_s=30)
    assert logout.returncode == 0, logout.output
    _, ada = await api(acd_service, "GET", "/api/agents/ada")
    assert ada["state"] == "logged_out"
    assert [t[2] for t in await transitions(sqlite_url) if t[0] == "ada"] == ["login", "logout"]
    # as a number of its own: a timestamp's digits (…08.048172Z) may contain it by chance
    assert not re.search(r"(?<![0-9])4817(?![0-9])", acd_service.log_path.read_text()), "the PIN is in the log"


async def test_a_locked_out_agent_cannot_keep_guessing_from_its_phone(acd_service, sqlite_url, no_channels_left):
    """One attempt limit for the API and the phone: 4 wrong PINs over HTTP Basic, then a 5th on ada's phone (*70)
    locks ada: the line says the PIN is not accepted and hangs up by itself. Redialling with the right PIN gets the
    same answer without being asked, and ada stays logged out; the lockout is logged, the PINs never are."""
    engine = make_engine(sqlite_url)
    try:
        await SqlAcdStore(engine).set_agent_pin("ada", "4817")
    finally:
        await engine.dispose()
    async with aiohttp.ClientSession() as session:
        for wrong in ("1001", "1002", "1003", "1004"):
            async with session.post(f"http://127.0.0.1:{acd_service.http_port}/api/agents/ada/login",
                                    auth=aiohttp.BasicAuth("ada", wrong)) as response:
                assert response.status == 401
    wrong = [(1500, "9"), (300, "0"), (300, "5"), (300, "3"), (300, "#")]
    locking = await place_agent_call("agent1001", "*70", wrong, timeout_s=30)  # ends by the service's BYE
    assert locking.returncode == 0, locking.output
    right = [(1500, "4"), (300, "8"), (300, "1"), (300, "7"), (300, "#")]
    again = await place_agent_call("agent1001", "*70", right, timeout_s=30)
    assert again.returncode == 0, again.output
    _, ada = await api(acd_service, "GET", "/api/agents/ada")
    assert ada["state"] == "logged_out"
    assert "login" not in [t[2] for t in await transitions(sqlite_url) if t[0] == "ada"]
    lines = acd_service.log_lines()
    locked = [line for line in lines if line.get("event") == "acd.pin_locked"]
    assert [(e["agent"], e["source"], e["device"], e["failures"]) for e in locked] == [
        ("ada", "phone", "PJSIP/agent1001", 5)]
    ended = [line["outcome"] for line in lines if line.get("event") == "agent_phone.call_ended"]
    assert ended == ["locked", "locked"]
    log = acd_service.log_path.read_text()
    assert not any(re.search(rf"(?<![0-9]){pin}(?![0-9])", log) for pin in ("4817", "9053")), "a PIN is in the log"


async def test_a_booked_callback_keeps_its_place_and_rings_the_agent_then_the_customer(acd_service, records, sqlite_url,
                                                                                     no_channels_left):
    """With ada paused, the caller presses 2, keys the number to call back and hangs up. When ada resumes, her
    phone rings first; once she answers, the customer's phone (01555000NN: the sandbox's customer phone on
    port 5190) is called and the two are connected."""
    record = await book_callback_while_ada_is_paused(acd_service, records, "15550810", "0155500042")
    _, queue = await api(acd_service, "GET", "/api/queues/sales")
    assert len(queue["calls"]) == 1, "the callback keeps its place in the queue"
    assert await eventually(lambda: booked_numbers(sqlite_url), 5, what="the booking stored") == ["0155500042"]

    await resume_ada_and_connect_the_callback(acd_service)
    ended = [line for line in acd_service.log_lines() if line.get("event") == "acd.callback_ended"]
    assert [line["outcome"] for line in ended] == ["connected"]
    async def none_booked() -> bool:
        return await booked_numbers(sqlite_url) == []
    await eventually(none_booked, 5, what="the booking forgotten once taken")
    callback = next(r for r in await records.ended(2) if r.call_id != record.call_id)
    assert labels(callback) == ["callback[connected]"]
    assert callback.variables == {"callback_for": record.call_id, "agent": "ada", "number": "0155500042"}
    logged = [t for t in await transitions(sqlite_url) if t[0] == "ada"]
    assert [to_state for _, to_state, _ in logged][-3:] == ["reserved", "on_call", "wrap_up"]  # her own 3 s


async def test_a_waiting_caller_hears_its_position_at_the_announcement_period(acd_service, records, no_channels_left):
    """Every 15 s (the node's period) the waiting caller is told its position; a key still leaves at once."""
    await api(acd_service, "POST", "/api/agents/ada/login")
    await api(acd_service, "POST", "/api/agents/ada/pause", {"reason": "training"})
    _, _, record = await call_and_record(records, "15550811", [(17000, "9")], "desk")
    assert labels(record) == ["sales:9[exited_by_key]", "bye"]
    announced = [line for line in acd_service.log_lines() if line.get("event") == "acd.announced"]
    assert [(line["position"], line["estimated_wait_s"]) for line in announced] == [(1, None)]


async def test_a_busy_phone_is_a_miss_and_the_call_goes_to_the_next_agent(acd_service, records, sqlite_url,
                                                                         no_channels_left):
    """bob's phone answers 486 Busy Here: Asterisk's Dial() says BUSY, bob is missed, ada takes the call."""
    for agent in ("bob", "ada"):
        await api(acd_service, "POST", f"/api/agents/{agent}/login")
    busy = await start_busy_phone(PORTS["bob"], timeout_s=30)
    ada = await start_agent(PORTS["ada"], 300, 1000, timeout_s=30)
    record, (refused, answered) = await call_with_phones(records, "15550812", [busy, ada])
    assert labels(record) == ["sales[answered]", "bye"]
    assert refused.returncode == 0 and answered.successful == 1, (refused.output, answered.output)
    logged = await transitions(sqlite_url)
    assert [t for t in logged if t[0] == "bob"][-2:] == [("bob", "reserved", "offered"), ("bob", "available", "missed")]
    missed = [line for line in acd_service.log_lines() if line.get("event") == "acd.missed"]
    assert [line["status"] for line in missed] == ["BUSY"]


async def test_misses_pause_the_agent_and_the_queue_node_max_wait_takes_its_timeout_exit(
        acd_service, records, sqlite_url, no_channels_left):
    """bob never answers: after MAX_MISSES offers he is paused "missed", nobody else is there, and after the
    node's 20 s the caller leaves by the timeout exit (sorry, bye)."""
    await api(acd_service, "POST", "/api/agents/bob/login")
    silent = await start_agent(PORTS["bob"], (RING_TIMEOUT_S + 5) * 1000, 0, calls=MAX_MISSES, timeout_s=40)
    started = asyncio.get_running_loop().time()
    try:
        _, _, record = await call_and_record(records, "15550813", [], "desk")
    finally:
        silent.cancel()
        await asyncio.gather(silent, return_exceptions=True)
    logged = [t for t in await transitions(sqlite_url) if t[0] == "bob"]
    assert [(to_state, cause) for _, to_state, cause in logged][-2:] == [("reserved", "offered"), ("paused", "missed")]
    _, bob = await api(acd_service, "GET", "/api/agents/bob")
    assert (bob["state"], bob["pause_reason"]) == ("paused", "missed")
    assert labels(record) == ["sales[timeout]", "sorry", "bye"]
    assert [s.outcome for s in record.queue_stints] == ["timed_out"] and record.queue_stints[0].waited_s >= 20
    assert [o.result for o in record.queue_stints[0].offers] == ["noanswer"] * MAX_MISSES
    assert asyncio.get_running_loop().time() - started >= 20
    _, queue = await api(acd_service, "GET", "/api/queues/sales")
    assert queue["calls"] == []


async def test_an_agent_on_a_call_of_its_own_is_offered_nothing_until_it_ends(acd_service, records,
                                                                             no_channels_left):
    """ada calls a customer herself (a personal call on her device); a caller queued meanwhile waits, and
    gets ada as soon as her own call is over."""
    await api(acd_service, "POST", "/api/agents/ada/login")
    customer = await start_agent(5190, 200, 5000, timeout_s=30)
    phone = await start_agent(PORTS["ada"], 200, 1000, timeout_s=40)
    own_call = asyncio.create_task(place_agent_call("agent1001", "0155500077", timeout_s=30))
    await asyncio.sleep(1.5)
    _, queue_view = await api(acd_service, "GET", "/api/agents/ada")
    assert queue_view["device_busy"] and queue_view["state"] == "available"
    try:
        record, (answered,) = await call_with_phones(records, "15550814", [phone])
    finally:
        await asyncio.gather(own_call, customer, return_exceptions=True)
    assert labels(record) == ["sales[answered]", "bye"]
    (stint,) = record.queue_stints
    assert [(o.agent, o.result) for o in stint.offers] == [("ada", "answered")]
    assert stint.waited_s >= 3, "the caller waited for ada's own call to end"
    assert (await own_call).returncode == 0


async def test_a_booked_callback_and_a_paused_agent_survive_a_restart_of_the_service(
        acd_service, records, sqlite_url, ami_secret, no_channels_left):
    """Book a callback while ada is paused, restart the service: ada is back paused with her reason, the
    callback is back in its queue, and when ada resumes she is rung, then the customer."""
    record = await book_callback_while_ada_is_paused(acd_service, records, "15550815", "0155500043")
    await eventually(lambda: booked_numbers(sqlite_url), 5, what="the booking stored")
    assert await acd_service.stop() == 0

    restarted = ServiceProcess(sqlite_url, ami_secret, extra_env=acd_service.extra_env)
    await restarted.start()
    try:
        _, ada = await api(restarted, "GET", "/api/agents/ada")
        assert (ada["state"], ada["pause_reason"]) == ("paused", "meeting")
        _, queue = await api(restarted, "GET", "/api/queues/sales")
        assert [call["call"] for call in queue["calls"]] == [record.call_id]
        await resume_ada_and_connect_the_callback(restarted)
        ended = [line for line in restarted.log_lines() if line.get("event") == "acd.callback_ended"]
        assert [(line["outcome"], line["call"]) for line in ended] == [("connected", record.call_id)]
    finally:
        assert await restarted.stop() == 0, restarted.log_tail()
