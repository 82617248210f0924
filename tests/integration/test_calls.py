"""Real SIP calls (SIPp, RFC 4733 DTMF) through the sandbox Asterisk 22 into the running service."""

from __future__ import annotations

import asyncio

from callcontrol.core.calls import CallStatus, EndObservedBy, EndReason
from callcontrol.devtools.sipp import place_call
from tests.integration.harness import AmiObserver, labels
from tests.support.polling import eventually
from tests.support.service_process import Records, ServiceProcess

# Timing of ivr_flows/main.yaml: hello-world (~1.9 s) then the menu prompt (~2 s, barge-in allowed),
# so a digit sent 2.8 s after the answer lands while the menu prompt plays.
DIGIT_AT_MS = 2800

MENU_CALLS = {
    "15550001": ([(DIGIT_AT_MS, "1")], [("greeting", "played", None), ("main_menu", "digit", "1"),
                                        ("sales", "played", None), ("goodbye", "hangup", None)]),
    "15550002": ([(DIGIT_AT_MS, "2")], [("greeting", "played", None), ("main_menu", "digit", "2"),
                                        ("support", "played", None), ("goodbye", "hangup", None)]),
    "15550003": ([], [("greeting", "played", None), ("main_menu", "no_input", None),
                      ("main_menu", "no_input", None), ("main_menu", "exhausted", None),
                      ("goodbye", "hangup", None)]),
    "15550009": ([(DIGIT_AT_MS, "9")], [("greeting", "played", None), ("main_menu", "invalid", "9"),
                                        ("main_menu", "no_input", None), ("main_menu", "exhausted", None),
                                        ("goodbye", "hangup", None)]),
}


def path_of(record) -> list[tuple]:
    return [(step["node"], step["result"], step.get("digit")) for step in record.ivr_path]


async def test_menu_paths_are_recorded_once_per_call(sandbox, ami_secret, database_url, no_channels_left):
    """Digit 1, digit 2, no input and an invalid digit each take their path; one ended row per call."""
    service = await ServiceProcess(database_url, ami_secret).start()
    records = Records(database_url)
    try:
        results = await asyncio.gather(*(place_call(caller, digits=digits)
                                         for caller, (digits, _) in MENU_CALLS.items()))
        for caller, result in zip(MENU_CALLS, results):
            assert result.returncode == 0, f"{caller}: {result.output}"
        ended = await records.ended(len(MENU_CALLS))
        assert len(await records.all()) == len(MENU_CALLS)
        by_caller = {record.caller_number: record for record in ended}
        assert set(by_caller) == set(MENU_CALLS)
        for caller, (_, expected_path) in MENU_CALLS.items():
            record = by_caller[caller]
            assert path_of(record) == expected_path, caller
            assert record.end_reason is EndReason.FLOW_HANGUP
            assert record.end_observed_by is EndObservedBy.AMI
            assert record.dialed_number == "5000" and record.flow_id == "main" and record.flow_version
            assert record.started_at <= record.answered_at <= record.ivr_ended_at
            assert record.ended_at is not None and record.ended_at >= record.answered_at
            assert record.call_id == record.uniqueid  # an inbound call's linkedid is its own uniqueid
        ended_lines = [line for line in service.log_lines() if line.get("event") == "call.ended"]
        assert sorted(line["caller_number"] for line in ended_lines) == sorted(MENU_CALLS)
    finally:
        await records.close()
        assert await service.stop() == 0, service.log_tail()


async def test_caller_hanging_up_during_a_prompt_is_recorded(service, records, no_channels_left):
    """A caller who hangs up during the greeting leaves a record ending in caller_hangup at that node."""
    result = await place_call("15550100", hangup_after_ms=800)
    assert result.returncode == 0, result.output
    (record,) = await records.ended(1)
    assert record.end_reason is EndReason.CALLER_HANGUP
    assert path_of(record) == [("greeting", "caller_hangup", None)]
    assert record.hangup_cause == 16  # normal clearing, from the Hangup event


async def test_calls_fall_back_to_the_dialplan_when_the_service_is_down(sandbox, ami_secret, no_channels_left):
    """With nothing on the FastAGI port the dialplan plays its fallback announcement instead of silence."""
    async with AmiObserver(ami_secret) as ami:
        result = await place_call("15550200")
        assert result.returncode == 0, result.output
        events = await eventually(lambda: ami.user_events("CallcontrolFallback"), 5, what="fallback event")
        assert events[0]["Reason"] == "agi_failure"


async def test_sigterm_mid_call_hands_the_caller_to_the_fallback_and_exits_0(
        sandbox, ami_secret, sqlite_url, no_channels_left):
    """SIGTERM while a caller is in the menu: exit 0, caller gets the fallback, the record is closed later."""
    service = ServiceProcess(sqlite_url, ami_secret, extra_env={"CALLCONTROL_SHUTDOWN_GRACE_S": "0.5"})
    await service.start()
    records = Records(sqlite_url)
    try:
        async with AmiObserver(ami_secret) as ami:
            call = asyncio.create_task(place_call("15550300"))
            await eventually(lambda: any(e.get("Event") == "Newchannel" for e in ami.seen), 10, what="the call")
            await asyncio.sleep(3)  # in the menu by now
            assert await service.stop() == 0, service.log_tail()
            result = await call
            assert result.returncode == 0, result.output
            events = await eventually(lambda: ami.user_events("CallcontrolFallback"), 5, what="fallback event")
            assert events[0]["Reason"] == "service_lost"
        (left,) = await records.all()
        assert left.end_reason is EndReason.SERVICE_SHUTDOWN and left.status is CallStatus.ACTIVE
        assert left.ivr_path[-1]["result"] == "shutdown"
        # The next run adopts the unfinished record and closes it from the channel snapshot.
        restarted = await ServiceProcess(sqlite_url, ami_secret).start()
        try:
            (closed,) = await records.ended(1)
            assert closed.end_reason is EndReason.SERVICE_SHUTDOWN
            assert closed.end_observed_by is EndObservedBy.RESYNC
        finally:
            assert await restarted.stop() == 0
    finally:
        await records.close()


async def test_wrong_ami_secret_keeps_the_service_unready_with_the_reason(sandbox, sqlite_url):
    """With a wrong AMI secret /readyz answers 503 naming the rejected login, and the secret is never logged."""
    wrong = "definitely-not-the-secret"
    service = await ServiceProcess(sqlite_url, wrong).start(wait_ready=False)
    try:
        async def rejected():
            status, body = await service.readyz()
            return status == 503 and any("login rejected" in r for r in body.get("reasons", []))
        await eventually(rejected, 15, what="readyz reporting the rejected login")
        assert wrong not in service.log_path.read_text()
    finally:
        assert await service.stop() == 0, service.log_tail()


async def test_the_sandbox_demo_number_walks_the_acme_line_open_at_any_hour(service, records, no_channels_left):
    """5012 is routed by dialplan-sandbox/ only: the ACME flow (ivr_flows/acme.yaml) answers it as if open, so its
    welcome plays whatever the hour in Paris, and the path still shows the hours decision."""
    result = await place_call("15550120", number="5012", hangup_after_ms=4000)
    assert result.returncode == 0, result.output
    (record,) = await records.ended(1)
    path = labels(record)
    assert (record.flow_id, record.dialed_number) == ("acme", "5012"), path
    decision = path[0]
    if decision == "office_hours(open)":
        assert path[1] == "welcome", path
    else:
        assert decision in ("office_hours(closed)", "office_hours(holiday)"), path
        assert path[1:3] == [f"demo_when_{decision[13:-1]}(case_1)", "welcome"], path
