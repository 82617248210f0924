"""The `callcontrol acd` commands: import, export, pin (the database) and explain (the running service's API)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from callcontrol.settings import Settings

if TYPE_CHECKING:
    from callcontrol.adapters.db.acd_store import SqlAcdStore


def acd_command(settings: Settings, args: argparse.Namespace) -> int:
    """acd import / export / pin: 0 done, 1 invalid file (or refused by the database), 2 bad PIN or usage."""
    from callcontrol.adapters.db import schema
    from callcontrol.adapters.db.acd_store import SqlAcdStore
    from callcontrol.adapters.db.read_command import NotReadable, open_for_reading
    from callcontrol.adapters.db.store import make_engine
    from callcontrol.core.identifiers import AGENT_PIN

    if args.acd_command == "explain":
        return _acd_explain(settings, args.queue, args.call, args.skills)
    pin = ""
    if args.acd_command == "pin":
        pin = _read_pin()
        if not AGENT_PIN.match(pin):
            print("callcontrol acd pin: a PIN is 4 to 12 digits, read from standard input", file=sys.stderr)
            return 2

    async def run() -> int:
        if args.acd_command == "export":  # a read: the demo's database when nothing is set, never created
            engine, note = await open_for_reading(settings)
            if note:
                print(note, file=sys.stderr)
            try:
                return await _acd_export(SqlAcdStore(engine), args.output)
            finally:
                await engine.dispose()
        engine = make_engine(settings.database_url)
        try:
            found = await schema.schema_status(engine, settings.migrations_dir)
            if not found.is_current:
                print(f"callcontrol acd: {found.describe()}", file=sys.stderr)
                return 1
            store = SqlAcdStore(engine)
            if args.acd_command == "import":
                return await _acd_import(store, args.file, args.replace, settings.database_url_for_display())
            return await _acd_pin(store, args.agent, pin)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except NotReadable as exc:
        print(f"callcontrol acd: {exc}", file=sys.stderr)
        return 1


def _acd_explain(settings: Settings, queue: str, call: str | None, skills: str | None) -> int:
    """GET /api/queues/{queue}/explain of the running service (with the API token); prints the agents in order with
    the reasons."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode({k: v for k, v in (("call", call), ("skills", skills)) if v})
    url = (f"http://{settings.http_host}:{settings.http_port}/api/queues/{urllib.parse.quote(queue, safe='')}"
           f"/explain" + (f"?{query}" if query else ""))
    headers = {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"} if settings.api_token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),  # noqa: S310 (our own service)
                                    timeout=10) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        print(f"callcontrol acd explain: {exc.code}: {exc.read().decode(errors='replace')[:300]}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"callcontrol acd explain: the service does not answer at {url}: {exc}", file=sys.stderr)
        return 1
    print(f"queue {answer['queue']}, call {answer['call']}, waited {answer['waited_s']} s; "
          f"needs: {answer['requirement']}")
    for verdict in answer["agents"]:
        rank = f"{verdict['rank']:>3}" if verdict["rank"] is not None else "  -"
        print(f"{rank}  {verdict['agent']:<20} {verdict['reason']}")
    return 0


def _read_pin() -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("PIN: ")
    return sys.stdin.readline().rstrip("\r\n")


async def _acd_import(store: SqlAcdStore, path: Path, replace: bool, where: str) -> int:
    from callcontrol.adapters.acd_files import load_acd_file
    from callcontrol.adapters.queues_conf import read_queues_conf
    from callcontrol.core.acd.model import InvalidConfig

    if path.name.endswith(".conf"):
        try:
            imported = read_queues_conf(path)
        except ValueError as exc:
            print(exc)
            return 1
        for warning in imported.warnings:
            print(f"warning: {warning}")
        agents, queues = imported.agents, imported.queues
    else:
        config, problems = load_acd_file(path, known_queues=() if replace else await store.queue_ids())
        for problem in problems:
            print(problem)
        if config is None:
            errors = sum(1 for p in problems if p.severity == "error")
            print(f"{path}: {errors} error(s), nothing imported")
            return 1
        agents, queues = config.agents, config.queues
    try:
        await store.save_config(agents, queues, replace=replace)
    except InvalidConfig as exc:
        print(f"{path}: {exc}; nothing imported")
        return 1
    mode = " (replacing the previous agents and queues)" if replace else ""
    print(f"imported {len(agents)} agent(s) and {len(queues)} queue(s) into {where}{mode}")
    return 0


async def _acd_export(store: SqlAcdStore, output: Path | None) -> int:
    from callcontrol.adapters.acd_files import dump_acd_yaml

    agents, queues = await store.load_config()
    text = dump_acd_yaml(agents, queues)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {len(agents)} agent(s) and {len(queues)} queue(s) to {output}", file=sys.stderr)
    return 0


async def _acd_pin(store: SqlAcdStore, agent_id: str, pin: str) -> int:
    from callcontrol.core.acd.errors import UnknownAgent

    try:
        await store.set_agent_pin(agent_id, pin)
    except UnknownAgent:
        print(f"callcontrol acd pin: no agent '{agent_id}' (import the configuration first)", file=sys.stderr)
        return 1
    print(f"PIN of agent {agent_id} set")
    return 0
