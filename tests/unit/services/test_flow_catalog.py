"""The flow catalog (callcontrol.services.flow_catalog): what goes live when the flows directory changes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from callcontrol.core import ivr
from callcontrol.services.flow_catalog import FlowCatalog, FlowFile
from callcontrol.services.ivr_session import run_flow
from tests.support.agi_channel import HeldChannel
from tests.support.clock import TickingClock

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
T2 = T0 + timedelta(minutes=2)


def make_flow(flow_id: str = "main", numbers: Sequence[str] = ("5000",), version: str = "v1",
              source: str = "flows/main.yaml", greeting: str = "hello-world", goodbye: str = "vm-goodbye") -> ivr.Flow:
    doc = {
        "id": flow_id, "numbers": list(numbers), "start": "greeting",
        "nodes": {
            "greeting": {"type": "play", "prompts": [greeting], "next": "goodbye"},
            "goodbye": {"type": "hangup", "prompts": [goodbye]},
        },
    }
    flow, problems = ivr.build_flow(doc, source=source, version=version)
    assert flow is not None, problems
    return flow


def good(flow: ivr.Flow, *warnings: str) -> FlowFile:
    return FlowFile(flow.source, flow, warnings)


def bad(source: str, *problems: str) -> FlowFile:
    return FlowFile(source, None, problems or (f"{source}:3:5: error: unknown key 'nxt'",))


MAIN = "flows/main.yaml"
SALES = "flows/sales.yaml"
A_FIRST = "flows/a_newcomer.yaml"  # sorts before main.yaml


def test_valid_files_go_live_by_number() -> None:
    """Each valid file's flow answers its numbers, with status ok, its version and the time it went live."""
    catalog = FlowCatalog()
    main, sales = make_flow(), make_flow("sales", ["6000"], "s1", SALES)
    update = catalog.apply([good(main), good(sales)], T0)
    assert catalog.for_number("5000") is main and catalog.for_number("6000") is sales
    assert catalog.for_number("7000") is None
    state = catalog.file(MAIN)
    assert state is not None and (state.status, state.version, state.loaded_at, state.problems) == ("ok", "v1", T0, ())
    assert update.versions == {"main": "v1", "sales": "s1"} and len(update.changed) == 2
    assert catalog.flows == [main, sales]


def test_warnings_still_go_live() -> None:
    """A file valid with warnings is live, with status ok_with_warnings and the warnings listed."""
    catalog = FlowCatalog()
    warning = f"{MAIN}:9:3: warning: node 'x' is unreachable from start 'greeting'"
    catalog.apply([good(make_flow(), warning)], T0)
    state = catalog.file(MAIN)
    assert state is not None and state.status == "ok_with_warnings" and state.problems == (warning,)
    assert catalog.for_number("5000") is not None


def test_valid_edit_replaces_the_version_for_new_calls() -> None:
    """A valid edit goes live at once: the new version answers, with the time of the swap."""
    catalog = FlowCatalog()
    catalog.apply([good(make_flow())], T0)
    v2 = make_flow(version="v2", greeting="beep")
    update = catalog.apply([good(v2)], T1)
    assert catalog.for_number("5000") is v2
    state = catalog.file(MAIN)
    assert state is not None and (state.status, state.version, state.loaded_at) == ("ok", "v2", T1)
    assert [changed.version for changed in update.changed] == ["v2"]


def test_invalid_edit_keeps_the_last_good_version_live() -> None:
    """New content with errors is not taken: the last good version answers and the errors are reported."""
    catalog = FlowCatalog()
    v1 = make_flow()
    catalog.apply([good(v1)], T0)
    update = catalog.apply([bad(MAIN)], T1)
    assert catalog.for_number("5000") is v1
    state = catalog.file(MAIN)
    assert state is not None and (state.status, state.version, state.loaded_at) == ("error", "v1", T0)
    assert state.problems == (f"{MAIN}:3:5: error: unknown key 'nxt'",)
    assert [changed.status for changed in update.changed] == ["error"]


def test_fixing_an_invalid_edit_makes_the_file_ok_again() -> None:
    """After an invalid edit, a valid one goes live and clears the problems."""
    catalog = FlowCatalog()
    catalog.apply([good(make_flow())], T0)
    catalog.apply([bad(MAIN)], T1)
    v3 = make_flow(version="v3")
    catalog.apply([good(v3)], T2)
    state = catalog.file(MAIN)
    assert state is not None and (state.status, state.version, state.problems, state.loaded_at) == ("ok", "v3", (), T2)
    assert catalog.for_number("5000") is v3


