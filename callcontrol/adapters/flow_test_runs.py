"""`callcontrol flows test`: finding flow and test files, running every case, and the report it prints."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from callcontrol.adapters.flow_files import (
    FLOW_TESTS_SUFFIXES,
    LocatedProblem,
    flow_files,
    load_flow_library,
    load_flows,
)
from callcontrol.adapters.flow_test_files import FlowTestFile, load_flow_test_text, load_in_file_tests
from callcontrol.core import flow_tests
from callcontrol.core.flow_tests import CaseResult
from callcontrol.core.ivr import Flow

if TYPE_CHECKING:
    from callcontrol.settings import Settings


@dataclass
class FlowTestRun:
    """Everything `flows test` found: case results per test file, problems, and flows nobody tests."""

    results: list[tuple[FlowTestFile, Flow, list[CaseResult]]] = field(default_factory=list)
    problems: list[LocatedProblem] = field(default_factory=list)
    untested: list[Flow] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(result.passed for _, _, results in self.results for result in results)

    @property
    def failed(self) -> int:
        return sum(not result.passed for _, _, results in self.results for result in results)

    @property
    def errors(self) -> int:
        return sum(problem.severity == "error" for problem in self.problems)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.errors == 0


def _display(path: Path) -> Path:
    """A path relative to the working directory when it is below it, for shorter messages."""
    try:
        return Path(os.path.relpath(path)) if path.resolve().is_relative_to(Path.cwd()) else path
    except ValueError:
        return path


def _is_test_file(path: Path) -> bool:
    return path.name.endswith(FLOW_TESTS_SUFFIXES)


def _siblings(path: Path, stem: str, suffixes: Iterable[str]) -> list[Path]:
    return [sibling for suffix in suffixes if (sibling := path.with_name(stem + suffix)).is_file()]


def _resolve(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Flow files and test files to use: a directory gives all of both, a file brings its sibling."""
    flows: list[Path] = []
    tests: list[Path] = []
    for path in map(_display, paths):
        if path.is_dir():
            flows.extend(flow_files([path]))
            tests.extend(sorted(p for p in path.iterdir() if _is_test_file(p) and p.is_file()))
        elif _is_test_file(path):
            tests.append(path)
            stem = path.name[: -len(next(s for s in FLOW_TESTS_SUFFIXES if path.name.endswith(s)))]
            flows.extend(_siblings(path, stem, (".yaml", ".yml")))
        else:
            flows.append(path)
            tests.extend(_siblings(path, path.stem, FLOW_TESTS_SUFFIXES))
    return list(dict.fromkeys(flows)), list(dict.fromkeys(tests))


def run_flow_tests(paths: Iterable[Path]) -> FlowTestRun:
    """Load the flows and their cases (a flow file's `tests:`, then test files), run every case, collect problems."""
    flow_paths, test_paths = _resolve(paths)
    flows, flow_problems = load_flows(flow_paths)
    run = FlowTestRun(problems=[p for p in flow_problems if p.severity == "error"])
    by_id = {flow.id: flow for flow in flows}
    library = {**load_flow_library(flow_paths), **by_id}  # what subflow and goto nodes reach
    loaded: list[tuple[FlowTestFile | None, list[LocatedProblem]]] = []
    for flow in flows:
        text = _read(Path(flow.source), run.problems)
        if text is not None:
            loaded.append(load_in_file_tests(text, flow.source, flow))
    for test_path in test_paths:
        text = _read(test_path, run.problems)
        if text is not None:
            loaded.append(load_flow_test_text(text, str(test_path), by_id))
    tested: set[str] = set()
    for suite, problems in loaded:
        run.problems.extend(problems)
        if suite is None:
            continue
        flow = by_id[suite.flow_id]
        tested.add(flow.id)
        run.results.append((suite, flow, [flow_tests.run_case(flow, case, library=library) for case in suite.cases]))
    run.untested = [flow for flow in flows if flow.id not in tested]
    return run


def _read(path: Path, problems: list[LocatedProblem]) -> bytes | None:
    """The file's bytes, or None after adding why it cannot be read to problems."""
    try:
        return path.read_bytes()
    except OSError as exc:
        problems.append(LocatedProblem(str(path), 1, 1, f"cannot read: {exc.strerror}"))
        return None


def flow_tests_command(settings: Settings, paths: list[Path]) -> int:
    """`callcontrol flows test [PATH...]`: run the flows' test cases and print PASS/FAIL per case."""
    run = run_flow_tests(paths or [settings.flows_dir])
    for problem in run.problems:
        print(problem)
    for suite, flow, results in run.results:
        print(f"{suite.file} (flow {flow.id})" if suite.file == flow.source else
              f"{suite.file} (flow {flow.id}, {flow.source})")
        for result in results:
            for line in result.report():
                print(f"  {line}")
    for flow in run.untested:
        print(f"no tests: flow {flow.id} ({flow.source})")
    summary = f"{run.passed} passed, {run.failed} failed"
    if run.errors:
        summary += f", {run.errors} problem(s) in flow or test files"
    print(summary)
    return 0 if run.ok else 1
