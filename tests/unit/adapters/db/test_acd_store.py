"""The SQL ACD store (callcontrol.adapters.db.acd_store): configuration, PINs, transition log; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text

from callcontrol.adapters.db.acd_store import SqlAcdStore, hash_pin, pin_matches
from callcontrol.adapters.db.models import AcdAgentRow, AcdAgentTransitionRow, AcdCallbackRow, AcdQueueRow
from callcontrol.adapters.db.store import make_engine
from callcontrol.core.acd import agent_states as st
from callcontrol.core.acd.agent_states import AgentState, AgentStatus, Cause, Transition
from callcontrol.core.acd.errors import UnknownAgent
from callcontrol.core.acd.model import (
    AddTeam,
    Agent,
    DropPreferred,
    EscalationRule,
    InvalidConfig,
    Overflow,
    Queue,
    RelaxSkill,
    Strategy,
)
from callcontrol.core.recording_policy import RecordingPolicy, policy_to_data
from callcontrol.services.ports import AcdStore

# the per-backend databases of the call-record store tests (SQLite always, PostgreSQL when reachable)

T0 = datetime(2026, 1, 5, 9, 0, 0, 250000, tzinfo=UTC)
FAST = 1000  # PBKDF2 iterations in tests (the service uses PIN_ITERATIONS)


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[SqlAcdStore]:
    """The ACD store over the migrated database, its tables emptied before each test."""
    engine = make_engine(migrated_url)
    async with engine.begin() as conn:
        for model in (AcdAgentTransitionRow, AcdAgentRow, AcdQueueRow, AcdCallbackRow):
            await conn.execute(delete(model))
    yield SqlAcdStore(engine, pin_iterations=FAST)
    await engine.dispose()


def ada(**changes: object) -> Agent:
    values: dict[str, object] = dict(id="ada", name="Ada Lovelace", endpoint="PJSIP/agent1001",
                                     skills={"english": 8, "billing": 3}, teams=frozenset({"sales"}), wrap_up_s=5)
    return Agent(**(values | changes))  # type: ignore[arg-type]


def bob() -> Agent:
    return Agent("bob", "Bob", "PJSIP/agent1002", {"english": 5}, frozenset({"support", "sales"}))


def sales(**changes: object) -> Queue:
    values: dict[str, object] = dict(
        id="sales", name="Sales", required_skills={"english": 3}, preferred_skills={"billing": 2},
        strategy=Strategy.FEWEST_CALLS, priority=2, weight=1.5, ring_timeout_s=12.5, wrap_up_s=10, max_wait_s=600,
        max_length=20, service_level_s=30, callback_allowed=True, short_abandon_s=4, teams=frozenset({"sales"}),
        expected_handle_s=240, moh_class="acme-jazz", announce_position=True, announce_estimated_wait=True,
        announce_every_s=45.5, periodic_prompts=("queue-periodic-announce", "custom/promo"),
        recording=RecordingPolicy("always", beep_every_s=15),
        escalations=(EscalationRule(30, RelaxSkill("english", 1)), EscalationRule(45, DropPreferred("billing")),
                     EscalationRule(60, AddTeam("support")), EscalationRule(120, Overflow("support"))))
    return Queue(**(values | changes))  # type: ignore[arg-type]


def support() -> Queue:
    return Queue("support", "Support", required_skills={"english": 1})


# ---------------------------------------------------------------- configuration


def test_sql_store_implements_the_port() -> None:
    """SqlAcdStore has every method of the AcdStore port (services only see the port)."""
    for name in ("load_config", "save_config", "set_agent_pin", "verify_agent_pin", "append_transitions",
                 "latest_states"):
        assert callable(getattr(SqlAcdStore, name)) and hasattr(AcdStore, name)


async def test_saved_configuration_loads_back_equal(store: SqlAcdStore) -> None:
    """Every field of agents and queues, escalation rules included, comes back as saved (sorted by id)."""
    agents, queues = [bob(), ada()], [support(), sales()]
    await store.save_config(agents, queues)
    loaded_agents, loaded_queues = await store.load_config()
    assert loaded_agents == [ada(), bob()]
    assert loaded_queues == [sales(), support()]
    assert loaded_queues[0].overflow == EscalationRule(120, Overflow("support"))


async def test_music_announcements_and_recording_hook_are_stored(store: SqlAcdStore) -> None:
    """moh_class, the announcements, the periodic prompts (in order) and the recording policy come back as
    saved, and a queue left at the defaults comes back with the defaults."""
    await store.save_config([], [sales(), support()])
    async with store._engine.connect() as conn:
        row = (await conn.execute(select(AcdQueueRow.__table__).where(AcdQueueRow.id == "sales"))).one()
    assert (row.moh_class, row.announce_position, row.announce_estimated_wait, row.announce_every_s,
            row.periodic_prompts, row.recording) == ("acme-jazz", True, True, 45.5,
                                                     ["queue-periodic-announce", "custom/promo"],
                                                     policy_to_data(RecordingPolicy("always", beep_every_s=15)))
    loaded = {queue.id: queue for queue in (await store.load_config())[1]}
    assert loaded["sales"].periodic_prompts == ("queue-periodic-announce", "custom/promo")
    plain = loaded["support"]
    assert (plain.moh_class, plain.announce_position, plain.announce_estimated_wait, plain.announce_every_s,
            plain.periodic_prompts, plain.recording) == ("default", False, False, 60.0, (), None)


async def test_save_updates_in_place_and_keeps_others_without_replace(store: SqlAcdStore) -> None:
    """Saving a changed agent updates its row; agents and queues not given stay when replace is False."""
    await store.save_config([ada(), bob()], [sales(), support()])
    await store.save_config([ada(name="Ada King", skills={"english": 9})], [])
    agents, queues = await store.load_config()
    assert [(a.id, a.name, dict(a.skills)) for a in agents] == [("ada", "Ada King", {"english": 9}),
                                                                 ("bob", "Bob", {"english": 5})]
    assert [q.id for q in queues] == ["sales", "support"]


async def test_replace_deletes_what_is_not_given(store: SqlAcdStore) -> None:
    """With replace=True the stored set becomes exactly the given one."""
    await store.save_config([ada(), bob()], [sales(), support()])
    await store.save_config([bob()], [support()], replace=True)
    agents, queues = await store.load_config()
    assert [a.id for a in agents] == ["bob"] and [q.id for q in queues] == ["support"]
    await store.save_config([], [], replace=True)
    assert await store.load_config() == ([], [])


async def test_overflow_to_a_missing_queue_writes_nothing(store: SqlAcdStore) -> None:
    """A queue overflowing to a queue that would not exist is refused and the transaction rolled back."""
    await store.save_config([ada()], [support()])
    with pytest.raises(InvalidConfig, match="overflow to unknown queue 'support'"):
        await store.save_config([bob()], [sales()], replace=True)
    agents, queues = await store.load_config()
    assert [a.id for a in agents] == ["ada"] and [q.id for q in queues] == ["support"]


async def test_an_id_given_twice_is_refused(store: SqlAcdStore) -> None:
    """One save may not carry two definitions of one agent."""
    with pytest.raises(InvalidConfig, match="given twice: ada"):
        await store.save_config([ada(), ada(name="Other")], [])


async def test_hostile_names_are_bound_parameters(store: SqlAcdStore) -> None:
    """Quotes and SQL in names, skills and teams are stored verbatim (bound parameters only)."""
    hostile = "Robert'); DROP TABLE acd_agents;--"
    agent = ada(name=hostile, skills={hostile: 4}, teams=frozenset({hostile}))
    await store.save_config([agent], [])
    assert (await store.load_config())[0] == [agent]
    async with store._engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM acd_agents"))).scalar_one() == 1


# ---------------------------------------------------------------- PINs


async def test_pin_is_stored_as_a_salted_hash_and_verified(store: SqlAcdStore) -> None:
    """The right PIN verifies, a wrong one does not; the row holds pbkdf2_sha256$iterations$salt$hash only."""
    await store.save_config([ada(), bob()], [])
    await store.set_agent_pin("ada", "4711")
    await store.set_agent_pin("bob", "4711")
    assert await store.verify_agent_pin("ada", "4711")
    assert not await store.verify_agent_pin("ada", "4712")
    assert not await store.verify_agent_pin("ada", "")
    async with store._engine.connect() as conn:
        hashes = dict((await conn.execute(select(AcdAgentRow.id, AcdAgentRow.pin_hash))).all())
    scheme, iterations, salt, digest = hashes["ada"].split("$")
    assert (scheme, iterations, len(salt), len(digest)) == ("pbkdf2_sha256", str(FAST), 32, 64)
    assert "4711" not in hashes["ada"]
    assert hashes["ada"] != hashes["bob"]  # per-agent salt


async def test_pin_survives_a_configuration_save(store: SqlAcdStore) -> None:
    """Importing the configuration again (even with replace) keeps an agent's PIN."""
    await store.save_config([ada()], [])
    await store.set_agent_pin("ada", "123456")
    await store.save_config([ada(name="Ada B.")], [], replace=True)
    assert await store.verify_agent_pin("ada", "123456")


