"""Path-aware document checking: the problems of a YAML document, and the flow checker's typed readers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from callcontrol.core.expressions import Expression, ExpressionError, parse
from callcontrol.core.identifiers import IDENTIFIER, is_sound_name
from callcontrol.core.ivr.model import Allow, Problem, Schedule

DocumentPath = tuple[Union[str, int], ...]


class DocumentChecker:
    """Collects every problem of a YAML document (flows, flow tests), each located by its path."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, path: DocumentPath, message: str) -> None:
        self.problems.append(Problem(path, message))

    def warning(self, path: DocumentPath, message: str) -> None:
        self.problems.append(Problem(path, message, "warning"))

    def keys(self, mapping: Mapping[str, Any], spec: Mapping[str, bool], path: DocumentPath) -> bool:
        """Unknown keys and missing required ones are errors; True when there was none."""
        before = len(self.problems)
        for key in mapping:
            if key not in spec:
                self.error((*path, key), f"unknown key '{key}' (allowed: {', '.join(sorted(spec))})")
        for key, required in spec.items():
            if required and key not in mapping:
                self.error(path, f"missing required key '{key}'")
        return len(self.problems) == before


class FlowChecker(DocumentChecker):
    """The flow checker: reads prompts, exits, numbers, variables and expressions; remembers every exit, for the
    graph pass."""

    def __init__(self) -> None:
        super().__init__()
        self.exits: list[tuple[DocumentPath, str]] = []

    def prompts(self, value: Any, path: DocumentPath) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.error(path, "must be a list of sound names")
            return ()
        for index, item in enumerate(value):
            if not is_sound_name(item):
                self.error((*path, index), f"'{item}' is not a sound name (letters, digits, _ - and / only)")
        return tuple(str(item) for item in value)

    def exit(self, raw: Mapping[str, Any], key: str, path: DocumentPath, required: bool = True) -> str:
        """A node reference; remembered so the graph pass can check it exists."""
        value = raw.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value:
            if key in raw or required:
                self.error((*path, key), "must name a node")
            return ""
        self.exits.append(((*path, key), value))
        return value

    def number(self, raw: Mapping[str, Any], key: str, path: DocumentPath, low: float, high: float, default: float,
               whole: bool = False) -> float:
        value = raw.get(key, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
        if ok and whole and not isinstance(value, int):
            ok = False
        if not ok:
            kind = "a whole number" if whole else "a number"
            self.error((*path, key), f"must be {kind} between {low:g} and {high:g}")
            return default
        return value

    def mapping(self, raw: Mapping[str, Any], key: str, path: DocumentPath, message: str, *,
                non_empty: bool = False) -> Mapping[Any, Any]:
        """raw[key] (absent: empty) when it is a mapping, and not empty if non_empty; else the error and {}."""
        value = raw.get(key, {})
        if not isinstance(value, Mapping) or (non_empty and not value):
            self.error((*path, key), message)
            return {}
        return value

    def variable(self, raw: Mapping[str, Any], key: str, path: DocumentPath) -> str:
        value = raw.get(key)
        if not (isinstance(value, str) and IDENTIFIER.match(value)):
            self.error((*path, key), "must be a variable name (lowercase letters, digits, _ and -)")
            return "invalid"
        return value

    def expression(self, value: Any, path: DocumentPath) -> Expression | None:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.error(path, "must be an expression (text)")
            return None
        try:
            return parse(str(value) if not isinstance(value, str) else value)
        except ExpressionError as exc:
            self.error(path, f"expression: {exc}")
            return None


@dataclass(frozen=True)
class FlowContext:
    """What a node's validation may look up in the rest of its flow document."""

    languages: tuple[str, ...]
    allow: Allow
    schedules: Mapping[str, Schedule]
