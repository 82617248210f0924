"""IVR engine speed: time per step and steps per second walking a generated 200-node flow (pure, no I/O).

The flow chains 200 nodes of every kind the engine resolves (play, menu, input, set, branch, hours, say);
a scripted caller walks it end to end many times. Prints the figures; asserts nothing.

    .venv/bin/python benchmarks/ivr_engine.py [--walks 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import callcontrol.core.ivr as ivr  # noqa: E402
from callcontrol.adapters.flow_files import load_flow_text  # noqa: E402

KINDS = ("play", "menu", "input", "set", "branch", "hours", "say")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def generated_flow(size: int = 200) -> str:
    lines = ['id: bench', 'numbers: ["9000"]', 'start: n0', 'schedules:',
             '  always: {weekly: {mon: ["00:00-24:00"], tue: ["00:00-24:00"], wed: ["00:00-24:00"],'
             ' thu: ["00:00-24:00"], fri: ["00:00-24:00"], sat: ["00:00-24:00"], sun: ["00:00-24:00"]}}',
             'nodes:']
    for i in range(size - 1):
        nxt = f"n{i + 1}"
        kind = KINDS[i % len(KINDS)]
        node = {
            "play": f"{{type: play, prompts: [hello-world], next: {nxt}}}",
            "menu": f"{{type: menu, prompts: [vm-press], options: {{'1': {nxt}}}, timeout_s: 3, max_attempts: 2,"
                    f" exhausted: {nxt}}}",
            "input": f"{{type: input, prompts: [beep], variable: v{i}, max_digits: 4, next: {nxt}, exhausted: {nxt}}}",
            "set": f"{{type: set, assign: {{c{i}: 'caller.number + \"x\"'}}, next: {nxt}}}",
            "branch": f"{{type: branch, cases: [{{when: 'caller.number starts_with \"+1\" and time.hour >= 9',"
                      f" goto: {nxt}}}], default: {nxt}}}",
            "hours": f"{{type: hours, schedule: always, open: {nxt}, closed: {nxt}}}",
            "say": f"{{type: say, number: '42', next: {nxt}}}",
        }[kind]
        lines.append(f"  n{i}: {node}")
    lines.append(f"  n{size - 1}: {{type: hangup}}")
    return "\n".join(lines) + "\n"


def walk(flow: ivr.Flow) -> int:
    step = ivr.start(flow, NOW, {"caller.number": "+15550001", "caller.name": "", "call.dialed": "9000"})
    outcomes = {ivr.CollectDigit: ivr.DigitPressed("1"), ivr.CollectDigits: ivr.DigitsEntered("1234")}
    while step.effect is not None:
        step = ivr.advance(flow, step.state, outcomes.get(type(step.effect), ivr.Done()), NOW)
    return len(step.state.path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walks", type=int, default=200)
    args = parser.parse_args()
    text = generated_flow().encode()
    started = time.perf_counter()
    flow, problems = load_flow_text(text, "bench.yaml")
    load_ms = (time.perf_counter() - started) * 1000
    assert flow is not None, problems
    steps = walk(flow)
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(args.walks):
            walk(flow)
        rounds.append((time.perf_counter() - started) / (args.walks * steps))
    best = min(rounds)
    print(f"flow: {len(flow.nodes)} nodes, {steps} path steps per walk; loaded and validated in {load_ms:.1f} ms")
    print(f"engine: {best * 1e6:.1f} us per step (best of 5 x {args.walks} walks; median "
          f"{statistics.median(rounds) * 1e6:.1f} us), {1 / best:,.0f} steps/s on one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