async def test_unknown_agent_or_no_pin_never_verifies(store: SqlAcdStore) -> None:
    """An agent without a PIN, or no such agent, fails verification instead of raising."""
    await store.save_config([ada()], [])
    assert not await store.verify_agent_pin("ada", "0000")
    assert not await store.verify_agent_pin("nobody", "0000")


async def test_setting_a_pin_checks_agent_and_format(store: SqlAcdStore) -> None:
    """A PIN is 4-12 digits, and only a known agent gets one."""
    await store.save_config([ada()], [])
    with pytest.raises(UnknownAgent):
        await store.set_agent_pin("nobody", "1234")
    for bad in ("123", "1234567890123", "12a4", " 1234", "1234\n", "１２３４"):
        with pytest.raises(ValueError):
            await store.set_agent_pin("ada", bad)


def test_pin_hash_format_and_malformed_stored_values() -> None:
    """hash_pin matches itself with a known salt; malformed stored values never match."""
    stored = hash_pin("2468", iterations=10, salt=bytes(range(16)))
    assert stored.startswith("pbkdf2_sha256$10$000102030405060708090a0b0c0d0e0f$")
    assert pin_matches("2468", stored) and not pin_matches("2469", stored)
    for broken in (None, "", "plain", "md5$10$00$00", stored.replace("pbkdf2_sha256", "sha1"), "pbkdf2_sha256$x$y$z"):
        assert not pin_matches("2468", broken)


