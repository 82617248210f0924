"""Queue, voicemail and subflow nodes on real calls: SIPp caller and agent, sandbox Asterisk 22, the service.

No ACD configuration is imported here, so a queue node is performed by the operator's dialplan, as for any queue
the ACD does not define ([callcontrol-queues] in dialplan/extensions.conf: sales rings agent1001, a queue with
nobody behind it is refused with cause 34).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from callcontrol.core.calls import EndReason
from callcontrol.devtools.sipp import SPEAK, SPEAK_MS, place_call, start_agent
from tests.integration.harness import call_and_record, labels
from tests.support.service_process import ServiceProcess

AGENT_PORT = 5101  # agent1001's static contact (dialplan/pjsip.conf), the sales queue's only phone
MAILBOX = "2001"
MAX_WAIT_S = 5  # the queue nodes' (the smallest a flow may use)

DESK = f"""\
id: desk
numbers: ["5002"]
allow: {{queues: [sales, nobody], mailboxes: ["{MAILBOX}"]}}
start: who
nodes:
  who: {{type: subflow, flow: greet, next: route}}
  route: {{type: menu, prompts: [beep], options: {{"1": sales, "2": nobody}}, timeout_s: 3, max_attempts: 1,
          exhausted: bye}}
  sales: {{type: queue, queue: sales, max_wait_s: {MAX_WAIT_S}, answered: bye, timeout: message,
          no_agents: message}}
  nobody: {{type: queue, queue: nobody, max_wait_s: {MAX_WAIT_S}, timeout: message, no_agents: message}}
  message: {{type: voicemail, mailbox: "{MAILBOX}", greeting: none, next: bye, failed: bye}}
  bye: {{type: hangup, prompts: [vm-goodbye]}}
"""
GREET = """\
id: greet
start: hello
nodes:
  hello: {type: play, prompts: [beep], next: done}
  done: {type: return}
"""
# From the caller's ACK: ANSWER returns after 0.5 s; `greet/hello` beeps 0.44 s; `route` beeps and waits 3 s.
CHOOSE_AT_MS = 2000
# A voicemail with greeting none plays only its beep (0.44 s) and records; # ends the message.
HASH_AFTER_MS = 2500
REACH_MENU = ["who", "greet/hello", "greet/done"]


@pytest.fixture
def start_desk(service_with_flow):
    async def start() -> ServiceProcess:
        return await service_with_flow("desk.yaml", DESK, {"greet.yaml": GREET})
    return start


@pytest.fixture
def mailbox(sandbox) -> Path:
    """The sandbox's INBOX of the test mailbox, emptied before the test."""
    inbox = sandbox.root / "var/spool/asterisk/voicemail/callcontrol" / MAILBOX / "INBOX"
    shutil.rmtree(inbox, ignore_errors=True)
    return inbox


def messages(inbox: Path) -> list[dict[str, str]]:
    """Each message's metadata (msgNNNN.txt: callerid, duration, ...)."""
    found = []
    for info in sorted(inbox.glob("msg*.txt")) if inbox.is_dir() else []:
        found.append(dict(re.findall(r"^(\w+)=(.*)$", info.read_text(), re.MULTILINE)))
    return found


async def test_queue_answered_by_the_agent_returns_the_caller_to_the_flow(start_desk, records, no_channels_left):
    """Subflow, then menu 1: the sales queue rings agent1001, who answers and hangs up; the answered exit follows."""
    await start_desk()
    agent = await start_agent(AGENT_PORT, 1000, 2000, timeout_s=40)
    _, answered, record = await call_and_record(records, "15550701", [(CHOOSE_AT_MS, "1")], "desk", agent)

    assert labels(record) == [*REACH_MENU, "route:1", "sales[answered]", "bye"]
    assert re.search(r"<-{10} BYE\s+1\s", answered.output), "the agent, not Asterisk, should have hung up"
    assert record.end_reason is EndReason.FLOW_HANGUP


async def test_queue_past_its_max_wait_takes_the_timeout_exit_to_voicemail(start_desk, records, mailbox,
                                                                             no_channels_left):
    """The agent rings past max_wait_s: Asterisk cancels it, the timeout exit leads to voicemail, # ends it."""
    await start_desk()
    agent = await start_agent(AGENT_PORT, (MAX_WAIT_S + 5) * 1000, 0, timeout_s=40)
    hash_at = MAX_WAIT_S * 1000 + 1000 + HASH_AFTER_MS
    _, rang, record = await call_and_record(records, "15550702", [(CHOOSE_AT_MS, "1"), (hash_at, "#")], "desk",
                                            agent)

    assert labels(record) == [*REACH_MENU, "route:1", "sales[timeout]", "message[message_left]", "bye"]
    assert re.search(r"-{10}> CANCEL\s+1\s", rang.output), "Asterisk should have cancelled the ringing agent"
    (left,) = messages(mailbox)
    assert "15550702" in left["callerid"] and left["context"] == "callcontrol-ivr"


async def test_queue_nobody_serves_takes_no_agents_and_the_caller_leaves_a_message(start_desk, records, mailbox,
                                                                                  no_channels_left):
    """Menu 2: the dialplan refuses the queue (cause 34), the no_agents exit leads to voicemail; # saves it."""
    await start_desk()
    _, _, record = await call_and_record(records, "15550703", [(CHOOSE_AT_MS, "2"), (HASH_AFTER_MS, "#")], "desk")

    assert labels(record) == [*REACH_MENU, "route:2", "nobody[no_agents]", "message[message_left]", "bye"]
    assert record.end_reason is EndReason.FLOW_HANGUP
    (left,) = messages(mailbox)
    assert "15550703" in left["callerid"]


async def test_caller_hanging_up_while_recording_still_leaves_the_message(start_desk, records, mailbox,
                                                                         no_channels_left):
    """Most callers end a message by hanging up: the message is kept and the record says where the call ended."""
    await start_desk()
    talk = [(CHOOSE_AT_MS, "2"), (1000, SPEAK)]  # the message starts ~0.7 s after the 2 (refused queue, beep)
    call = await place_call("15550704", number="5002", digits=talk, hangup_after_ms=SPEAK_MS + 500, timeout_s=40)
    (record,) = await records.ended(1)
    assert call.returncode == 0, call.output
    assert labels(record) == [*REACH_MENU, "route:2", "nobody[no_agents]", "message[caller_hangup]"]
    assert record.end_reason is EndReason.CALLER_HANGUP
    (left,) = messages(mailbox)
    assert "15550704" in left["callerid"] and int(left["duration"]) >= SPEAK_MS // 1000 - 1
