"""The `callcontrol` command line: serve, db, flows, calls, ami, call, sandbox; acd, users, recordings, audit apart."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from callcontrol.cli.acd import acd_command
from callcontrol.cli.audit import add_audit_parser, audit_command
from callcontrol.cli.live_calls import add_live_parser, calls_live
from callcontrol.cli.users import add_users_parser, users_command
from callcontrol.cli.recordings import add_recordings_parser, recordings_command
from callcontrol.logs import configure_logging
from callcontrol.settings import REPO_ROOT, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from callcontrol.core.interactions import QueueStint

log = structlog.get_logger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcontrol", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the service (AMI client, FastAGI server, HTTP API)")

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply Alembic migrations up to head")
    db.add_parser("status", help="say whether the schema is current")

    flows = commands.add_parser("flows", help="IVR flow files").add_subparsers(dest="flows_command", required=True)
    check = flows.add_parser("check", help="validate flow files; every problem as file:line:col")
    check.add_argument("paths", nargs="*", type=Path)
    graph = flows.add_parser("graph", help="draw a flow (SVG, Graphviz DOT or Mermaid)")
    graph.add_argument("flow", help="a flow file, or the id of a flow in the flows directory")
    graph.add_argument("--format", choices=["svg", "dot", "mermaid"], default="svg")
    graph.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    flow_tests = flows.add_parser("test", help="run the flows' test cases (simulated callers, no Asterisk)")
    flow_tests.add_argument("paths", nargs="*", type=Path)

    calls = commands.add_parser("calls", help="call records").add_subparsers(dest="calls_command", required=True)
    recent = calls.add_parser("recent", help="print the newest call records")
    recent.add_argument("--limit", type=int, default=10)
    recent.add_argument("--json", action="store_true")
    add_live_parser(calls)

    ami = commands.add_parser("ami", help="AMI user").add_subparsers(dest="ami_command", required=True)
    ami_check = ami.add_parser("check", help="check manager.conf gives our AMI user least privilege")
    ami_check.add_argument("manager_conf", type=Path, nargs="?", default=REPO_ROOT / "dialplan" / "manager.conf")

    call = commands.add_parser("call", help="place one SIPp test call through the sandbox Asterisk")
    call.add_argument("--caller", default="15550100", help="caller number (digits)")
    call.add_argument("--number", default="5000",
                      help="number to dial (a DID of dialplan/extensions.conf, or a sandbox number of "
                           "dialplan-sandbox/)")
    call.add_argument("--digit", action="append", default=[], help="a DTMF digit to press (repeatable)")
    call.add_argument("--digit-at-ms", type=int, default=2800, help="when to press the first digit after answer")
    call.add_argument("--hangup-after-ms", type=int, help="hang up after this long instead of waiting")

    sandbox = commands.add_parser("sandbox", help="the sandbox Asterisk 22 (Debian sid chroot; root only)")
    sandbox.add_argument("action", choices=["up", "down", "restart", "status"])

    acd = commands.add_parser("acd", help="ACD agents and queues in the database").add_subparsers(
        dest="acd_command", required=True)
    acd_import = acd.add_parser("import", help="load agents and queues from an ACD YAML file or an app_queue "
                                               "queues.conf (*.conf); problems as file:line:col, exit 1")
    acd_import.add_argument("file", type=Path)
    acd_import.add_argument("--replace", action="store_true",
                            help="delete the agents and queues the file does not define")
    acd_export = acd.add_parser("export", help="write the agents and queues as an ACD YAML file (no PINs)")
    acd_export.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    acd_pin = acd.add_parser("pin", help="set an agent's PIN (4-12 digits) read from standard input")
    acd_pin.add_argument("agent")
    acd_explain = acd.add_parser("explain", help="ask the running service who would get a call of this queue "
                                                 "now, and why each agent would or would not")
    acd_explain.add_argument("queue")
    acd_explain.add_argument("--call", help="a waiting call's id (default: a caller entering now)")
    acd_explain.add_argument("--skills", help="the entering caller's own needs, e.g. spanish:5,billing:3")
    add_users_parser(commands)
    add_recordings_parser(commands)
    add_audit_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"callcontrol: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    handler = {
        "serve": _serve, "db": _db, "flows": _flows, "calls": _calls, "ami": _ami, "sandbox": _sandbox,
        "call": _call, "acd": acd_command, "users": users_command, "recordings": recordings_command,
        "audit": audit_command,
    }[args.command]
    try:
        return handler(settings, args)
    except SettingsError as exc:
        print(f"callcontrol: {exc}", file=sys.stderr)
        return 2


def _serve(settings: Settings, _: argparse.Namespace) -> int:
    from callcontrol.runtime import Service, StartupError

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await Service(settings).run(stop)
        except StartupError as exc:
            log.error("service.cannot_start", problem=str(exc))
            print(f"callcontrol: {exc}", file=sys.stderr)
            return 3
        except OSError as exc:  # a port already taken
            log.error("service.cannot_start", problem=str(exc))
            print(f"callcontrol: cannot listen: {exc}", file=sys.stderr)
            return 3
        return 0

    return asyncio.run(run())


def _db(settings: Settings, args: argparse.Namespace) -> int:
    from callcontrol.adapters.db import schema
    from callcontrol.adapters.db.store import make_engine

    if args.db_command == "upgrade":
        try:
            schema.upgrade(settings.migrations_dir, settings.database_url)
        except Exception as exc:  # noqa: BLE001 - report any failure to the operator in one line
            print(f"callcontrol: db upgrade failed on {settings.database_url_for_display()}: "
                  f"{type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
            return 1
        print(f"database {settings.database_url_for_display()} upgraded to head")
        return 0

    async def status() -> int:
        engine = make_engine(settings.database_url)
        try:
            found = await schema.schema_status(engine, settings.migrations_dir)
        finally:
            await engine.dispose()
        print(found.describe())
        return 0 if found.is_current else 1

    return asyncio.run(status())


def _flows(settings: Settings, args: argparse.Namespace) -> int:
    if args.flows_command == "graph":
        from callcontrol.adapters.flow_graph import graph_command

        return graph_command(settings, args.flow, args.format, args.output)
    if args.flows_command == "test":
        from callcontrol.adapters.flow_test_runs import flow_tests_command

        return flow_tests_command(settings, args.paths)
    from callcontrol.adapters.flow_files import load_flows

    paths = args.paths or [settings.flows_dir]
    flows, problems = load_flows(paths, settings.sounds_dir)
    for problem in problems:
        print(problem)
    errors = sum(1 for p in problems if p.severity == "error")
    print(f"{len(flows)} flow(s) valid, {errors} error(s), {len(problems) - errors} warning(s)")
    return 1 if errors else 0


def _calls(settings: Settings, args: argparse.Namespace) -> int:
    if args.calls_command == "live":
        return calls_live(settings, args)
    from callcontrol.adapters.db.read_command import NotReadable, open_for_reading
    from callcontrol.adapters.db.recording_store import SqlRecordingRegistry
    from callcontrol.adapters.db.store import SqlCallRecordStore

    async def recent() -> tuple[list, dict]:
        engine, note = await open_for_reading(settings)
        if note:
            print(note, file=sys.stderr)
        try:
            found = await SqlCallRecordStore(engine).recent(args.limit)
            return found, await SqlRecordingRegistry(engine).of_calls([record.call_id for record in found])
        finally:
            await engine.dispose()

    try:
        records, recordings = asyncio.run(recent())
    except NotReadable as exc:
        print(f"callcontrol: {exc}", file=sys.stderr)
        return 1
    for record in reversed(records):
        summary = record.summary() | {"started_at": record.started_at.isoformat(), "status": str(record.status)}
        linked = [{"id": r.id, "state": r.state, "duration_s": r.duration_s, "legal_hold": r.legal_hold}
                  for r in recordings.get(record.call_id, [])]  # the call record links its recordings
        if args.json:
            print(json.dumps(summary | _queue_figures(record.queue_stints) | {"recordings": linked}))
        else:
            queues = "".join(f" {s.queue}:{s.outcome}({s.agent or 'no agent'}, waited "
                             f"{s.waited_s or 0:g}s, talk {s.talk_s or 0:g}s)"
                             for s in record.queue_stints)
            print(f"{summary['started_at'][:19]}  {record.caller_number or '-':>12} -> {record.dialed_number:<6} "
                  f"{record.status:<6} {summary['end_reason'] or '-':<16} path={' > '.join(summary['path'])}"
                  f"{queues} cause={record.hangup_cause_text or '-'} ({summary['end_observed_by'] or '-'}) "
                  f"{summary['duration_s'] or '-'}s"
                  + "".join(f" recording={r['id']}({r['state']})" for r in linked))
    return 0


def _queue_figures(stints: list[QueueStint]) -> dict[str, object]:
    """What the ACD did for a call, from its queue stints: the agent it talked with (the last one), each wait,
    the talk time, every offer, and the stints themselves."""
    agents = [s.agent for s in stints if s.agent]
    return {"agent": agents[-1] if agents else None,
            "waits_s": [s.waited_s for s in stints],
            "talk_s": round(sum(s.talk_s or 0 for s in stints), 3) if stints else None,
            "offers": [offer.as_json() for s in stints for offer in s.offers],
            "queue_stints": [s.as_json() for s in stints]}


def _ami(settings: Settings, args: argparse.Namespace) -> int:
    from callcontrol.adapters.asterisk_conf import least_privilege_problems, read_manager_conf

    problems = least_privilege_problems(read_manager_conf(args.manager_conf), settings.ami_username)
    for problem in problems:
        print(f"{args.manager_conf}: {problem}")
    print("AMI user has least privilege" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _call(settings: Settings, args: argparse.Namespace) -> int:
    from callcontrol.devtools.sipp import place_call

    digits = [(args.digit_at_ms if index == 0 else 600, digit) for index, digit in enumerate(args.digit)]
    try:
        run = asyncio.run(place_call(args.caller, args.number, digits, args.hangup_after_ms))
    except (ValueError, FileNotFoundError) as exc:
        print(f"callcontrol call: {exc}", file=sys.stderr)
        return 2
    outcome = "completed" if run.returncode == 0 else f"FAILED (sipp exit {run.returncode})"
    print(f"call from {args.caller} to {args.number} pressing {''.join(args.digit) or 'nothing'}: {outcome}")
    if run.returncode != 0:
        print(run.output, file=sys.stderr)
    return 0 if run.returncode == 0 else 1


def _sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from callcontrol.devtools.sandbox import AsteriskSandbox
    from callcontrol.devtools.sandbox_host import SandboxError

    sandbox = AsteriskSandbox(REPO_ROOT / "dialplan", ami_secret=_secret_or_empty(settings, args.action),
                              agi_address=f"{settings.agi_host}:{settings.agi_port}")
    try:
        if args.action == "up":
            sandbox.build()
            sandbox.start()
        elif args.action == "down":
            sandbox.stop()
        elif args.action == "restart":
            sandbox.restart()
        print(json.dumps(sandbox.status(), default=str))
    except SandboxError as exc:
        print(f"callcontrol sandbox: {exc}", file=sys.stderr)
        return 1
    return 0


def _secret_or_empty(settings: Settings, action: str) -> str:
    return settings.require_ami_secret() if action in ("up", "restart") else ""
