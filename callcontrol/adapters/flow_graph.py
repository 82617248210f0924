"""Draws flows as diagrams: Graphviz DOT, Mermaid, and SVG (rendered by Graphviz's dot).

Layout is left to Graphviz's dot program, a well-kept layered-graph layout engine, instead of
positions computed here: this module only describes a flow (nodes, exits, start, unreachable nodes)
as DOT or Mermaid text and asks dot (a subprocess, no Python binding) for SVG. The graph comes from
core.ivr's node_exits and reachable_nodes alone, so a new node type is drawn, as a plain box labelled
with its type, without a change here; the class mappings below only pick nicer shapes for known types.

Everything a flow author controls (ids, prompt names) reaches the output escaped: in DOT as HTML
entities inside quoted strings (no backslash from a flow ever reaches dot's parser), in Mermaid as
#code; entities inside quoted labels, with node keys that are either a plain id or a generated key.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from callcontrol.core.identifiers import IDENTIFIER
from callcontrol.core.ivr import (
    Flow,
    GotoNode,
    HangupNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    SubflowNode,
    VoicemailNode,
    node_exits,
    reachable_nodes,
)

if TYPE_CHECKING:
    from callcontrol.settings import Settings

FORMATS = ("svg", "dot", "mermaid")
DOT_TIMEOUT_S = 10.0


class GraphError(RuntimeError):
    """Graphviz is missing, failed or took too long; the message says what to do."""


# ---------------------------------------------------------------- what is drawn


@dataclass(frozen=True)
class _Box:
    id: str
    kind: type | None  # the node's class (picks the shape); None for an exit to a node that does not exist
    type_name: str
    prompts: tuple[str, ...]
    start: bool
    reachable: bool
    detail: str = ""  # where the node sends the caller: a queue, a mailbox, another flow


@dataclass(frozen=True)
class _Arrow:
    source: str
    label: str
    target: str
    reachable: bool


def _type_name(node: Node) -> str:
    """'PlayNode' -> 'play', 'TransferToAgentNode' -> 'transfer_to_agent': the flow file's type name."""
    name = re.sub(r"Node$", "", type(node).__name__) or type(node).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _detail(node: Node) -> str:
    if isinstance(node, QueueNode):
        return f"queue {node.queue}"
    if isinstance(node, VoicemailNode):
        return f"mailbox {node.mailbox}"
    if isinstance(node, (SubflowNode, GotoNode)):
        return f"flow {node.flow}"
    return ""


def _describe(flow: Flow) -> tuple[list[_Box], list[_Arrow]]:
    reachable = reachable_nodes(flow) if flow.start in flow.nodes else set()
    boxes = [
        _Box(node_id, type(node), _type_name(node), tuple(getattr(node, "prompts", ()) or ()),
             node_id == flow.start, node_id in reachable, _detail(node))
        for node_id, node in flow.nodes.items()
    ]
    arrows: list[_Arrow] = []
    missing: list[str] = []
    for node_id, node in flow.nodes.items():
        for label, target in node_exits(node):
            arrows.append(_Arrow(node_id, label, target, node_id in reachable))
            if target not in flow.nodes and target not in missing:
                missing.append(target)
    # build_flow never lets an exit point nowhere; a hand-made Flow might, and the diagram should show it
    boxes.extend(_Box(target, None, "missing", (), False, False) for target in missing)
    return boxes, arrows


def _label_lines(box: _Box) -> list[str]:
    lines = [box.id, f"({box.type_name})"]
    if box.detail:
        lines.append(box.detail)
    if box.prompts:
        more = f" (+{len(box.prompts) - 1} more)" if len(box.prompts) > 1 else ""
        lines.append(f"\u266a {box.prompts[0]}{more}")
    if not box.reachable and box.kind is not None:
        lines.append("unreachable")
    return lines


def _title(flow: Flow) -> str:
    if not flow.numbers:
        return f"flow {flow.id} (no numbers: reached from other flows)"
    return f"flow {flow.id}, numbers {', '.join(flow.numbers)}"


# ---------------------------------------------------------------- DOT

# Shape per known node class; any other class gets _DOT_DEFAULT. Attribute values are trusted constants.
_DOT_SHAPES: dict[type, dict[str, str]] = {
    PlayNode: {"shape": "box", "style": "rounded,filled", "fillcolor": "#e8f0fe"},
    MenuNode: {"shape": "hexagon", "style": "filled", "fillcolor": "#fff4d6"},
    HangupNode: {"shape": "octagon", "style": "filled", "fillcolor": "#eeeeee"},
}
_DOT_DEFAULT = {"shape": "box", "style": "filled", "fillcolor": "#ffffff"}
_DOT_MISSING = {"shape": "box", "style": "dashed", "color": "red", "fontcolor": "red"}