# ---------------------------------------------------------------- transitions


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_transitions_are_logged_in_order_with_time_and_cause(store: SqlAcdStore) -> None:
    """The state machine's records are stored as given and read back equal, oldest first."""
    status = AgentStatus("ada")
    records: list[Transition] = []
    for step in (lambda s: st.login(s, at(0)), lambda s: st.reserve(s, "c1", at(5)),
                 lambda s: st.answered(s, "c1", at(7)), lambda s: st.call_ended(s, "c1", at(60), 10),
                 lambda s: st.pause(s, "lunch", at(61))):
        result = step(status)
        status = result.status
        assert result.transition is not None
        records.append(result.transition)
    await store.append_transitions(records)
    await store.append_transitions([])
    assert await store.transitions("ada") == records
    assert [t.cause for t in records] == [Cause.LOGIN, Cause.OFFERED, Cause.ANSWERED, Cause.CALL_ENDED, Cause.PAUSE]


async def test_latest_states_rebuild_each_agent_from_its_last_transition(store: SqlAcdStore) -> None:
    """The last transition of each agent gives its state, pause reason and since (what a restart rebuilds)."""
    await store.append_transitions([
        Transition("ada", AgentState.LOGGED_OUT, AgentState.AVAILABLE, at(0), Cause.LOGIN),
        Transition("bob", AgentState.LOGGED_OUT, AgentState.AVAILABLE, at(1), Cause.LOGIN),
        Transition("ada", AgentState.AVAILABLE, AgentState.PAUSED, at(30), Cause.PAUSE, reason="lunch"),
    ])
    # same instant as the previous one: the order of logging decides, not the clock
    await store.append_transitions([
        Transition("bob", AgentState.AVAILABLE, AgentState.RESERVED, at(40), Cause.OFFERED, call_id="c9"),
        Transition("bob", AgentState.RESERVED, AgentState.AVAILABLE, at(40), Cause.WITHDRAWN, call_id="c9"),
    ])
    assert await store.latest_states() == {
        "ada": (AgentState.PAUSED, "lunch", at(30)),
        "bob": (AgentState.AVAILABLE, None, at(40)),
    }


async def test_latest_states_of_an_empty_log_is_empty(store: SqlAcdStore) -> None:
    assert await store.latest_states() == {}


async def test_an_overlong_pause_reason_is_cut_to_fit(store: SqlAcdStore) -> None:
    """A pause reason longer than its column is truncated rather than failing the log write."""
    await store.append_transitions([
        Transition("ada", AgentState.AVAILABLE, AgentState.PAUSED, at(0), Cause.PAUSE, reason="r" * 500)])
    state, reason, _ = (await store.latest_states())["ada"]
    assert state is AgentState.PAUSED and reason == "r" * 120


async def test_booked_callbacks_are_kept_until_done_oldest_first(store: SqlAcdStore) -> None:
    from callcontrol.core.acd.model import BookedCallback

    late = BookedCallback("c2", "sales", "0123456789", at(30), 5, {"spanish": 4})
    early = BookedCallback("c1", "sales", "0987654321", at(10))
    await store.callbacks_changed([("booked", late), ("booked", early)])
    assert await store.booked_callbacks() == [early, late]
    await store.callbacks_changed([("booked", late)])  # the same booking twice is kept once
    await store.callbacks_changed([("done", early)])
    assert await store.booked_callbacks() == [late]
    await store.callbacks_changed([("done", late), ("done", late)])
    assert await store.booked_callbacks() == []
