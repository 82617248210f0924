"""A user's rules and the API token format (core/people.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcontrol.core.people import InvalidUser, StoredToken, TokenParts, User, digest_matches, parse_token, token_digest
from callcontrol.core.permissions import Principal, Role
from tests.support.clock import T0

SECRET = "A" * 43


def test_a_token_round_trips_and_anything_else_is_not_a_token() -> None:
    parts = TokenParts("abcdefgh1234", SECRET)
    assert parse_token(parts.text) == parts
    for text in ("", "cc_abc_" + SECRET, "cc_ABCDEFGH1234_" + SECRET, parts.text + "x", parts.text[:-1],
                 "xx_abcdefgh1234_" + SECRET, parts.text + "\n", "s3cret-admin-token"):
        assert parse_token(text) is None, text


def test_only_the_digest_is_compared() -> None:
    stored = token_digest(SECRET)
    assert len(stored) == 64 and SECRET not in stored
    assert digest_matches(SECRET, stored) and not digest_matches("B" * 43, stored)


def test_a_token_stops_working_when_expired_or_revoked() -> None:
    token = StoredToken("abcdefgh1234", "sue", token_digest(SECRET), T0, expires_at=T0 + timedelta(hours=1))
    assert token.usable(T0) and not token.usable(T0 + timedelta(hours=1))
    assert not StoredToken("abcdefgh1234", "sue", "d", T0, revoked_at=T0).usable(T0)


@pytest.mark.parametrize(("role", "changes", "problem"), [
    (Role.AGENT, {}, "needs --agent"),
    (Role.ADMIN, {"agent_id": "ann"}, "only an agent user"),
    (Role.REPORTING, {"teams": {"north"}}, "only a supervisor"),
    (Role.SUPERVISOR, {"teams": {"no spaces"}}, "not a team name"),
    (Role.SUPERVISOR, {"queues": {"Bad-Queue"}}, "not a queue id"),
])
def test_a_user_breaking_a_rule_is_refused_with_the_rule(role, changes, problem) -> None:
    with pytest.raises(InvalidUser, match=problem):
        User("sue", role, **changes)


def test_names_follow_their_grammar_and_a_user_acts_as_its_principal() -> None:
    for name in ("", "Sue", "1sue", "sue smith", "s" * 65, "sue/../x", "api-token", "anonymous", "cli"):
        with pytest.raises(InvalidUser):
            User(name, Role.ADMIN)
    sue = User("sue.smith", Role.SUPERVISOR, {"north"}, {"qs"})
    assert sue.principal == Principal("sue.smith", Role.SUPERVISOR, frozenset({"north"}), frozenset({"qs"}))
