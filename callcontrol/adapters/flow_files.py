"""Reads flow YAML files safely (plain data only, size/depth/alias limits) and places problems at file:line:col."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from callcontrol.core.flow_lint import digit_comparison_warnings
from callcontrol.core.ivr import Flow, Problem, build_flow, prompt_references
from callcontrol.services.flow_catalog import Claim, FlowFile, resolve_claims, resolve_references

MAX_FILE_BYTES = 1024 * 1024
# libyaml's safe loader when PyYAML was built with it (about 13x faster), else the pure-Python one.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 32
FLOW_TESTS_SUFFIXES = (".tests.yaml", ".tests.yml")  # test cases beside a flow, not flows themselves
_PLAIN_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")}
FLOW_SUFFIXES = (".yaml", ".yml")
OUTSIDE = ("skipped: a symbolic link to a file outside the flows directory (flow files are read only as regular "
           "files inside it)")
NOT_REGULAR = "skipped: not a regular file (flow files are read only as regular files inside the flows directory)"


class SkippedFile(Exception):
    """A directory entry that is not read as a flow file (a symbolic link, not a regular file, too large)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LocatedProblem:
    file: str
    line: int
    column: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"


class _Reader:
    """Turns a composed YAML node tree into plain Python data, remembering where each path came from."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.positions: dict[tuple[Any, ...], tuple[int, int]] = {}  # a mapping's value: where its key is
        self.value_positions: dict[tuple[Any, ...], tuple[int, int]] = {}  # where the value itself starts
        self.problems: list[LocatedProblem] = []
        self._seen: set[int] = set()
        self._scalars = SafeConstructor()

    def _problem(self, node: Node, message: str) -> None:
        self.problems.append(LocatedProblem(self.file, node.start_mark.line + 1, node.start_mark.column + 1, message))

    def read(self, node: Node, path: tuple[Any, ...] = (), depth: int = 0) -> Any:
        self.positions[path] = self.value_positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if id(node) in self._seen:
            self._problem(node, "YAML anchors and aliases are not allowed in flows")
            return None
        self._seen.add(id(node))
        if depth > MAX_DEPTH:
            self._problem(node, f"nested deeper than {MAX_DEPTH} levels")
            return None
        if node.tag not in _PLAIN_TAGS:
            self._problem(node, f"YAML tag {node.tag!r} is not allowed (plain data only)")
            return None
        if isinstance(node, ScalarNode):
            return self._scalars.construct_object(node)
        if isinstance(node, SequenceNode):
            return [self.read(item, (*path, index), depth + 1) for index, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag not in _PLAIN_TAGS:
                self._problem(key_node, "mapping keys must be plain scalars")
                continue
            key = self._scalars.construct_object(key_node)
            key = str(key) if isinstance(key, int) and not isinstance(key, bool) else key
            if key in result:
                self._problem(key_node, f"duplicate key '{key}'")
                continue
            result[key] = self.read(value_node, (*path, key), depth + 1)
            # point problems about a key's value at the key's line (where an editor would look)
            self.positions[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result

    def locate(self, problem: Problem) -> LocatedProblem:
        path = problem.path
        while path not in self.positions and path:
            path = path[:-1]
        line, column = self.positions.get(path, (1, 1))
        return LocatedProblem(self.file, line, column, problem.message, problem.severity)


def read_plain_yaml(
    text: bytes, file: str, what: str = "flow"
) -> tuple[Any, Callable[[Problem], LocatedProblem], list[LocatedProblem]]:
    """Read one YAML document as plain data (size, depth, alias and tag limits), whatever the file format.

    Returns the data (None after an error), a function that places a problem found in that data (a
    Problem whose path is inside the document) at file:line:col, and the problems met while reading;
    `what` names the kind of file in the message for an empty one.
    """
    data, reader, problems = _read_document(text, file, what)
    if reader is not None:
        return data, reader.locate, problems

    def nowhere(problem: Problem) -> LocatedProblem:
        return LocatedProblem(file, 1, 1, problem.message, problem.severity)

    return None, nowhere, problems


def _read_document(text: bytes, file: str, what: str) -> tuple[Any, _Reader | None, list[LocatedProblem]]:
    """read_plain_yaml's work; the reader (None when the text was not even YAML) knows where every path is."""
    if len(text) > MAX_FILE_BYTES:
        return None, None, [LocatedProblem(file, 1, 1, f"file larger than {MAX_FILE_BYTES} bytes")]
    try:
        root = yaml.compose(text.decode("utf-8"), Loader=_SAFE_LOADER)
    except UnicodeDecodeError:
        return None, None, [LocatedProblem(file, 1, 1, "file is not UTF-8 text")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, None, [LocatedProblem(file, line, column, f"YAML syntax: {exc.problem or exc.context}")]
    except (yaml.YAMLError, RecursionError) as exc:
        return None, None, [LocatedProblem(file, 1, 1, f"YAML syntax: {exc}")]
    if root is None:
        return None, None, [LocatedProblem(file, 1, 1, f"empty {what} file")]
    reader = _Reader(file)
    data = reader.read(root)
    if any(p.severity == "error" for p in reader.problems):
        return None, reader, reader.problems
    return data, reader, reader.problems


def load_flow_text(text: bytes, file: str, sounds_dir: Path | None = None) -> tuple[Flow | None, list[LocatedProblem]]:
    """Parse and validate one flow document; the version is a hash of its bytes.

    With a sounds directory, every prompt must exist there in each of the flow's languages.
    """
    flow_file, problems = load_flow_file(text, file, sounds_dir)
    return flow_file.flow, problems


def load_flow_file(text: bytes, file: str, sounds_dir: Path | None = None) -> tuple[FlowFile, list[LocatedProblem]]:
    """load_flow_text, as the catalog takes it: also where the file writes its id and numbers (for clashes)."""
    data, reader, read_problems = _read_document(text, file, "flow")
    if reader is None or any(p.severity == "error" for p in read_problems):
        return FlowFile(file, None, tuple(str(problem) for problem in read_problems)), read_problems
    version = hashlib.sha256(text).hexdigest()[:12]
    flow, problems = build_flow(data, source=file, version=version)
    if flow is not None:
        problems = [*problems, *digit_comparison_warnings(flow)]
    if flow is not None and sounds_dir is not None:
        missing = missing_prompts(flow, sounds_dir)
        problems = [*problems, *missing]
        flow = None if missing else flow
    located = read_problems + [reader.locate(problem) for problem in problems]
    return FlowFile(file, flow, tuple(str(problem) for problem in located), _claim_positions(data, reader),
                    _reference_positions(data, reader)), located


def _claim_positions(data: Any, reader: _Reader) -> dict[Claim, tuple[int, int]]:
    """Where a flow document writes its id value and each of its numbers."""
    if not isinstance(data, Mapping):
        return {}
    positions: dict[Claim, tuple[int, int]] = {}
    flow_id, numbers = data.get("id"), data.get("numbers")
    if isinstance(flow_id, str):
        positions[("id", flow_id)] = reader.value_positions[("id",)]
    for index, number in enumerate(numbers if isinstance(numbers, list) else []):
        if isinstance(number, str):
            positions.setdefault(("number", number), reader.value_positions[("numbers", index)])
    return positions


def _reference_positions(data: Any, reader: _Reader) -> dict[str, tuple[int, int]]:
    """Where each node that names another flow (subflow, goto) writes that flow's id, by node id."""
    nodes = data.get("nodes") if isinstance(data, Mapping) else None
    if not isinstance(nodes, Mapping):
        return {}
    return {node_id: reader.value_positions[("nodes", node_id, "flow")] for node_id, node in nodes.items()
            if isinstance(node, Mapping) and ("nodes", node_id, "flow") in reader.value_positions}


def missing_prompts(flow: Flow, sounds_dir: Path) -> list[Problem]:
    """Prompts with no sound file (any format) under sounds_dir/<language>/ for one of the flow's languages."""
    problems = []
    for path, name in prompt_references(flow):
        absent = [language for language in flow.languages if not _sound_exists(sounds_dir, language, name)]
        if absent:
            problems.append(Problem(path, f"prompt '{name}' is not in the sounds directory {sounds_dir} "
                                          f"for language(s) {', '.join(absent)}"))
    return problems


def _sound_exists(sounds_dir: Path, language: str, name: str) -> bool:
    folder = sounds_dir / language
    if not folder.is_dir():  # Asterisk's layout without language folders
        folder = sounds_dir
    return any(folder.glob(f"{name}.*"))


def flow_dir_entries(directory: Path) -> tuple[list[str], dict[str, str]]:
    """The flow file names of a directory, sorted (test files left out), and the entries skipped, with why.

    Regular files and symbolic links are listed (read_flow_dir_file reads a link only when it ends at a regular
    file inside the directory); anything else (a folder, a FIFO, a device) is skipped. OSError if unlistable.
    """
    names, skipped = [], {}
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.endswith(FLOW_SUFFIXES) or entry.name.endswith(FLOW_TESTS_SUFFIXES):
                continue
            if entry.is_symlink() or entry.is_file(follow_symlinks=False):
                names.append(entry.name)
            else:
                skipped[entry.name] = NOT_REGULAR
    return sorted(names), dict(sorted(skipped.items()))


def read_flow_dir_file(directory: Path, name: str) -> bytes:
    """The bytes of the flow file `name` of `directory`: a regular file inside the directory, at most
    MAX_FILE_BYTES. A symbolic link is followed only when it ends inside the directory (a Kubernetes ConfigMap's
    `main.yaml -> ..data/main.yaml`); one to anywhere else (e.g. /etc/shadow) is never opened, and the file
    actually opened is checked again (a link swapped after the check is caught). Raises SkippedFile with the
    reason (which never names a link's target), FileNotFoundError when the file is gone, OSError otherwise."""
    if not name or "/" in name or name in (".", ".."):
        raise SkippedFile(f"skipped: {name[:80]!r} is not a file name inside the flows directory")
    root = os.path.realpath(directory)
    if not _inside(os.path.realpath(os.path.join(root, name)), root):
        raise SkippedFile(OUTSIDE)
    fd = os.open(os.path.join(root, name), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        opened = f"/proc/self/fd/{handle.fileno()}"
        if os.path.exists(opened) and not _inside(os.readlink(opened), root):
            raise SkippedFile(OUTSIDE)
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise SkippedFile(NOT_REGULAR)
        if status.st_size > MAX_FILE_BYTES:
            raise SkippedFile(f"file larger than {MAX_FILE_BYTES} bytes")
        text = handle.read(MAX_FILE_BYTES + 1)
    if len(text) > MAX_FILE_BYTES:
        raise SkippedFile(f"file larger than {MAX_FILE_BYTES} bytes")
    return text


def _inside(path: str, root: str) -> bool:
    return path != root and os.path.commonpath([path, root]) == root


def flow_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories to their flow files (flow_dir_entries: *.yaml / *.yml, no flow test files), sorted for
    a stable order; a path named on its own is kept as it is."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(path / name for name in flow_dir_entries(path)[0])
        elif not path.name.endswith(FLOW_TESTS_SUFFIXES):
            found.append(path)
    return found


def load_flows(paths: Iterable[Path], sounds_dir: Path | None = None) -> tuple[list[Flow], list[LocatedProblem]]:
    """Load every flow file; a number or flow id claimed twice stays with the first file (the catalog's rule).

    A file named on its own is checked among the other flow files of its directory, as the service would
    load it: their numbers and ids can clash with it and its subflows can be theirs. Only the named files'
    flows and problems are returned.
    """
    paths = list(paths)
    requested = flow_files(paths)
    context = [sibling for directory in dict.fromkeys(path.parent for path in requested if not path.is_dir())
               for sibling in flow_files([directory]) if sibling not in requested]
    problems: list[LocatedProblem] = [
        LocatedProblem(str(path / name), 1, 1, reason) for path in paths if path.is_dir()
        for name, reason in flow_dir_entries(path)[1].items()]
    results: dict[str, FlowFile] = {}
    named = {path for path in paths if not path.is_dir()}  # read as given; a directory's files by its rules
    for path in [*requested, *context]:
        try:
            text = path.read_bytes() if path in named else read_flow_dir_file(path.parent, path.name)
        except SkippedFile as exc:
            if path in requested:
                problems.append(LocatedProblem(str(path), 1, 1, exc.reason))
            continue
        except OSError as exc:
            if path in requested:
                problems.append(LocatedProblem(str(path), 1, 1, f"cannot read: {exc.strerror}"))
            continue
        results[str(path)], found = load_flow_file(text, str(path), sounds_dir)
        if path in requested:
            problems.extend(found)
    wanted = {str(path) for path in requested}
    flows = []
    for source, (flow, lost) in resolve_references(results, {}, resolve_claims(results, {})).items():
        if source not in wanted:
            continue
        problems.extend(LocatedProblem(source, claim.line, claim.column, claim.message) for claim in lost)
        if flow is not None:
            flows.append(flow)
    return flows, problems


def load_flow_library(paths: Iterable[Path]) -> dict[str, Flow]:
    """Every valid flow of the directories holding these paths, by id: what subflow and goto nodes can reach."""
    directories = dict.fromkeys(path if path.is_dir() else path.parent for path in paths)
    flows, _ = load_flows(list(directories))
    return {flow.id: flow for flow in flows}
