"""Reading flow YAML files (callcontrol.adapters.flow_files): safe parsing and problems placed at file:line:col."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from callcontrol.adapters.flow_files import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    LocatedProblem,
    load_flow_file,
    load_flow_text,
    load_flows,
)
from callcontrol.cli import main
from tests.support.paths import REPO

MAIN_YAML = (REPO / "ivr_flows" / "main.yaml").read_bytes()

GOOD = b"""\
id: demo
numbers: ["6000"]
start: menu
nodes:
  menu:
    type: menu
    prompts: [vm-enter-num-to-call]
    options:
      "1": bye
    timeout_s: 3
    max_attempts: 2
    exhausted: bye
  bye:
    type: hangup
"""


def messages(problems: list[LocatedProblem]) -> list[str]:
    return [str(p) for p in problems]


def test_good_document_loads_with_no_problems() -> None:
    """A valid flow document gives a Flow and no problems."""
    flow, problems = load_flow_text(GOOD, "demo.yaml")
    assert problems == []
    assert flow is not None and flow.id == "demo" and flow.source == "demo.yaml"


def test_problem_renders_as_file_line_col_severity_message() -> None:
    """A located problem prints like a compiler diagnostic."""
    assert str(LocatedProblem("f.yaml", 3, 7, "bad thing")) == "f.yaml:3:7: error: bad thing"
    assert str(LocatedProblem("f.yaml", 1, 1, "meh", "warning")) == "f.yaml:1:1: warning: meh"


def test_unknown_key_deep_in_a_node_is_reported_at_its_line() -> None:
    """A misspelt key inside a node is reported at that key's own line and column."""
    text = GOOD.replace(b"    max_attempts: 2\n", b"    max_attempts: 2\n    exhaustd: bye\n")
    flow, problems = load_flow_text(text, "demo.yaml")
    assert flow is None
    assert any(m.startswith("demo.yaml:12:5: error: unknown key 'exhaustd'") for m in messages(problems))


def test_bad_value_is_reported_at_its_key_line() -> None:
    """A wrong value (an option pointing nowhere) is reported at the line of its key."""
    text = GOOD.replace(b'"1": bye', b'"1": nowhere')
    _, problems = load_flow_text(text, "demo.yaml")
    assert "demo.yaml:9:7: error: exit to unknown node 'nowhere'" in messages(problems)


def test_missing_key_is_reported_at_the_node() -> None:
    """A missing required key is reported at the line of the node that lacks it."""
    text = GOOD.replace(b"    exhausted: bye\n", b"")
    _, problems = load_flow_text(text, "demo.yaml")
    assert "demo.yaml:5:3: error: missing required key 'exhausted'" in messages(problems)


def test_unreachable_node_warning_is_located_and_flow_still_loads() -> None:
    """A warning keeps the flow and is placed at the unreachable node."""
    flow, problems = load_flow_text(GOOD + b"  orphan:\n    type: hangup\n", "demo.yaml")
    assert flow is not None
    assert messages(problems) == ["demo.yaml:15:3: warning: node 'orphan' is unreachable from start 'menu'"]


def test_yaml_syntax_error_reports_its_line() -> None:
    """Broken YAML is one problem at the line where the parser stopped."""
    text = GOOD.replace(b"    prompts: [vm-enter-num-to-call]\n", b"    prompts: [vm-enter-num-to-call\n")
    flow, problems = load_flow_text(text, "demo.yaml")
    assert flow is None
    assert len(problems) == 1
    assert problems[0].line in (7, 8) and "YAML syntax" in problems[0].message


def test_yaml_syntax_error_tab_indentation_line() -> None:
    """A tab used for indentation is reported at its own line."""
    text = b"id: demo\nnumbers: ['1']\nnodes:\n\tbye: {type: hangup}\n"
    _, problems = load_flow_text(text, "t.yaml")
    assert len(problems) == 1 and problems[0].line == 4 and "YAML syntax" in problems[0].message


@pytest.mark.parametrize(
    "payload",
    [
        b"!!python/object:os.system {}",
        b"!!python/object/apply:os.system ['true']",
        b"!!python/name:os.system",
        b"id: !!python/object/new:str ['main']",
        b"id: !custom main",
        b"id: !!binary aGVsbG8=",
    ],
)
def test_non_plain_yaml_tags_are_rejected(payload: bytes) -> None:
    """Python object tags and any other non-plain tag are refused, never constructed."""
    flow, problems = load_flow_text(payload, "evil.yaml")
    assert flow is None
    assert any("is not allowed (plain data only)" in p.message for p in problems)


def test_unquoted_date_is_rejected_as_a_non_plain_tag() -> None:
    """YAML's implicit timestamp type is not plain data either."""
    flow, problems = load_flow_text(GOOD.replace(b"id: demo", b"id: 2024-01-01"), "d.yaml")
    assert flow is None
    assert any("timestamp" in p.message for p in problems)


