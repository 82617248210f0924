"""Drawing flows (callcontrol.adapters.flow_graph): DOT, Mermaid and SVG, escaping, and `flows graph`."""

from __future__ import annotations

import html
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcontrol.adapters.flow_files import load_flow_text
from callcontrol.adapters.flow_graph import (
    FORMATS,
    GraphError,
    graph_command,
    render,
    to_dot,
    to_mermaid,
    to_svg,
)
from callcontrol.core.ivr import Flow, PlayNode, build_flow, node_exits
from callcontrol.settings import Settings
from tests.support.paths import REPO

MAIN_YAML = REPO / "ivr_flows" / "main.yaml"
ORPHAN = b"""
  old_promo:
    type: play
    prompts: [demo-congrats, demo-thanks]
    next: goodbye
"""
SVG = "{http://www.w3.org/2000/svg}"

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (scripts/lib.sh installs graphviz)")


def load(text: bytes, file: str = "main.yaml") -> Flow:
    flow, problems = load_flow_text(text, file)
    assert flow is not None, problems
    return flow


def main_flow() -> Flow:
    return load(MAIN_YAML.read_bytes(), str(MAIN_YAML))


def orphan_flow() -> Flow:
    return load(MAIN_YAML.read_bytes() + ORPHAN)


# ---------------------------------------------------------------- reading DOT back, line by line

_Q = r'"((?:[^"\\]|\\.)*)"'
_NODE = re.compile(rf"^  {_Q} \[(.*)\];$")
_EDGE = re.compile(rf"^  {_Q} -> {_Q} \[(.*)\];$")
_ATTR = re.compile(rf"(\w+)={_Q}(?:, |$)")
_HEADER = re.compile(rf"^(digraph {_Q} \{{|  (graph|node|edge) \[.*\];|\}})$")


def dot_string(raw: str) -> str:
    """What dot shows for a quoted DOT string: entities decoded, then label escapes (\\n newline, \\x -> x)."""
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], html.unescape(raw))


def dot_attrs(raw: str) -> dict[str, str]:
    pairs = _ATTR.findall(raw)
    assert ", ".join(f'{k}="{v}"' for k, v in pairs) == raw, f"unparsed attributes: {raw}"
    return {key: dot_string(value) for key, value in pairs}


def parse_dot(text: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str, str, dict[str, str]]]]:
    """Every line is a header, one node statement or one edge statement; anything else fails the test."""
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str, str, dict[str, str]]] = []
    for line in text.splitlines():
        if edge := _EDGE.match(line):
            attrs = dot_attrs(edge[3])
            edges.append((dot_string(edge[1]), attrs["label"], dot_string(edge[2]), attrs))
        elif node := _NODE.match(line):
            nodes[dot_string(node[1])] = dot_attrs(node[2])
        else:
            assert _HEADER.match(line), f"not a DOT statement this module writes: {line!r}"
    return nodes, edges


def expected_exits(flow: Flow) -> Counter[tuple[str, str, str]]:
    return Counter((node_id, label, target) for node_id, node in flow.nodes.items()
                   for label, target in node_exits(node))


# ---------------------------------------------------------------- reading Mermaid back, line by line

_MM_KEY = r"[A-Za-z][A-Za-z0-9_]*"
_MM_TEXT = r"(?:[A-Za-z0-9 _\-/.,*()+=?!]|#\d+;|<br/>)*"
_MM_NODE = re.compile(rf'^  ({_MM_KEY})(\(\[|\{{\{{|\(|\[)"({_MM_TEXT})"(\]\)|\}}\}}|\)|\])$')
_MM_EDGE = re.compile(rf'^  ({_MM_KEY}) -->\|"({_MM_TEXT})"\| ({_MM_KEY})$')
_MM_OTHER = re.compile(r"^  (%% [^\n%]*|classDef \w+ [\w:,\- ]+|class [\w,]+ \w+|linkStyle [\d,]+ [\w:,\- ]+)$")
_MM_KEYWORDS = ("end", "graph", "flowchart", "subgraph", "style", "linkstyle", "classdef", "class", "click",
                "call", "href", "default", "interpolate", "direction")


