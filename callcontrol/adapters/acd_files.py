"""Reads and writes the ACD configuration YAML (agents and queues), placing every problem at file:line:col."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from callcontrol.adapters.flow_files import LocatedProblem, read_plain_yaml
from callcontrol.core.acd.model import Agent, Queue
from callcontrol.core.acd.schema import AcdConfig, agent_to_data, build_acd_config, queue_to_data


# ---------------------------------------------------------------- writing


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping written on one line ({a: 1, b: 2})."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # list items indented under their key


_Dumper.add_representer(_Flow, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data.items(), flow_style=True))


def dump_acd_yaml(agents: Iterable[Agent], queues: Iterable[Queue]) -> str:
    """The configuration file text: one line per agent, one block per queue with one line per escalation rule."""
    out = {"agents": [_Flow(agent_to_data(agent)) for agent in sorted(agents, key=lambda a: a.id)],
           "queues": [{**queue, "escalations": [_Flow(rule) for rule in queue["escalations"]]}
                      for queue in (queue_to_data(q) for q in sorted(queues, key=lambda q: q.id))]}
    header = "# ACD configuration: `callcontrol acd import` this file; PINs are set with `callcontrol acd pin`.\n"
    return header + yaml.dump(out, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)


# ---------------------------------------------------------------- reading


def load_acd_text(text: bytes, file: str, known_queues: Iterable[str] = ()) -> tuple[AcdConfig | None,
                                                                                    list[LocatedProblem]]:
    """Parse and validate one configuration document; None and every problem found when any is an error.

    `known_queues`: queue ids outside this file an overflow may name (those already in the database when
    importing without --replace).
    """
    data, locate, read_problems = read_plain_yaml(text, file, "ACD configuration")
    if data is None or any(p.severity == "error" for p in read_problems):
        return None, read_problems
    config, problems = build_acd_config(data, known_queues)
    located = read_problems + sorted((locate(problem) for problem in problems), key=lambda p: (p.line, p.column))
    return (None if any(p.severity == "error" for p in located) else config), located


def load_acd_file(path: Path, known_queues: Iterable[str] = ()) -> tuple[AcdConfig | None, list[LocatedProblem]]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        return None, [LocatedProblem(str(path), 1, 1, f"cannot read: {exc.strerror}")]
    return load_acd_text(text, str(path), known_queues)