def test_aliases_are_rejected() -> None:
    """Reusing a node through an anchor and alias is refused."""
    text = GOOD.replace(b"prompts: [vm-enter-num-to-call]", b"prompts: &p [vm-enter-num-to-call]")
    text += b"  again:\n    type: hangup\n    prompts: *p\n"
    flow, problems = load_flow_text(text, "alias.yaml")
    assert flow is None
    # the alias is the anchored node itself, so the problem points at the anchor
    assert messages(problems) == ["alias.yaml:7:14: error: YAML anchors and aliases are not allowed in flows"]


def test_merge_keys_are_rejected() -> None:
    """The << merge key (an alias in disguise) is refused."""
    text = b"base: &b {type: hangup}\nnodes:\n  x:\n    <<: *b\n"
    flow, problems = load_flow_text(text, "merge.yaml")
    assert flow is None and problems


def test_billion_laughs_document_fails_fast() -> None:
    """An exponential alias bomb is rejected quickly instead of being expanded."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 12):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    text = ("\n".join(lines) + "\n").encode()
    started = time.perf_counter()
    flow, problems = load_flow_text(text, "lol.yaml")
    assert time.perf_counter() - started < 2.0
    assert flow is None
    assert any("anchors and aliases are not allowed" in p.message for p in problems)


def test_document_that_is_not_a_mapping_is_an_error() -> None:
    """An explicit empty document or a bare list is reported as not being a flow."""
    for text in (b"---\n", b"- id: main\n"):
        flow, problems = load_flow_text(text, "x.yaml")
        assert flow is None
        assert [p.message for p in problems] == ["a flow file must be a mapping with id, numbers, start and nodes"]


def test_duplicate_keys_are_rejected_at_the_second_key() -> None:
    """A key given twice in one mapping is an error at the second occurrence."""
    text = GOOD.replace(b"    type: hangup\n", b"    type: hangup\n    type: play\n")
    flow, problems = load_flow_text(text, "dup.yaml")
    assert flow is None
    assert "dup.yaml:15:5: error: duplicate key 'type'" in messages(problems)


def test_duplicate_node_ids_are_rejected() -> None:
    """Two nodes with the same id (a later one silently replacing the first in plain YAML) is an error."""
    text = GOOD + b"  bye:\n    type: hangup\n"
    flow, problems = load_flow_text(text, "dup.yaml")
    assert flow is None
    assert "dup.yaml:15:3: error: duplicate key 'bye'" in messages(problems)


def test_file_over_one_mebibyte_is_rejected_without_parsing() -> None:
    """A file larger than MAX_FILE_BYTES is refused by size alone."""
    text = GOOD + b"#" * (MAX_FILE_BYTES - len(GOOD) + 1)
    assert len(text) == MAX_FILE_BYTES + 1
    flow, problems = load_flow_text(text, "big.yaml")
    assert flow is None
    assert messages(problems) == [f"big.yaml:1:1: error: file larger than {MAX_FILE_BYTES} bytes"]


def test_file_of_exactly_the_limit_is_parsed() -> None:
    """A file of exactly MAX_FILE_BYTES is still read (the limit is inclusive)."""
    text = GOOD + b"#" * (MAX_FILE_BYTES - len(GOOD))
    flow, problems = load_flow_text(text, "edge.yaml")
    assert problems == [] and flow is not None


def test_nesting_deeper_than_the_limit_is_rejected() -> None:
    """Data nested deeper than MAX_DEPTH levels is refused."""
    depth = MAX_DEPTH + 5
    text = b"id: " + b"[" * depth + b"1" + b"]" * depth + b"\n"
    flow, problems = load_flow_text(text, "deep.yaml")
    assert flow is None
    assert any(f"nested deeper than {MAX_DEPTH} levels" in p.message for p in problems)


def test_pathologically_deep_nesting_is_an_error_not_a_crash() -> None:
    """Hundreds of nested brackets give a problem instead of a RecursionError."""
    text = b"id: " + b"[" * 600 + b"]" * 600 + b"\n"  # past the composer's recursion limit
    flow, problems = load_flow_text(text, "deeper.yaml")
    assert flow is None and len(problems) >= 1


@pytest.mark.parametrize("text", [b"\xff\xfeid: main\n", GOOD.replace(b"demo", b"d\xe9mo")])
def test_non_utf8_file_is_rejected(text: bytes) -> None:
    """Bytes that are not UTF-8 are one clear error."""
    flow, problems = load_flow_text(text, "latin1.yaml")
    assert flow is None
    assert messages(problems) == ["latin1.yaml:1:1: error: file is not UTF-8 text"]


@pytest.mark.parametrize("text", [b"", b"# only a comment\n", b"\n\n"])
def test_empty_file_is_an_error(text: bytes) -> None:
    """A file with no document says so."""
    flow, problems = load_flow_text(text, "empty.yaml")
    assert flow is None
    assert messages(problems) == ["empty.yaml:1:1: error: empty flow file"]


def test_version_is_a_content_hash() -> None:
    """The same bytes give the same version; one changed byte gives a different one."""
    first, _ = load_flow_text(GOOD, "a.yaml")
    again, _ = load_flow_text(GOOD, "b.yaml")
    changed, _ = load_flow_text(GOOD.replace(b"timeout_s: 3", b"timeout_s: 4"), "a.yaml")
    comment_only, _ = load_flow_text(GOOD + b"#\n", "a.yaml")
    assert first is not None and again is not None and changed is not None and comment_only is not None
    assert first.version == again.version
    assert len({first.version, changed.version, comment_only.version}) == 3
    assert len(first.version) == 12 and int(first.version, 16) >= 0


def write(tmp_path: Path, name: str, text: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text)
    return path


def test_two_flows_claiming_one_number_reject_the_second(tmp_path: Path) -> None:
    """When two files answer the same number, the later one is refused at that number's line:col, naming the first."""
    first = write(tmp_path, "a.yaml", GOOD)
    second = write(tmp_path, "b.yaml", GOOD.replace(b"id: demo", b"id: other"))
    flows, problems = load_flows([tmp_path])
    assert [f.id for f in flows] == ["demo"]
    assert messages(problems) == [
        f"{second}:2:11: error: number 6000 is already answered by flow 'demo' ({first})"]