def mermaid_text(raw: str) -> list[str]:
    return [re.sub(r"#(\d+);", lambda m: chr(int(m[1])), part) for part in raw.split("<br/>")]


def parse_mermaid(text: str) -> tuple[dict[str, tuple[str, list[str]]], list[tuple[str, str, str]], list[str]]:
    """Nodes (key -> shape, label lines), edges and style lines; a line outside this grammar fails the test."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    nodes: dict[str, tuple[str, list[str]]] = {}
    edges: list[tuple[str, str, str]] = []
    styles: list[str] = []
    for line in lines[1:]:
        if node := _MM_NODE.match(line):
            assert not node[1].startswith(_MM_KEYWORDS), f"key {node[1]!r} starts with a Mermaid keyword"
            nodes[node[1]] = (node[2], mermaid_text(node[3]))
        elif edge := _MM_EDGE.match(line):
            edges.append((edge[1], mermaid_text(edge[2])[0], edge[3]))
        else:
            assert _MM_OTHER.match(line), f"not a Mermaid line this module writes: {line!r}"
            styles.append(line.strip())
    return nodes, edges, styles


def mermaid_ids(nodes: dict[str, tuple[str, list[str]]]) -> dict[str, str]:
    """Node id (first label line) -> Mermaid key."""
    return {label[0]: key for key, (_, label) in nodes.items()}


# ---------------------------------------------------------------- reading SVG back


def svg_nodes(svg: str) -> dict[str, tuple[set[str], list[str], list[ET.Element]]]:
    """Node title -> (classes, text lines, shapes) from dot's SVG."""
    root = ET.fromstring(svg)
    found = {}
    for group in root.iter(f"{SVG}g"):
        classes = set(group.get("class", "").split())
        if "node" in classes:
            title = group.findtext(f"{SVG}title")
            texts = [t.text or "" for t in group.iter(f"{SVG}text")]
            shapes = [e for e in group if e.tag in (f"{SVG}path", f"{SVG}polygon", f"{SVG}ellipse")]
            found[title] = (classes, texts, shapes)
    return found


# ---------------------------------------------------------------- DOT


def test_dot_has_every_node_and_every_labelled_exit_of_the_main_flow() -> None:
    """The DOT for ivr_flows/main.yaml declares each node once and one edge per exit, labelled with the exit."""
    flow = main_flow()
    nodes, edges = parse_dot(to_dot(flow))
    assert set(nodes) == set(flow.nodes)
    assert Counter((source, label, target) for source, label, target, _ in edges) == expected_exits(flow)
    assert ("main_menu", "1", "sales") in {(s, label, t) for s, label, t, _ in edges}
    for node_id, node in flow.nodes.items():
        label = nodes[node_id]["label"].split("\n")
        assert label[:2] == [node_id, f"({type(node).__name__.removesuffix('Node').lower()})"]
        assert node.prompts[0] in label[2]


def test_dot_marks_the_start_node_and_gives_hangups_their_own_shape() -> None:
    """The start node has a double bold border; hangup nodes are octagons, unlike play and menu nodes."""
    flow = main_flow()
    nodes, _ = parse_dot(to_dot(flow))
    assert nodes["greeting"]["peripheries"] == "2" and float(nodes["greeting"]["penwidth"]) > 1
    assert all("peripheries" not in attrs for node_id, attrs in nodes.items() if node_id != flow.start)
    shapes = {node_id: attrs["shape"] for node_id, attrs in nodes.items()}
    assert shapes["goodbye"] == "octagon"
    assert {shapes["greeting"], shapes["main_menu"], shapes["sales"]}.isdisjoint({"octagon"})


