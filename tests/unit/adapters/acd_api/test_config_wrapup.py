"""A queue's wrap-up codes through /api/config/queues: stored, served back, read by the ACD, and refused with each
problem at its path."""

from __future__ import annotations

from tests.support.http_api import AUTH

CODES = {"required": True, "codes": [{"id": "sale", "label": "Sale"}, {"id": "no_sale", "label": "No sale"}]}


async def test_a_queue_s_wrapup_codes_are_stored_served_and_used_by_the_acd(client, desk, store):
    answer = await client.put("/api/config/queues/wq", json={"name": "Wrapped", "wrapup": CODES}, headers=AUTH)
    assert answer.status == 201, await answer.text()
    assert (await answer.json())["wrapup"] == CODES
    assert (await (await client.get("/api/config/queues/wq", headers=AUTH)).json())["wrapup"] == CODES
    assert desk.distributor.queue("wq").wrapup.code_ids == ("sale", "no_sale")
    _, queues = await store.load_config()
    assert [queue.wrapup for queue in queues if queue.id == "wq"] == [desk.distributor.queue("wq").wrapup]
    cleared = await client.put("/api/config/queues/wq", json={"name": "Wrapped"}, headers=AUTH)
    assert cleared.status == 200 and (await cleared.json())["wrapup"] is None


async def test_bad_wrapup_codes_get_422_with_each_problem_at_its_path(client, desk):
    body = {"wrapup": {"required": 1, "codes": [{"id": "sale"}, {"id": "sale", "label": ""}, {"id": "Bad code"}]}}
    answer = await client.put("/api/config/queues/wq", json=body, headers=AUTH)
    assert answer.status == 422
    problems = sorted((await answer.json())["problems"])
    assert problems == sorted([
        "wrapup.required: wrapup: required must be true or false",
        "wrapup.codes.1.id: wrapup: duplicate code 'sale'",
        "wrapup.codes.1.label: wrapup: label must be a non-empty string",
        "wrapup.codes.2.id: wrapup: code 'Bad code' must be a lowercase token (a-z, 0-9, '_', '-'; starting with a "
        "letter; at most 32)",
    ]), problems
    assert "wq" not in desk.distributor.queue_ids()