def _dot_text(text: str) -> str:
    """Text for inside a DOT double-quoted string: quotes, ampersands, backslashes and controls as entities.

    dot decodes entities before it reads label escapes (\\n, \\N, ...), so a backslash becomes
    &#92;&#92; (two backslashes, which a label shows as one) and its parser never meets a backslash.
    """
    out: list[str] = []
    for char in text:
        if char == "&":
            out.append("&amp;")
        elif char == '"':
            out.append("&quot;")
        elif char == "\\":
            out.append("&#92;&#92;")
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"&#{ord(char)};")
        else:
            out.append(char)
    return "".join(out)


def _dq(text: str) -> str:
    return f'"{_dot_text(text)}"'


def _dot_label(lines: list[str]) -> str:
    return '"' + "\\n".join(_dot_text(line) for line in lines) + '"'


def _dot_attrs(attrs: dict[str, str]) -> str:
    return ", ".join(f"{name}={value if name == 'label' else _dq(value)}" for name, value in attrs.items())


def to_dot(flow: Flow) -> str:
    """The flow as a Graphviz digraph, one statement per line: nodes first, then one edge per exit."""
    boxes, arrows = _describe(flow)
    lines = [
        f"digraph {_dq(flow.id)} {{",
        f"  graph [label={_dq(_title(flow))}, labelloc=\"t\", fontname=\"Helvetica\", fontsize=\"12\", "
        f"rankdir=\"TB\", nodesep=\"0.35\", ranksep=\"0.45\"];",
        '  node [fontname="Helvetica", fontsize="10", margin="0.12,0.06"];',
        '  edge [fontname="Helvetica", fontsize="9"];',
    ]
    for box in boxes:
        attrs: dict[str, str] = {"label": _dot_label(_label_lines(box))}
        if box.kind is None:
            attrs |= _DOT_MISSING
        else:
            attrs |= _DOT_SHAPES.get(box.kind, _DOT_DEFAULT)
        classes = [box.type_name]
        if box.start:
            attrs |= {"penwidth": "2.5", "peripheries": "2"}
            classes.append("start")
        if not box.reachable and box.kind is not None:
            attrs |= {"style": f"{attrs['style']},dashed", "color": "red", "fontcolor": "red", "fillcolor": "#fff0f0"}
            classes.append("unreachable")
        attrs["class"] = " ".join(classes)
        lines.append(f"  {_dq(box.id)} [{_dot_attrs(attrs)}];")
    for arrow in arrows:
        attrs = {"label": _dq(arrow.label)}
        if not arrow.reachable:
            attrs |= {"style": "dashed", "color": "red", "fontcolor": "red"}
        lines.append(f"  {_dq(arrow.source)} -> {_dq(arrow.target)} [{_dot_attrs(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Mermaid

# (opening, closing) brackets per known node class: rounded box, hexagon, stadium; others a plain box.
_MERMAID_SHAPES: dict[type, tuple[str, str]] = {
    PlayNode: ("(", ")"),
    MenuNode: ("{{", "}}"),
    HangupNode: ("([", "])"),
}
_MERMAID_DEFAULT = ("[", "]")
# Mermaid's lexer reads these at the start of a word as keywords, so an id beginning with one is not a safe key.
_MERMAID_KEYWORDS = ("end", "graph", "flowchart", "subgraph", "style", "linkstyle", "classdef", "class",
                     "click", "call", "href", "default", "interpolate", "direction", "acc")
_MERMAID_PLAIN_KEY = re.compile(r"^[a-z][a-z0-9_]*\Z")
_MERMAID_PLAIN_TEXT = re.compile(r"[A-Za-z0-9 _\-/.,*()+=?!]")


def _mermaid_text(text: str) -> str:
    """Text for inside a Mermaid "quoted" label: anything beyond a small plain set becomes a #code; entity."""
    return "".join(char if _MERMAID_PLAIN_TEXT.fullmatch(char) else f"#{ord(char)};" for char in text)


def _mermaid_keys(boxes: list[_Box]) -> dict[str, str]:
    """Node keys: the id itself when Mermaid reads it as a plain name, else N<index> (ids are lowercase)."""
    keys: dict[str, str] = {}
    for index, box in enumerate(boxes):
        plain = _MERMAID_PLAIN_KEY.match(box.id) and not box.id.startswith(_MERMAID_KEYWORDS)
        keys[box.id] = box.id if plain else f"N{index}"
    return keys


def to_mermaid(flow: Flow) -> str:
    """The flow as Mermaid `flowchart TD` text: one line per node, one edge line per exit, then styles."""
    boxes, arrows = _describe(flow)
    keys = _mermaid_keys(boxes)
    lines = ["flowchart TD", f"  %% {_mermaid_text(_title(flow))}"]
    for box in boxes:
        opening, closing = _MERMAID_SHAPES.get(box.kind, _MERMAID_DEFAULT) if box.kind else _MERMAID_DEFAULT
        label = "<br/>".join(_mermaid_text(line) for line in _label_lines(box))
        lines.append(f'  {keys[box.id]}{opening}"{label}"{closing}')
    for arrow in arrows:
        lines.append(f'  {keys[arrow.source]} -->|"{_mermaid_text(arrow.label)}"| {keys[arrow.target]}')
    lines.append("  classDef start stroke-width:4px")
    lines.append("  classDef unreachable stroke:red,stroke-width:2px,stroke-dasharray:5 5,color:red")
    starts = [keys[box.id] for box in boxes if box.start]
    if starts:
        lines.append(f"  class {','.join(starts)} start")
    unreachable = [keys[box.id] for box in boxes if not box.reachable]
    if unreachable:
        lines.append(f"  class {','.join(unreachable)} unreachable")
    faded = [str(index) for index, arrow in enumerate(arrows) if not arrow.reachable]
    if faded:
        lines.append(f"  linkStyle {','.join(faded)} stroke:red,stroke-dasharray:5 5")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- SVG (Graphviz)


def to_svg(flow: Flow) -> str:
    """The flow as SVG, laid out by Graphviz's dot (a subprocess, at most DOT_TIMEOUT_S seconds)."""
    try:
        result = subprocess.run(
            ["dot", "-Tsvg"], input=to_dot(flow).encode("utf-8"), capture_output=True, timeout=DOT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise GraphError(
            "Graphviz's dot program is not on PATH: install the graphviz package (apt-get install graphviz) "
            "to draw SVG, or ask for the dot or mermaid format"
        ) from None
    except subprocess.TimeoutExpired:
        raise GraphError(f"Graphviz's dot took longer than {DOT_TIMEOUT_S:g} s to draw flow '{flow.id}'") from None
    except OSError as exc:
        raise GraphError(f"cannot run Graphviz's dot: {exc}") from None
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip()[:500] or "no message"
        raise GraphError(f"Graphviz's dot failed (exit {result.returncode}) on flow '{flow.id}': {detail}")
    return result.stdout.decode("utf-8", "replace")


_RENDERERS: dict[str, tuple[Callable[[Flow], str], str]] = {
    "svg": (to_svg, "image/svg+xml; charset=utf-8"),
    "dot": (to_dot, "text/vnd.graphviz; charset=utf-8"),
    "mermaid": (to_mermaid, "text/plain; charset=utf-8"),
}


def render(flow: Flow, fmt: str) -> tuple[str, str]:
    """(diagram text, Content-Type header value) for one of FORMATS; GraphError if svg cannot be drawn.

    svg runs a subprocess (up to DOT_TIMEOUT_S): from async code call it through asyncio.to_thread.
    """
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown diagram format {fmt!r} (known: {', '.join(FORMATS)})")
    draw, content_type = _RENDERERS[fmt]
    return draw(flow), content_type


# ---------------------------------------------------------------- command line


def graph_command(settings: Settings, flow_ref: str, fmt: str, output: Path | None) -> int:
    """`callcontrol flows graph`: 0 drawn, 1 flow invalid or drawing failed, 2 flow not found or output unwritable.

    flow_ref is a flow id (looked up in settings.flows_dir) when it looks like one, else a file path.
    """
    from callcontrol.adapters.flow_files import load_flow_text, load_flows

    if IDENTIFIER.match(flow_ref):
        flows_dir = settings.flows_dir
        if not flows_dir.is_dir():
            _err(f"flows directory {flows_dir} does not exist; give a flow file path instead of '{flow_ref}'")
            return 2
        flows, problems = load_flows([flows_dir])
        flow = next((f for f in flows if f.id == flow_ref), None)
        if flow is None:
            own = [p for p in problems if Path(p.file).stem == flow_ref]
            if any(p.severity == "error" for p in own):
                for problem in own:
                    print(problem, file=sys.stderr)
                _err(f"flow '{flow_ref}' is invalid; nothing drawn")
                return 1
            known = ", ".join(sorted(f.id for f in flows)) or "none"
            _err(f"no flow with id '{flow_ref}' in {flows_dir} (valid flows there: {known}); "
                 f"give one of those ids or a flow file path")
            return 2
        problems = [p for p in problems if p.file == flow.source]
    else:
        path = Path(flow_ref)
        try:
            text = path.read_bytes()
        except OSError as exc:
            _err(f"cannot read flow file {path}: {exc.strerror or exc}")
            return 2
        flow, problems = load_flow_text(text, str(path))
    for problem in problems:
        print(problem, file=sys.stderr)
    if flow is None:
        _err(f"flow {flow_ref} is invalid; nothing drawn")
        return 1
    try:
        diagram, _ = render(flow, fmt)
    except (GraphError, ValueError) as exc:
        _err(str(exc))
        return 1
    if output is None:
        sys.stdout.write(diagram)
        return 0
    try:
        output.write_text(diagram, encoding="utf-8")
    except OSError as exc:
        _err(f"cannot write {output}: {exc.strerror or exc}")
        return 2
    _err(f"wrote {output} ({fmt}, flow '{flow.id}', {len(flow.nodes)} nodes)")
    return 0


def _err(message: str) -> None:
    print(f"callcontrol flows graph: {message}", file=sys.stderr)