def test_file_that_never_loaded_is_listed_without_an_id() -> None:
    """An invalid new file is listed as an error with no id, no version and nothing live."""
    catalog = FlowCatalog()
    catalog.apply([good(make_flow()), bad(SALES)], T0)
    state = catalog.file(SALES)
    assert state is not None and (state.status, state.id, state.version, state.flow, state.loaded_at) == (
        "error", None, None, None, None)
    assert [s.source for s in catalog.files()] == [MAIN, SALES]


def test_deleted_file_is_removed_and_its_numbers_stop_answering() -> None:
    """A file gone from the directory is listed as removed under its last id; its numbers no longer answer."""
    catalog = FlowCatalog()
    catalog.apply([good(make_flow()), good(make_flow("sales", ["6000"], "s1", SALES))], T0)
    update = catalog.apply([good(make_flow())], T1)
    assert catalog.for_number("6000") is None and catalog.for_number("5000") is not None
    state = catalog.file(SALES)
    assert state is not None
    assert (state.status, state.id, state.version, state.numbers) == ("removed", "sales", None, ())
    assert [(s.source, s.status) for s in update.changed] == [(SALES, "removed")]
    assert catalog.apply([good(make_flow())], T2).changed == ()  # removed once, not again


def test_removed_file_that_comes_back_goes_live_again() -> None:
    """A file deleted and then written again answers its numbers again."""
    catalog = FlowCatalog()
    catalog.apply([good(make_flow())], T0)
    catalog.apply([], T1)
    assert catalog.for_number("5000") is None
    catalog.apply([good(make_flow(version="v2"))], T2)
    state = catalog.file(MAIN)
    assert state is not None and (state.status, state.version, state.loaded_at) == ("ok", "v2", T2)


def test_reapplying_the_same_content_changes_nothing() -> None:
    """The same content read again keeps the live Flow object, its load time, and reports no change."""
    catalog = FlowCatalog()
    v1 = make_flow()
    catalog.apply([good(v1)], T0)
    update = catalog.apply([good(make_flow())], T1)  # an equal flow read again: same version
    assert update.changed == ()
    assert catalog.for_number("5000") is v1
    state = catalog.file(MAIN)
    assert state is not None and state.loaded_at == T0


def test_newcomer_claiming_a_taken_number_is_an_error_and_the_owner_keeps_it() -> None:
    """A new file claiming a number another flow answers is in error, even when it sorts first."""
    catalog = FlowCatalog()
    main = make_flow()
    catalog.apply([good(main)], T0)
    newcomer = make_flow("other", ["5000", "7000"], "n1", A_FIRST)
    catalog.apply([good(newcomer), good(main)], T1)
    assert catalog.for_number("5000") is main
    assert catalog.for_number("7000") is None  # a rejected file answers none of its numbers
    state = catalog.file(A_FIRST)
    assert state is not None and (state.status, state.flow) == ("error", None)
    assert state.problems == (f"{A_FIRST}:1:1: error: number 5000 is already answered by flow 'main' ({MAIN})",)
    main_state = catalog.file(MAIN)
    assert main_state is not None and main_state.status == "ok"


def test_newcomer_reusing_a_flow_id_is_an_error() -> None:
    """A new file whose flow id is already live is in error; the first flow keeps answering."""
    catalog = FlowCatalog()
    main = make_flow()
    catalog.apply([good(main)], T0)
    catalog.apply([good(main), good(make_flow("main", ["6000"], "n1", A_FIRST))], T1)
    state = catalog.file(A_FIRST)
    assert state is not None and state.status == "error"
    assert state.problems == (f"{A_FIRST}:1:1: error: flow id 'main' is also used by {MAIN}",)
    assert catalog.for_number("6000") is None and catalog.for_number("5000") is main


def test_lost_claims_are_reported_where_the_file_writes_them() -> None:
    """With the loader's claim positions, each lost claim is at its line:col; a claim with no position is at 1:1."""
    catalog = FlowCatalog()
    main = make_flow()
    catalog.apply([good(main)], T0)
    newcomer = make_flow("main", ["7000", "5000"], "n1", A_FIRST)
    positions = {("id", "main"): (1, 5), ("number", "7000"): (2, 11)}  # no position for 5000
    catalog.apply([FlowFile(A_FIRST, newcomer, (), positions), good(main)], T1)
    state = catalog.file(A_FIRST)
    assert state is not None and state.status == "error"
    assert state.problems == (f"{A_FIRST}:1:5: error: flow id 'main' is also used by {MAIN}",
                              f"{A_FIRST}:1:1: error: number 5000 is already answered by flow 'main' ({MAIN})")


