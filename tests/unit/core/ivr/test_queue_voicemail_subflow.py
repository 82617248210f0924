"""Queue, voicemail, subflow/goto/return nodes and queue status in conditions, through the pure engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import callcontrol.core.ivr as ivr
from callcontrol.adapters.flow_files import load_flow_text
from callcontrol.core.calls import path_label

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FACTS = {"caller.number": "+15550001", "caller.name": "Ada", "call.dialed": "7000"}

QUEUE_FLOW = '''
id: t
numbers: ["7000"]
start: q
allow: {queues: [sales], mailboxes: ["2001"]}
nodes:
  q:
    type: queue
    queue: sales
    skills: {english: 3, billing: 5}
    priority: 4
    max_wait_s: 120
    announce: {position: true, estimated_wait: true, every_s: 30, prompts: [queue-periodic-announce]}
    exit_keys: {"1": vm, "*": bye}
    answered: thanks
    timeout: vm
    no_agents: vm
  vm: {type: voicemail, mailbox: "2001", greeting: busy, next: bye, failed: sorry}
  thanks: {type: play, prompts: [demo-thanks], next: bye}
  sorry: {type: hangup, prompts: [vm-sorry]}
  bye: {type: hangup, prompts: [vm-goodbye]}
'''


def build(text: str, source: str = "t.yaml") -> tuple[ivr.Flow | None, list[str]]:
    flow, problems = load_flow_text(text.encode(), source)
    return flow, [str(p) for p in problems]


def labels(step: ivr.Step) -> list[str]:
    return [path_label(entry.as_dict()) for entry in step.state.path]


@pytest.fixture(scope="module")
def queue_flow() -> ivr.Flow:
    flow, problems = build(QUEUE_FLOW)
    assert flow is not None, problems
    return flow


def test_queue_node_asks_for_the_queue_with_its_skills_priority_wait_and_exit_keys(queue_flow):
    step = ivr.start(queue_flow, NOW, FACTS)
    assert step.effect == ivr.Enqueue("sales", {"english": 3, "billing": 5}, 4, 120,
                                      ivr.QueueAnnouncements(True, True, 30, ("queue-periodic-announce",)),
                                      frozenset({"1", "*"}))


@pytest.mark.parametrize(("left", "expected_next", "expected_label"), [
    (ivr.QueueLeft("answered"), "thanks", "q[answered]"),
    (ivr.QueueLeft("timeout"), "vm", "q[timeout]"),
    (ivr.QueueLeft("no_agents"), "vm", "q[no_agents]"),
    (ivr.QueueLeft("exited_by_key", "1"), "vm", "q:1[exited_by_key]"),
    (ivr.QueueLeft("exited_by_key", "*"), "bye", "q:*[exited_by_key]"),
])
def test_each_way_out_of_the_queue_takes_its_exit(queue_flow, left, expected_next, expected_label):
    step = ivr.advance(queue_flow, ivr.start(queue_flow, NOW, FACTS).state, left, NOW)
    assert step.state.node_id == expected_next
    assert labels(step) == [expected_label]


def test_a_key_without_an_exit_is_a_flow_error_not_a_silent_exit(queue_flow):
    with pytest.raises(ivr.FlowError):
        ivr.advance(queue_flow, ivr.start(queue_flow, NOW, FACTS).state, ivr.QueueLeft("exited_by_key", "5"), NOW)


def test_queue_answered_without_an_answered_exit_ends_the_call_as_answered():
    flow, problems = build(QUEUE_FLOW.replace("    answered: thanks\n", ""))
    assert flow is not None, problems
    step = ivr.advance(flow, ivr.start(flow, NOW, FACTS).state, ivr.QueueLeft("answered"), NOW)
    assert step.effect is None and step.state.end == "answered"


@pytest.mark.parametrize(("status", "expected_next", "expected_label"), [
    ("SUCCESS", "bye", "vm[message_left]"),
    ("USEREXIT", "bye", "vm[left_mailbox]"),
    ("FAILED", "sorry", "vm:failed[voicemail_failed]"),
])
def test_voicemail_status_picks_the_exit(queue_flow, status, expected_next, expected_label):
    queued = ivr.advance(queue_flow, ivr.start(queue_flow, NOW, FACTS).state, ivr.QueueLeft("timeout"), NOW)
    assert queued.effect == ivr.LeaveVoicemail("2001", "busy")
    step = ivr.advance(queue_flow, queued.state, ivr.VoicemailEnded(status), NOW)
    assert step.state.node_id == expected_next and labels(step)[-1] == expected_label


@pytest.mark.parametrize(("replace", "message"), [
    ("queue: sales", "queue 'support' is not on the flow's allow list (allow.queues)"),
    ('mailbox: "2001"', "mailbox '9999' is not on the flow's allow list (allow.mailboxes)"),
    ("english: 3", "must be a minimum level, a whole number from 1 to 10"),
    ('"1": vm', "'12' is not a key"),
    ("priority: 4", "must be a whole number between 0 and 9"),
    ("greeting: busy", "must be unavailable, busy or none"),
    ("every_s: 30", "must be a whole number between 15 and 600"),
])
def test_queue_and_voicemail_mistakes_are_located(replace, message):
    bad = {"queue: sales": "queue: support", 'mailbox: "2001"': 'mailbox: "9999"', "english: 3": "english: 11",
           '"1": vm': '"12": vm', "priority: 4": "priority: 12", "greeting: busy": "greeting: loud",
           "every_s: 30": "every_s: 1"}[replace]
    flow, problems = build(QUEUE_FLOW.replace(replace, bad))
    assert flow is None
    assert any(message in p for p in problems), problems
    assert all(p.startswith("t.yaml:") and p.split(":")[1] != "1" for p in problems if message in p)


def test_queue_status_feeds_branch_conditions_and_must_name_an_allowed_queue():
    text = '''
id: t
numbers: ["7000"]
start: route
allow: {queues: [sales]}
nodes:
  route:
    type: branch
    cases:
      - {when: 'queue.sales.agents_available > 0 and queue.sales.estimated_wait_s < 60', goto: q}
    default: busy
  q: {type: queue, queue: sales, max_wait_s: 60, timeout: busy, no_agents: busy}
  busy: {type: hangup, prompts: [vm-sorry]}
'''
    flow, problems = build(text)
    assert flow is not None, problems
    staffed = {"sales": ivr.QueueStatus(agents_available=2, callers_waiting=0, estimated_wait_s=10)}
    swamped = {"sales": ivr.QueueStatus(agents_available=0, callers_waiting=9, estimated_wait_s=400)}
    assert ivr.start(flow, NOW, FACTS, queues=staffed).state.node_id == "q"
    assert ivr.start(flow, NOW, FACTS, queues=swamped).state.node_id == "busy"
    unknown = ivr.start(flow, NOW, FACTS)  # no status known: the condition cannot be read
    assert unknown.state.path[-1].result == "error"
    _, problems = build(text.replace("queue.sales.agents_available", "queue.billing.agents_available"))
    assert any("queue 'billing' is not on the flow's allow list" in p for p in problems), problems
    _, problems = build(text.replace("queue.sales.agents_available", "queue.sales.agents"))
    assert any("queue status reads queue.<id>.<field>" in p for p in problems), problems


MAIN = '''
id: main
numbers: ["7000"]
start: hello
nodes:
  hello: {type: play, prompts: [hello-world], next: pay}
  pay: {type: subflow, flow: payment, next: bye}
  bye: {type: hangup, prompts: [vm-goodbye]}
'''
PAYMENT = '''
id: payment
start: ask
nodes:
  ask: {type: input, prompts: [vm-enter-num-to-call], variable: amount, max_digits: 4, next: done, exhausted: done}
  done: {type: return}
'''
OTHER = '''
id: other
numbers: ["7001"]
start: hello
nodes:
  hello: {type: goto, flow: main}
'''


def flows(*texts: str) -> dict[str, ivr.Flow]:
    built = {}
    for index, text in enumerate(texts):
        flow, problems = build(text, f"f{index}.yaml")
        assert flow is not None, problems
        built[flow.id] = flow
    return built


def test_subflow_runs_the_other_flow_and_comes_back_with_its_variables():
    library = flows(MAIN, PAYMENT)
    main = library["main"]
    step = ivr.start(main, NOW, FACTS, library)
    step = ivr.advance(main, step.state, ivr.Done(), NOW, library)
    assert isinstance(step.effect, ivr.CollectDigits) and step.state.flow_id == "payment"
    step = ivr.advance(main, step.state, ivr.DigitsEntered("250"), NOW, library)
    assert step.state.flow_id is None and step.state.node_id == "bye"
    assert step.state.variables["amount"] == "250"
    assert labels(step) == ["hello", "pay", "payment/ask:250", "payment/done"]
    assert step.state.path[2].as_dict()["flow"] == "payment"


def test_goto_continues_in_the_other_flow_for_good():
    library = flows(MAIN, PAYMENT, OTHER)
    step = ivr.start(library["other"], NOW, FACTS, library)
    assert step.state.flow_id == "main" and step.state.node_id == "hello"
    assert labels(step) == ["hello"]  # the goto node itself (a node of the call's own flow)


def test_a_subflow_that_is_gone_at_run_time_ends_the_walk_with_an_error():
    library = flows(MAIN, PAYMENT)
    main = library["main"]
    step = ivr.advance(main, ivr.start(main, NOW, FACTS, {}).state, ivr.Done(), NOW, {})
    assert step.effect is None and step.state.end == "error"


def test_a_flow_with_return_nodes_cannot_answer_numbers():
    _, problems = build(PAYMENT.replace("start: ask", 'numbers: ["7009"]\nstart: ask'))
    assert any("is a subflow: it cannot answer numbers" in p for p in problems), problems


def test_references_between_flows_are_checked():
    library = flows(MAIN, OTHER)  # payment missing
    assert [str(p.message) for p in ivr.check_flow_references(library)["main"]] == ["unknown flow 'payment'"]
    library = flows(MAIN, PAYMENT, OTHER.replace("flow: main", "flow: payment"))
    assert "is a subflow (it has return nodes)" in ivr.check_flow_references(library)["other"][0].message
    looping = PAYMENT.replace("done: {type: return}", "done: {type: subflow, flow: payment, next: back}\n"
                                                       "  back: {type: return}")
    problems = ivr.check_flow_references(flows(MAIN, looping))
    assert "subflows call each other without end: payment -> payment" in problems["payment"][0].message
    assert ivr.check_flow_references(flows(MAIN, PAYMENT, OTHER)) == {}


CALLBACK_FLOW = '''
id: t
numbers: ["7000"]
start: q
allow: {queues: [sales]}
schedules: {office: {timezone: UTC, weekly: {mon: ["09:00-17:00"]}}}
nodes:
  q:
    type: queue
    queue: sales
    max_wait_s: 60
    exit_keys: {"1": bye}
    callback: {key: "2", numbers: "0[1-9][0-9]{8}", schedule: office, next: booked}
    timeout: bye
    no_agents: bye
  booked: {type: hangup, prompts: [auth-thankyou]}
  bye: {type: hangup}
'''


def test_a_callback_is_offered_while_its_schedule_is_open_and_its_exit_follows_a_booking():
    flow, problems = build(CALLBACK_FLOW)
    assert flow is not None, problems
    offered = ivr.start(flow, NOW, FACTS)  # Monday 10:00 UTC
    assert offered.effect.callback is not None and offered.effect.callback.key == "2"
    assert offered.effect.callback.numbers.fullmatch("0123456789")
    assert ivr.start(flow, NOW.replace(hour=18), FACTS).effect.callback is None  # closed: not offered
    booked = ivr.advance(flow, offered.state, ivr.QueueLeft("callback_requested"), NOW)
    assert booked.state.node_id == "booked" and labels(booked) == ["q[callback_requested]"]


@pytest.mark.parametrize(("callback", "message"), [
    ('{key: "1", numbers: "0[1-9][0-9]{8}", next: booked}', "key 1 is already an exit key"),
    ('{key: "2", numbers: "0[1-9", next: booked}', "not a valid pattern"),
    ('{key: "2", numbers: "[0-9]?", next: booked}', "must not match an empty number"),
    ('{key: "2", numbers: ".*", next: booked}', "must be a pattern of the numbers that may be called back"),
    ('{key: "2", numbers: "0[1-9][0-9]{8}", schedule: night, next: booked}', "unknown schedule 'night'"),
])
def test_callback_mistakes_are_reported(callback, message):
    text = CALLBACK_FLOW.replace('{key: "2", numbers: "0[1-9][0-9]{8}", schedule: office, next: booked}', callback)
    flow, problems = build(text)
    assert flow is None and any(message in p for p in problems), problems


def test_the_sounds_of_the_dialog_and_the_announcements_are_the_nodes_to_change():
    text = CALLBACK_FLOW.replace('next: booked}', 'next: booked, sounds: {booked: [custom/thanks]}}').replace(
        "    exit_keys:", "    announce: {position: true, sounds: {there_are: [custom/ahead]}}\n    exit_keys:")
    flow, problems = build(text)
    assert flow is not None, problems
    effect = ivr.start(flow, NOW, FACTS).effect
    assert effect.callback.sounds.booked == ("custom/thanks",)
    assert effect.callback.sounds.not_booked == ("unidentified-no-callback",)  # not set: Asterisk's sound
    assert effect.announcements.sounds.there_are == ("custom/ahead",)


@pytest.mark.parametrize(("sounds", "message"), [
    ("{thanks: [x]}", "unknown sound; expected one of this_number, press_1_if_correct, enter_number, booked"),
    ("{booked: []}", "must be a non-empty list of sound names"),
    ("{booked: [../../etc/passwd]}", "must be a non-empty list of sound names"),
    ("[x]", "must be a mapping of this_number, press_1_if_correct, enter_number, booked, not_booked"),
])
def test_bad_sounds_are_reported_with_their_line(sounds, message):
    flow, problems = build(CALLBACK_FLOW.replace('next: booked}', f'next: booked, sounds: {sounds}}}'))
    assert flow is None and any(p.startswith("t.yaml:13:") and message in p for p in problems), problems


def test_a_caller_hanging_up_during_the_conversation_ends_the_walk_as_answered(queue_flow):
    """The agent answered and the caller hung up first: the path ends q[answered] and no exit is taken."""
    step = ivr.advance(queue_flow, ivr.start(queue_flow, NOW, FACTS).state,
                       ivr.QueueLeft("answered", caller_hung_up=True), NOW)
    assert step.effect is None and step.state.finished and step.state.end == "answered"
    assert labels(step) == ["q[answered]"]


def test_the_sounds_a_node_sets_are_checked_against_the_sounds_directory_like_prompts():
    text = CALLBACK_FLOW.replace('next: booked}', 'next: booked, sounds: {booked: [custom/thanks]}}')
    flow, _ = build(text)
    assert (("nodes", "q", "callback", "sounds", "booked", 0), "custom/thanks") in ivr.prompt_references(flow)


def test_a_queue_node_overrides_its_queues_recording_policy() -> None:
    """`recording: {mode, percent, beep_every_s}` on a queue node rides on the Enqueue effect; a bad one is located."""
    from callcontrol.core.recording_policy import RecordingOverride
    flow, problems = build(QUEUE_FLOW.replace("    priority: 4\n",
                                              "    priority: 4\n    recording: {mode: percent, percent: 50}\n"))
    assert flow is not None, problems
    assert ivr.start(flow, NOW, FACTS).effect.recording == RecordingOverride("percent", 50)
    flow, problems = build(QUEUE_FLOW.replace("    priority: 4\n", "    priority: 4\n    recording: {mode: loud}\n"))
    assert flow is None and any("recording" in p and "mode 'loud' is not one of" in p for p in problems), problems