def test_a_clashing_number_in_a_block_list_is_located_at_its_item(tmp_path: Path) -> None:
    """In a block list of numbers, the clash points at the item that is taken, not at the other numbers."""
    write(tmp_path, "a.yaml", GOOD)
    second = write(tmp_path, "b.yaml", GOOD.replace(b"id: demo", b"id: other").replace(
        b'numbers: ["6000"]', b'numbers:\n  - "6001"\n  - "6000"'))
    flows, problems = load_flows([tmp_path])
    assert [f.id for f in flows] == ["demo"]
    assert [(p.file, p.line, p.column) for p in problems] == [(str(second), 4, 5)]
    assert "number 6000 is already answered by flow 'demo'" in problems[0].message


def test_two_flows_with_one_id_reject_the_second(tmp_path: Path) -> None:
    """Flow ids are unique across files; the clash points at the second file's id value."""
    first = write(tmp_path, "a.yaml", GOOD)
    second = write(tmp_path, "b.yml", GOOD.replace(b'"6000"', b'"6001"'))
    flows, problems = load_flows([tmp_path])
    assert [f.numbers for f in flows] == [("6000",)]
    assert messages(problems) == [f"{second}:1:5: error: flow id 'demo' is also used by {first}"]


def test_flows_check_prints_clashes_at_their_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`callcontrol flows check` shows a lost claim at the line:col of the claim, and exits 1."""
    write(tmp_path, "a.yaml", GOOD)
    second = write(tmp_path, "b.yaml", GOOD.replace(b"id: demo", b"id: other"))
    assert main(["flows", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{second}:2:11: error: number 6000 is already answered by flow 'demo'" in out


def test_flow_file_records_where_its_claims_are_written() -> None:
    """The catalog's view of a file carries the line:col of its id value and of each number."""
    flow_file, problems = load_flow_file(GOOD.replace(b'["6000"]', b'["6000", "6001"]'), "demo.yaml")
    assert problems == [] and flow_file.flow is not None
    assert dict(flow_file.claim_positions) == {("id", "demo"): (1, 5), ("number", "6000"): (2, 11),
                                               ("number", "6001"): (2, 19)}


def test_directory_expansion_takes_only_yaml_files_in_sorted_order(tmp_path: Path) -> None:
    """A directory contributes its *.yaml and *.yml files in name order, ignoring others."""
    write(tmp_path, "b.yml", GOOD.replace(b"id: demo", b"id: bee").replace(b'"6000"', b'"6002"'))
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "notes.txt", b"not yaml: [")
    flows, problems = load_flows([tmp_path])
    assert problems == []
    assert [f.id for f in flows] == ["demo", "bee"]


def test_unreadable_path_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """A named file that does not exist is reported and the rest still load."""
    good = write(tmp_path, "a.yaml", GOOD)
    flows, problems = load_flows([tmp_path / "missing.yaml", good])
    assert [f.id for f in flows] == ["demo"]
    assert len(problems) == 1 and "cannot read" in problems[0].message


def test_shipped_flows_directory_has_no_errors() -> None:
    """Every flow in the repository's ivr_flows/ loads without errors."""
    flows, problems = load_flows([REPO / "ivr_flows"])
    assert [p for p in problems if p.severity == "error"] == []
    assert "main" in [f.id for f in flows]
    assert load_flow_text(MAIN_YAML, "main.yaml")[1] == []