def test_unreachable_node_is_highlighted_in_dot() -> None:
    """A node no caller can reach is drawn dashed and red with 'unreachable' in its label, as are its exits."""
    nodes, edges = parse_dot(to_dot(orphan_flow()))
    orphan = nodes["old_promo"]
    assert "dashed" in orphan["style"].split(",") and orphan["color"] == "red"
    assert orphan["label"].split("\n")[-1] == "unreachable"
    assert "(+1 more)" in orphan["label"]
    assert all("unreachable" not in attrs["label"] for node_id, attrs in nodes.items() if node_id != "old_promo")
    [exit_edge] = [attrs for source, _, _, attrs in edges if source == "old_promo"]
    assert exit_edge["style"] == "dashed"


def test_unknown_node_type_is_drawn_as_a_plain_box_labelled_with_its_type() -> None:
    """A node class this module has never heard of still appears, as a box labelled with its type name."""

    @dataclass(frozen=True)
    class TransferToAgentNode:
        id: str
        prompts: tuple[str, ...]

    flow = Flow("f", "v", "f.yaml", ("1",), "hello", {
        "hello": PlayNode("hello", ("hello-world",), "agent"),
        "agent": TransferToAgentNode("agent", ()),  # type: ignore[dict-item]
    })
    nodes, edges = parse_dot(to_dot(flow))
    assert nodes["agent"]["shape"] == "box" and nodes["agent"]["label"] == "agent\n(transfer_to_agent)"
    assert [(s, label, t) for s, label, t, _ in edges] == [("hello", "next", "agent")]


# ---------------------------------------------------------------- Mermaid


def test_mermaid_starts_with_flowchart_and_has_one_edge_line_per_exit() -> None:
    """Mermaid text opens with `flowchart` and holds exactly one edge line per exit, keyed by node id."""
    flow = main_flow()
    text = to_mermaid(flow)
    assert text.startswith("flowchart")
    nodes, edges, styles = parse_mermaid(text)
    keys = mermaid_ids(nodes)
    assert set(keys) == set(flow.nodes) and all(keys[node_id] == node_id for node_id in flow.nodes)
    assert Counter(edges) == expected_exits(flow)
    assert sum(1 for line in text.splitlines() if "-->" in line) == sum(expected_exits(flow).values())
    assert "class greeting start" in styles
    assert nodes["goodbye"][0] != nodes["greeting"][0]  # hangup has its own shape


def test_unreachable_node_is_highlighted_in_mermaid() -> None:
    """The unreachable node carries the unreachable class (red, dashed) and says so in its label."""
    nodes, edges, styles = parse_mermaid(to_mermaid(orphan_flow()))
    assert nodes["old_promo"][1][-1] == "unreachable"
    assert "class old_promo unreachable" in styles
    assert any(line.startswith("classDef unreachable") and "stroke:red" in line for line in styles)
    orphan_edge = [index for index, edge in enumerate(edges) if edge[0] == "old_promo"]
    assert f"linkStyle {','.join(map(str, orphan_edge))} stroke:red,stroke-dasharray:5 5" in styles


# ---------------------------------------------------------------- SVG


@needs_dot
def test_svg_is_well_formed_xml_naming_every_node() -> None:
    """dot's SVG parses as XML and shows each node id as the first line of that node's text."""
    flow = main_flow()
    nodes = svg_nodes(to_svg(flow))
    assert set(nodes) == set(flow.nodes)
    for node_id, (_, texts, _) in nodes.items():
        assert texts[0] == node_id


@needs_dot
def test_unreachable_node_is_highlighted_in_svg() -> None:
    """In the SVG the unreachable node is outlined red and dashed, with 'unreachable' in its text."""
    nodes = svg_nodes(to_svg(orphan_flow()))
    classes, texts, shapes = nodes["old_promo"]
    assert "unreachable" in classes and texts[-1] == "unreachable"
    assert any(shape.get("stroke") == "red" and shape.get("stroke-dasharray") for shape in shapes)
    assert not any("unreachable" in other[0] for node_id, other in nodes.items() if node_id != "old_promo")


