"""Roles, permissions and scope: who sees which agent, queue and call."""

import pytest

from callcontrol.core.permissions import Permission, Principal, Role, allows, sees_agent, sees_call, sees_queue

ADMIN = Principal("root", Role.ADMIN)
SUPER_A = Principal("sam", Role.SUPERVISOR, teams={"team-a"})
SUPER_Q = Principal("quinn", Role.SUPERVISOR, queues={"billing"})
AGENT = Principal("ada", Role.AGENT, agent_id="ada")
REPORTS = Principal("rita", Role.REPORTING)


def test_an_admin_may_do_everything():
    """The admin role carries every permission."""
    assert all(allows(ADMIN, permission) for permission in Permission)


def test_reporting_never_hears_audio_nor_sees_agents_or_people():
    """Reporting is read-only figures: no audio, no agents' live state, no users."""
    for permission in (Permission.RECORDINGS_LISTEN, Permission.AGENTS_READ, Permission.USERS_MANAGE,
                       Permission.CONFIG_WRITE, Permission.FEED_READ):
        assert not allows(REPORTS, permission)
    assert allows(REPORTS, Permission.QUEUES_READ)


def test_only_the_admin_manages_users_and_configuration():
    """Supervisors and agents cannot manage users, write config or read the audit log."""
    for principal in (SUPER_A, AGENT):
        for permission in (Permission.USERS_MANAGE, Permission.CONFIG_WRITE, Permission.AUDIT_READ):
            assert not allows(principal, permission)


def test_a_supervisor_sees_the_agents_of_its_teams_only():
    """An agent is in a supervisor's scope when one of its teams is."""
    assert sees_agent(SUPER_A, "ada", {"team-a", "team-c"})
    assert not sees_agent(SUPER_A, "bob", {"team-b"})
    assert not sees_agent(SUPER_Q, "ada", {"team-a"})


def test_an_agent_sees_only_itself():
    """An agent's scope is its own agent id."""
    assert sees_agent(AGENT, "ada", ())
    assert not sees_agent(AGENT, "bob", ())


def test_a_supervisor_sees_named_queues_and_queues_accepting_its_teams():
    """A queue is in scope when named, or when it accepts one of the supervisor's teams."""
    assert sees_queue(SUPER_Q, "billing", ())
    assert not sees_queue(SUPER_Q, "support", ())
    assert sees_queue(SUPER_A, "support", {"team-a"})
    assert not sees_queue(SUPER_A, "support", {"team-b"})


def test_a_call_is_in_scope_through_its_queue_or_its_agent():
    """Either one of its queues or one of its agents puts a call in a supervisor's scope."""
    assert sees_call(SUPER_A, [("support", {"team-b"})], [("ada", {"team-a"})])
    assert sees_call(SUPER_Q, [("billing", ())], [("bob", {"team-b"})])
    assert not sees_call(SUPER_A, [("support", {"team-b"})], [("bob", {"team-b"})])
    assert sees_call(AGENT, [], [("ada", ())])
    assert not sees_call(AGENT, [("support", ())], [("bob", ())])


def test_an_agent_user_must_be_linked_to_an_agent():
    """An agent principal without an agent id is refused."""
    with pytest.raises(ValueError):
        Principal("x", Role.AGENT)
