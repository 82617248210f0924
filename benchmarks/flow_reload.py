"""Flow reload cost: reading and applying a flows directory of 100 files (about 20 nodes each).

Generates the files in a temporary directory and prints, best of N runs:
  load_flows            the loader alone on the whole directory (every file parsed and validated)
  cold reload           FlowDirReader.read + FlowCatalog.apply with nothing cached (what the service does at start)
  one file edited       read + apply after one file changed (1 file parsed, the others only read and hashed)
  rescan, no change     read + apply with nothing changed (the periodic rescan)
  catalog.apply alone   deciding what goes live and swapping the table
and the latency of the running watcher (watchfiles events, debounce, reload in a thread) from an edit to the
new version answering for new calls.

    .venv/bin/python benchmarks/flow_reload.py [--files 100] [--nodes 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcontrol.adapters.flow_files import load_flows  # noqa: E402
from callcontrol.adapters.flow_watch import FlowDirReader, FlowWatcher  # noqa: E402
from callcontrol.services.flow_catalog import FlowCatalog  # noqa: E402

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def flow_text(index: int, nodes: int, greeting: str = "hello-world") -> str:
    """A valid flow of `nodes` nodes: alternating plays and menus in a chain, all reachable, ending in a hangup."""
    lines = [f"id: flow{index:03d}", f'numbers: ["{6000 + index}"]', "start: n00", "nodes:"]
    chain = [f"n{n:02d}" for n in range(nodes - 1)] + ["bye"]
    for n, (node, nxt) in enumerate(zip(chain, chain[1:])):
        if n % 2:
            lines += [f"  {node}:", "    type: menu", "    prompts: [vm-enter-num-to-call]",
                      "    options:", f'      "1": {nxt}', '      "2": bye', "    timeout_s: 3",
                      "    max_attempts: 2", "    no_input_prompts: [vm-sorry]",
                      "    invalid_prompts: [pm-invalid-option]", "    exhausted: bye"]
        else:
            prompt = greeting if n == 0 else "queue-thankyou"
            lines += [f"  {node}:", "    type: play", f"    prompts: [{prompt}]", f"    next: {nxt}"]
    lines += ["  bye:", "    type: hangup", "    prompts: [vm-goodbye]"]
    return "\n".join(lines) + "\n"


def best_ms(runs: int, setup: Callable[[], object], timed: Callable[[object], object]) -> float:
    times = []
    for _ in range(runs):
        arg = setup()
        start = time.perf_counter()
        timed(arg)
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


async def watcher_latency(flows_dir: Path, files: int, nodes: int, runs: int) -> list[float]:
    catalog = FlowCatalog()
    watcher = FlowWatcher(flows_dir, catalog, debounce_ms=300)
    watcher.reload_now()
    task = asyncio.create_task(watcher.run())
    await asyncio.sleep(6)  # the watch answers once (rescan) before the first edit: it is surely in place
    latencies = []
    try:
        for run in range(runs):
            text = flow_text(0, nodes, greeting=f"digits/{run % 10}")
            version = hashlib.sha256(text.encode()).hexdigest()[:12]
            start = time.perf_counter()
            (flows_dir / "flow000.yaml").write_text(text)
            while (flow := catalog.for_number("6000")) is None or flow.version != version:
                await asyncio.sleep(0.002)
                if time.perf_counter() - start > 10:
                    raise SystemExit("the watcher did not pick the edit up within 10 s")
            latencies.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.5)
    finally:
        watcher.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    with tempfile.TemporaryDirectory(prefix="flow-reload-") as tmp:
        flows_dir = Path(tmp)
        for index in range(args.files):
            (flows_dir / f"flow{index:03d}.yaml").write_text(flow_text(index, args.nodes))
        flows, problems = load_flows([flows_dir])
        assert len(flows) == args.files and not problems, problems[:3]
        size = sum(p.stat().st_size for p in flows_dir.iterdir())
        print(f"{args.files} flow files, {args.nodes} nodes each, {size / 1024:.0f} KiB; best of {args.runs} runs")

        def report(name: str, ms: float) -> None:
            print(f"  {name:<22} {ms:8.1f} ms total  {ms / args.files:6.3f} ms per file")

        report("load_flows", best_ms(args.runs, lambda: None, lambda _: load_flows([flows_dir])))

        def cold(_: object) -> None:
            FlowCatalog().apply(FlowDirReader(flows_dir).read(), NOW)

        report("cold reload", best_ms(args.runs, lambda: None, cold))

        reader, catalog = FlowDirReader(flows_dir), FlowCatalog()
        catalog.apply(reader.read(), NOW)
        edits = iter(range(10**6))

        def edit_one() -> None:
            (flows_dir / "flow050.yaml").write_text(flow_text(50, args.nodes, greeting=f"digits/{next(edits) % 10}"))

        report("one file edited", best_ms(args.runs, edit_one, lambda _: catalog.apply(reader.read(), NOW)))
        report("rescan, no change", best_ms(args.runs, lambda: None, lambda _: catalog.apply(reader.read(), NOW)))
        files = reader.read()
        report("catalog.apply alone", best_ms(args.runs, lambda: None, lambda _: FlowCatalog().apply(files, NOW)))

        latencies = asyncio.run(watcher_latency(flows_dir, args.files, args.nodes, args.runs))
        print(f"  edit -> live (watcher, debounce 300 ms): best {min(latencies):.0f} ms, "
              f"median {statistics.median(latencies):.0f} ms, worst {max(latencies):.0f} ms")


if __name__ == "__main__":
    main()