def test_missing_dot_binary_raises_graph_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Graphviz on PATH, SVG fails with a GraphError that says to install the graphviz package."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GraphError, match="install the graphviz package"):
        to_svg(main_flow())
    assert render(main_flow(), "dot")[0].startswith("digraph")  # text formats need no Graphviz


# ---------------------------------------------------------------- escaping


WEIRD_BUT_VALID = {
    "id": "x--weird",
    "description": 'He said "hi" \\ then left; %%{init: {"theme": "dark"}}%%',
    "numbers": ["*12#"],
    "start": "end",
    "nodes": {
        "end": {"type": "menu", "description": 'a "quoted" \\"description\\"', "prompts": ["custom/it_s-ok"],
                "options": {"#": "style-x", "*": "o", "0": "a--b"}, "timeout_s": 3, "max_attempts": 1,
                "exhausted": "class"},
        "style-x": {"type": "play", "prompts": ["a/b/c-d_e"], "next": "o"},
        "o": {"type": "play", "prompts": ["x"], "next": "a--b"},
        "a--b": {"type": "play", "prompts": ["digits/1"], "next": "class"},
        "class": {"type": "hangup"},
    },
}


@needs_dot
def test_weird_but_valid_flow_keeps_dot_and_mermaid_well_formed() -> None:
    """Ids that are Mermaid keywords or hold '--', and digits # and *, still give parseable DOT, SVG and Mermaid."""
    flow, problems = build_flow(WEIRD_BUT_VALID, source="weird.yaml", version="1")
    assert flow is not None, problems
    nodes, edges = parse_dot(to_dot(flow))
    assert set(nodes) == set(flow.nodes)
    assert Counter((s, label, t) for s, label, t, _ in edges) == expected_exits(flow)
    assert set(svg_nodes(to_svg(flow))) == set(flow.nodes)
    mm_nodes, mm_edges, _ = parse_mermaid(to_mermaid(flow))
    keys = mermaid_ids(mm_nodes)
    assert set(keys) == set(flow.nodes)
    by_key = {key: node_id for node_id, key in keys.items()}
    assert Counter((by_key[s], label, by_key[t]) for s, label, t in mm_edges) == expected_exits(flow)
    assert keys["o"] == "o" and keys["end"] != "end" and keys["a--b"] != "a--b"


HOSTILE = ['say "hi" \\', 'tail\\', '"; x [label="pwned"]; "', "&amp; &#92; <b>", "%%{init: {}}%%", "a|b`c#d;e"]


@needs_dot
def test_quotes_and_backslashes_cannot_break_dot_or_mermaid() -> None:
    """Quotes, backslashes, entities and Mermaid directives in ids and prompts come out as the same text."""
    nodes = {text: PlayNode(text, (f"p{index} {text}",), HOSTILE[(index + 1) % len(HOSTILE)])
             for index, text in enumerate(HOSTILE)}
    flow = Flow('fl"ow\\', "v", "x.yaml", ("1",), HOSTILE[0], nodes)  # type: ignore[arg-type]

    dot_nodes, dot_edges = parse_dot(to_dot(flow))
    assert set(dot_nodes) == set(HOSTILE)
    for index, text in enumerate(HOSTILE):
        assert dot_nodes[text]["label"].split("\n")[:3] == [text, "(play)", f"\u266a p{index} {text}"]
    assert len(dot_edges) == len(HOSTILE)

    svg = svg_nodes(to_svg(flow))
    assert {texts[0] for _, texts, _ in svg.values()} == set(HOSTILE)
    assert {texts[2] for _, texts, _ in svg.values()} == {f"\u266a p{i} {t}" for i, t in enumerate(HOSTILE)}

    mm_nodes, mm_edges, _ = parse_mermaid(to_mermaid(flow))
    assert set(mermaid_ids(mm_nodes)) == set(HOSTILE)
    assert len(mm_edges) == len(HOSTILE)


# ---------------------------------------------------------------- render


