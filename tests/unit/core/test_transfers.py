"""Transfer destinations: only from the allow lists, whatever the body or the phone's keys say."""

from __future__ import annotations

import pytest

from callcontrol.core.transfers import (
    TRANSFER_TOKEN,
    AllowLists,
    ToAgent,
    ToNumber,
    ToQueue,
    TransferRefused,
    allowed,
    describe,
    destination_from_keys,
    destination_from_request,
    parse_phone_codes,
)

LISTS = AllowLists(queues={"sales", "support"}, agents={"ada", "bob"}, numbers={"0155500001", "+441234567"},
                   phone_codes={"2001": ToQueue("support"), "2009": ToQueue("gone"), "1002": ToAgent("bob")})


@pytest.mark.parametrize("body, wanted", [
    ({"to": {"queue": "support"}}, ToQueue("support")),
    ({"to": {"queue": "support"}, "mode": "blind"}, ToQueue("support")),
    ({"to": {"agent": "bob"}}, ToAgent("bob")),
    ({"to": {"number": "+441234567"}}, ToNumber("+441234567")),
])
def test_a_well_formed_body_names_its_destination(body, wanted):
    assert destination_from_request(body) == (wanted, "blind")


@pytest.mark.parametrize("body, rule", [
    ([], "bad_request"), ("support", "bad_request"), ({}, "bad_request"),
    ({"to": {"queue": "support", "number": "0155500001"}}, "bad_request"),
    ({"to": {"channel": "PJSIP/agent1001"}}, "bad_request"),
    ({"to": {"number": "0155500001;Hangup"}}, "bad_request"), ({"to": {"number": "PJSIP/x@trunk"}}, "bad_request"),
    ({"to": {"queue": "Sales,1"}}, "bad_request"), ({"to": {"queue": 7}}, "bad_request"),
    ({"to": {"queue": "support"}, "mode": "attended"}, "unsupported_mode"),
    ({"to": {"queue": "support"}, "extra": 1}, "bad_request"),
])
def test_anything_else_is_refused_by_its_rule(body, rule):
    with pytest.raises(TransferRefused) as refused:
        destination_from_request(body)
    assert refused.value.rule == rule


def test_only_listed_queues_agents_and_numbers_are_allowed():
    assert allowed(ToQueue("sales"), LISTS) == ToQueue("sales")
    assert allowed(ToNumber("0155500001"), LISTS) == ToNumber("0155500001")
    for destination, rule in ((ToQueue("billing"), "unknown_queue"), (ToAgent("cy"), "unknown_agent"),
                              (ToNumber("0155500002"), "number_not_allowed")):
        with pytest.raises(TransferRefused) as refused:
            allowed(destination, LISTS)
        assert refused.value.rule == rule


def test_a_phone_s_keys_are_a_code_or_an_allowed_number_and_nothing_else():
    assert destination_from_keys("2001", LISTS) == ToQueue("support")
    assert destination_from_keys("1002", LISTS) == ToAgent("bob")
    assert destination_from_keys("0155500001", LISTS) == ToNumber("0155500001")
    for keys in ("2009", "0155500002", "", "20#1", "2001;x", "9" * 21):  # a code of a gone queue, unlisted, junk
        assert destination_from_keys(keys, LISTS) is None, keys


def test_phone_codes_are_read_from_the_setting_and_a_bad_one_is_named():
    assert parse_phone_codes(" 2001=queue:support, 1002=agent:bob ,") == {"2001": ToQueue("support"),
                                                                         "1002": ToAgent("bob")}
    assert parse_phone_codes("") == {}
    for bad in ("2001=queue:Support", "20a1=queue:support", "2001=number:0155", "2001"):
        with pytest.raises(ValueError, match="expected"):
            parse_phone_codes(bad)


def test_a_destination_shows_as_one_key_and_tokens_are_sixteen_digits():
    assert describe(ToQueue("support")) == {"queue": "support"} and describe(ToNumber("01")) == {"number": "01"}
    assert TRANSFER_TOKEN.match("1234567890123456") and not TRANSFER_TOKEN.match("0234567890123456")
    assert not TRANSFER_TOKEN.match("123456789012345") and not TRANSFER_TOKEN.match("1234567890123456\n")
