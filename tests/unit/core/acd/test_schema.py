"""The ACD schema (callcontrol.core.acd.schema): plain data to agents and queues with every problem at its path,
the codec back, and one wording shared with the model."""

from __future__ import annotations

import pytest

from callcontrol.core.acd.model import Agent, EscalationRule, InvalidConfig, Overflow, Queue, RelaxSkill
from callcontrol.core.acd.schema import agent_from_data, agent_to_data, queue_from_data, queue_to_data


def test_plain_data_round_trips_through_the_codec() -> None:
    agent = Agent("ada", "Ada", "PJSIP/ada", {"english": 5}, frozenset({"blue"}), 10)
    queue = Queue("sales", "Sales", {"english": 3}, escalations=(EscalationRule(30, RelaxSkill("english", 1)),
                                                                 EscalationRule(60, Overflow("support"))))
    assert agent_from_data(agent_to_data(agent)) == (agent, [])
    assert queue_from_data(queue_to_data(queue)) == (queue, [])  # overflow targets are not checked without targets


def test_every_problem_has_its_path() -> None:
    data = {"id": "sales", "name": "Sales", "weight": 0, "required_skills": {"english": 11},
            "escalations": [{"after_s": -1, "add_team": "blue"}, {"after_s": 5, "overflow": "nowhere"}]}
    queue, problems = queue_from_data(data, ("queues", 1), targets={"support"})
    assert queue is None
    assert sorted((p.path, p.message) for p in problems) == [
        (("queues", 1, "escalations", 0, "after_s"), "queue sales: after_s must be >= 0, not -1"),
        (("queues", 1, "escalations", 1, "overflow"), "queue sales: overflow to unknown queue 'nowhere'"),
        (("queues", 1, "required_skills", "english"),
         "queue sales: required_skills english: level must be an integer 1-10, not 11"),
        (("queues", 1, "weight"), "queue sales: weight must be > 0, not 0"),
    ]


@pytest.mark.parametrize(("changes", "message"), [
    ({"weight": 0}, "queue sales: weight must be > 0, not 0"),
    ({"max_length": 0}, "queue sales: max_length must be >= 1, not 0"),
    ({"announce_every_s": 5}, "queue sales: announce_every_s must be between 15 and 600, not 5"),
    ({"moh_class": "acme jazz"}, "queue sales: moh_class 'acme jazz' must be a music-on-hold class"),
    ({"escalations": (EscalationRule(5, Overflow("sales")),)}, "queue sales: a queue cannot overflow to itself"),
])
def test_the_model_and_the_schema_word_a_problem_the_same_way(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidConfig, match=message):
        Queue("sales", "Sales", **changes)  # type: ignore[arg-type]
    data = {**queue_to_data(Queue("sales", "Sales")), **changes}
    if "escalations" in changes:
        data["escalations"] = [{"after_s": 5, "overflow": "sales"}]
    _, problems = queue_from_data(data)
    assert [p.message for p in problems if p.message.startswith(message)], problems