def test_render_returns_text_and_content_type_and_rejects_unknown_formats() -> None:
    """render() pairs each format with its Content-Type and refuses a format it does not know."""
    flow = main_flow()
    assert FORMATS == ("svg", "dot", "mermaid")
    assert render(flow, "dot") == (to_dot(flow), "text/vnd.graphviz; charset=utf-8")
    assert render(flow, "mermaid") == (to_mermaid(flow), "text/plain; charset=utf-8")
    with pytest.raises(ValueError, match="unknown diagram format 'png'"):
        render(flow, "png")


@needs_dot
def test_render_svg_content_type() -> None:
    """SVG comes back as image/svg+xml."""
    text, content_type = render(main_flow(), "svg")
    assert content_type == "image/svg+xml; charset=utf-8" and "<svg" in text


# ---------------------------------------------------------------- graph_command


def settings_for(flows_dir: Path) -> Settings:
    return Settings(flows_dir=flows_dir)


def test_graph_command_by_path_writes_the_diagram(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given a flow file path and -o, the diagram is written to that file and the command returns 0."""
    out = tmp_path / "main.mmd"
    assert graph_command(settings_for(tmp_path / "none"), str(MAIN_YAML), "mermaid", out) == 0
    assert out.read_text(encoding="utf-8") == to_mermaid(main_flow())
    assert "wrote" in capsys.readouterr().err


@needs_dot
def test_graph_command_by_id_finds_the_flow_in_the_flows_dir(tmp_path: Path) -> None:
    """A bare flow id is looked up in settings.flows_dir and drawn (here as SVG)."""
    (tmp_path / "main.yaml").write_bytes(MAIN_YAML.read_bytes())
    out = tmp_path / "main.svg"
    assert graph_command(settings_for(tmp_path), "main", "svg", out) == 0
    assert set(svg_nodes(out.read_text(encoding="utf-8"))) == set(main_flow().nodes)


def test_graph_command_without_output_prints_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without -o the diagram goes to standard output, and nothing else does."""
    (tmp_path / "main.yaml").write_bytes(MAIN_YAML.read_bytes())
    assert graph_command(settings_for(tmp_path), "main", "dot", None) == 0
    assert capsys.readouterr().out == to_dot(load(MAIN_YAML.read_bytes(), str(tmp_path / "main.yaml")))


def test_graph_command_unknown_id_fails_and_names_the_known_ids(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An id no flow has returns non-zero and says which ids exist."""
    (tmp_path / "main.yaml").write_bytes(MAIN_YAML.read_bytes())
    assert graph_command(settings_for(tmp_path), "nope", "dot", tmp_path / "x.dot") == 2
    err = capsys.readouterr().err
    assert "no flow with id 'nope'" in err and "valid flows there: main" in err
    assert not (tmp_path / "x.dot").exists()


def test_graph_command_invalid_flow_prints_file_line_col_and_returns_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid flow, by path or by id, prints each problem as file:line:col and draws nothing."""
    bad = tmp_path / "main.yaml"
    bad.write_bytes(MAIN_YAML.read_bytes().replace(b'"2": support', b'"2": nowhere'))
    out = tmp_path / "x.dot"
    assert graph_command(settings_for(tmp_path), str(bad), "dot", out) == 1
    err = capsys.readouterr().err
    assert re.search(rf"^{re.escape(str(bad))}:\d+:\d+: error: exit to unknown node 'nowhere'$", err, re.M), err
    assert graph_command(settings_for(tmp_path), "main", "dot", out) == 1
    assert "exit to unknown node 'nowhere'" in capsys.readouterr().err
    assert not out.exists()


def test_graph_command_svg_without_graphviz_fails_cleanly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Asking for SVG without Graphviz returns 1 with the install hint instead of a traceback."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert graph_command(settings_for(tmp_path), str(MAIN_YAML), "svg", tmp_path / "x.svg") == 1
    assert "install the graphviz package" in capsys.readouterr().err