def test_edit_that_claims_another_flows_number_falls_back_to_the_last_good_version() -> None:
    """An edit adding a number another file answers is refused; the file's previous version stays live."""
    catalog = FlowCatalog()
    main, sales = make_flow(), make_flow("sales", ["6000"], "s1", SALES)
    catalog.apply([good(main), good(sales)], T0)
    catalog.apply([good(make_flow(numbers=["5000", "6000"], version="v2")), good(sales)], T1)
    assert catalog.for_number("5000") is main and catalog.for_number("6000") is sales
    state = catalog.file(MAIN)
    assert state is not None and (state.status, state.version) == ("error", "v1")
    assert "number 6000 is already answered by flow 'sales'" in state.problems[0]


def test_two_newcomers_on_one_number_the_first_file_wins() -> None:
    """Two new files claiming the same number at once: the first in file order gets it, the other is in error."""
    catalog = FlowCatalog()
    first = make_flow("one", ["8000"], "o1", "flows/one.yaml")
    second = make_flow("two", ["8000"], "t1", "flows/two.yaml")
    catalog.apply([good(second), good(first)], T0)
    assert catalog.for_number("8000") is first
    state = catalog.file("flows/two.yaml")
    assert state is not None and state.status == "error"


def test_a_newcomer_beaten_elsewhere_does_not_block_a_third_file() -> None:
    """A file refused for one number does not keep another number from the next claimant."""
    catalog = FlowCatalog()
    main = make_flow()
    catalog.apply([good(main)], T0)
    greedy = make_flow("greedy", ["6000", "5000"], "g1", A_FIRST)
    modest = make_flow("modest", ["6000"], "m1", "flows/b_modest.yaml")
    catalog.apply([good(greedy), good(modest), good(main)], T1)
    assert catalog.for_number("5000") is main and catalog.for_number("6000") is modest
    assert [(s.source, s.status) for s in catalog.files()] == [
        (A_FIRST, "error"), ("flows/b_modest.yaml", "ok"), (MAIN, "ok")]


def test_two_files_can_swap_numbers_in_one_change() -> None:
    """Numbers moved between two files in the same reload go live together."""
    catalog = FlowCatalog()
    catalog.apply([good(make_flow()), good(make_flow("sales", ["6000"], "s1", SALES))], T0)
    main2, sales2 = make_flow(numbers=["6000"], version="v2"), make_flow("sales", ["5000"], "s2", SALES)
    catalog.apply([good(main2), good(sales2)], T1)
    assert catalog.for_number("6000") is main2 and catalog.for_number("5000") is sales2
    assert {s.status for s in catalog.files()} == {"ok"}


def test_refused_file_goes_live_once_the_owner_lets_the_number_go() -> None:
    """A file refused for a clash is taken at the next reload after the other flow gives the number up."""
    catalog = FlowCatalog()
    catalog.apply([good(make_flow())], T0)
    newcomer = make_flow("other", ["5000"], "n1", A_FIRST)
    catalog.apply([good(newcomer), good(make_flow())], T1)
    catalog.apply([good(newcomer)], T2)  # main.yaml deleted
    assert catalog.for_number("5000") is newcomer
    state = catalog.file(A_FIRST)
    assert state is not None and (state.status, state.problems) == ("ok", ())


def test_lookup_by_flow_id_finds_only_live_flows() -> None:
    """flow(id) returns the file whose live flow has that id, and nothing for unknown or removed ones."""
    catalog = FlowCatalog()
    catalog.apply([good(make_flow())], T0)
    state = catalog.flow("main")
    assert state is not None and state.source == MAIN
    assert catalog.flow("nope") is None
    catalog.apply([], T1)
    assert catalog.flow("main") is None


async def test_call_started_on_v1_finishes_on_v1_after_a_swap() -> None:
    """A call in progress keeps walking the version it started with; the next call gets the new one."""
    catalog = FlowCatalog()
    catalog.apply([good(make_flow(goodbye="vm-goodbye"))], T0)
    flow = catalog.for_number("5000")
    assert flow is not None
    first_call = HeldChannel()
    walk = asyncio.create_task(run_flow(flow, first_call, TickingClock()))
    try:
        await asyncio.wait_for(first_call.in_first_prompt.wait(), 2)  # the caller hears v1's greeting
        catalog.apply([good(make_flow(version="v2", greeting="beep", goodbye="demo-thanks"))], T1)
        first_call.release.set()
        first = await asyncio.wait_for(walk, 2)
    finally:
        walk.cancel()
    assert first_call.played == [("hello-world",), ("vm-goodbye",)]
    assert [step.node for step in first.path] == ["greeting", "goodbye"]

    new_flow = catalog.for_number("5000")
    assert new_flow is not None and new_flow.version == "v2"
    second_call = HeldChannel(hold=False)
    await asyncio.wait_for(run_flow(new_flow, second_call, TickingClock()), 2)
    assert second_call.played == [("beep",), ("demo-thanks",)]
