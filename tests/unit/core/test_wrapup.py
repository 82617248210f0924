"""Wrap-up codes (core/wrapup.py): the queue's `wrapup` in the ACD schema, choosing a code, and the agent leg's hold
spans and wrap-up (core/interactions.py), kept when the ACD rebuilds the stint (core/calls.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from callcontrol.core.acd.model import InvalidConfig, Queue
from callcontrol.core.acd.schema import build_acd_config, queue_from_data, queue_to_data
from callcontrol.core.calls import CallRecord
from callcontrol.core.interactions import STINT_IN_PROGRESS, AgentLeg, QueueStint
from callcontrol.core.wrapup import (
    MAX_NOTE,
    Wrapup,
    WrapupCode,
    WrapupPolicy,
    choice_problem,
    policy_from_data,
    too_late,
)

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CODES = {"required": True, "codes": [{"id": "sale", "label": "Sale"}, {"id": "no_sale", "label": "No sale"}]}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def problems_of(wrapup: object) -> list[tuple[tuple, str]]:
    _, problems = build_acd_config({"queues": [{"id": "sales", "wrapup": wrapup}]})
    return [(p.path, p.message) for p in problems]


# ---------------------------------------------------------------- the schema


def test_a_queue_s_wrapup_codes_round_trip_through_plain_data() -> None:
    config, problems = build_acd_config({"queues": [{"id": "sales", "wrapup": CODES}]})
    assert problems == [] and config is not None
    queue = config.queues[0]
    assert queue.wrapup == WrapupPolicy((WrapupCode("sale", "Sale"), WrapupCode("no_sale", "No sale")), True)
    assert queue_to_data(queue)["wrapup"] == CODES
    assert queue_from_data(queue_to_data(queue)) == (queue, [])


def test_no_wrapup_is_no_codes_and_a_label_defaults_to_the_id() -> None:
    assert queue_to_data(Queue("sales", "Sales"))["wrapup"] is None
    config, _ = build_acd_config({"queues": [{"id": "q", "wrapup": {"codes": [{"id": "done"}]}}]})
    assert config is not None and config.queues[0].wrapup == WrapupPolicy((WrapupCode("done", "done"),), False)


def test_each_problem_is_reported_at_its_path() -> None:
    found = problems_of({"required": "yes", "colour": 1, "codes": [
        {"id": "sale", "label": "Sale"}, {"id": "Sale!"}, {"id": "sale", "label": "x" * 81},
        {"label": "nameless"}, "sale", {"id": "ok", "label": "bad\nline", "extra": 1}]})
    paths = {path: message for path, message in found}
    base = ("queues", 0, "wrapup")
    assert set(paths) == {(*base, "colour"), (*base, "required"), (*base, "codes", 1, "id"),
                          (*base, "codes", 2, "id"), (*base, "codes", 2, "label"), (*base, "codes", 3),
                          (*base, "codes", 4), (*base, "codes", 5, "label"), (*base, "codes", 5, "extra")}
    assert paths[(*base, "required")] == "queue sales: wrapup: required must be true or false"
    assert "must be a lowercase token" in paths[(*base, "codes", 1, "id")]
    assert "duplicate code 'sale'" in paths[(*base, "codes", 2, "id")]
    assert "longer than 80" in paths[(*base, "codes", 2, "label")]
    assert "missing required key 'id'" in paths[(*base, "codes", 3)]
    assert "control characters" in paths[(*base, "codes", 5, "label")]


@pytest.mark.parametrize(("wrapup", "path", "words"), [
    ("sale", (), "must be a mapping"),
    ({"codes": "sale"}, ("codes",), "must be a list"),
    ({"required": True}, ("codes",), "required needs at least one code"),
    ({"codes": [{"id": f"c{n}"} for n in range(101)]}, ("codes",), "at most 100 codes"),
])
def test_a_wrapup_that_is_not_one_is_refused(wrapup: object, path: tuple, words: str) -> None:
    (found,) = problems_of(wrapup)
    assert found[0] == ("queues", 0, "wrapup", *path) and words in found[1]


def test_the_model_refuses_what_the_schema_would() -> None:
    with pytest.raises(InvalidConfig, match="queue sales: wrapup"):
        Queue("sales", "Sales", wrapup={"codes": []})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicate code"):
        WrapupPolicy((WrapupCode("a", "A"), WrapupCode("a", "B")))
    with pytest.raises(ValueError, match="must be a lowercase token"):
        WrapupPolicy((WrapupCode("A B", "A"),))
    assert policy_from_data(None) == (None, [])


# ---------------------------------------------------------------- choosing a code


def test_a_code_must_be_one_of_the_queue_s_and_a_note_is_bounded_text() -> None:
    policy, _ = policy_from_data(CODES)
    assert choice_problem(policy, "sale", None) is None
    assert choice_problem(policy, "no_sale", "called back tomorrow") is None
    assert choice_problem(policy, "won", None) == "code 'won' is not one of the queue's wrap-up codes (sale, no_sale)"
    assert "none: the queue has no wrap-up codes" in (choice_problem(None, "sale", None) or "")
    assert "longer than 500" in (choice_problem(policy, "sale", "x" * (MAX_NOTE + 1)) or "")
    assert "non-empty string" in (choice_problem(policy, "sale", 42) or "")
    assert choice_problem(policy, ["sale"], None) is not None


def test_a_code_may_be_set_until_the_window_after_the_end() -> None:
    assert not too_late(None, at(10_000), 60)  # the call goes on
    assert not too_late(at(0), at(60), 60)
    assert too_late(at(0), at(60.001), 60)


# ---------------------------------------------------------------- the agent leg


def test_hold_spans_open_and_close_once_each_and_the_end_closes_an_open_one() -> None:
    leg = AgentLeg("ada", "PJSIP/agent1001", at(0))
    leg = leg.held(at(5)).held(at(6))  # a second Hold while on hold changes nothing
    assert leg.on_hold and leg.hold_spans == ((at(5), None),)
    leg = leg.unheld(at(8)).unheld(at(9))
    assert not leg.on_hold and leg.hold_spans == ((at(5), at(8)),) and leg.hold_s == 3.0
    leg = leg.held(at(10)).ended(at(12))
    assert leg.hold_spans == ((at(5), at(8)), (at(10), at(12))) and leg.hold_s == 5.0 and leg.talk_s == 12.0
    assert leg.held(at(13)) == leg  # after the end: nothing


def test_wrapup_is_missing_only_when_required_and_the_leg_ended_without_a_code() -> None:
    leg = AgentLeg("ada", None, at(0), wrapup_required=True)
    assert not leg.wrapup_missing  # still talking
    assert leg.ended(at(5)).wrapup_missing
    coded = replace(leg.ended(at(5)), wrapup=Wrapup("sale", at(6), "ada"))
    assert not coded.wrapup_missing
    assert not AgentLeg("ada", None, at(0), at(5)).wrapup_missing
    shown = coded.as_json()
    assert shown["wrapup"] == {"code": "sale", "note": None, "set_at": at(6).isoformat(), "set_by": "ada"}
    assert shown["wrapup_missing"] is False and shown["hold_spans"] == [] and shown["transferred_to"] is None


def test_what_was_noted_on_the_leg_survives_the_acd_rebuilding_the_stint() -> None:
    """The ACD's stint progress and end carry no holds nor wrap-up: the record keeps the ones it had."""
    record = CallRecord("c1", "c1", "PJSIP/caller-1", "555", "", "5000", T0)
    answered = AgentLeg("ada", "PJSIP/agent1001", at(3))
    record.note_stint_progress(QueueStint("sales", T0, STINT_IN_PROGRESS, agent_leg=answered))
    assert record.change_agent_leg(0, lambda leg: leg.held(at(5)))
    assert record.change_agent_leg(0, lambda leg: replace(leg, wrapup=Wrapup("sale", at(6), "ada")))
    record.note_stint_progress(QueueStint("sales", T0, STINT_IN_PROGRESS, agent_leg=answered))  # a new offer row
    assert record.queue_stints[0].agent_leg == replace(answered, hold_spans=((at(5), None),),
                                                       wrapup=Wrapup("sale", at(6), "ada"))
    record.add_queue_stint(QueueStint("sales", T0, "answered", left_at=at(9), agent_leg=answered.ended(at(9))))
    leg = record.queue_stints[0].agent_leg
    assert leg is not None and leg.hold_spans == ((at(5), at(9)),) and leg.wrapup is not None  # closed at the end
    assert not record.change_agent_leg(3, lambda leg: leg)  # no such stint


def test_another_agent_s_leg_is_not_given_the_holds_of_the_one_before() -> None:
    before = AgentLeg("ada", None, at(3), hold_spans=((at(4), at(5)),))
    assert AgentLeg("bob", None, at(3)).carried_over(before).hold_spans == ()
    assert AgentLeg("ada", None, at(20)).carried_over(before).hold_spans == ()
    assert AgentLeg("ada", None, at(3), transferred_to="queue:billing").carried_over(before).transferred_to == \
        "queue:billing"
