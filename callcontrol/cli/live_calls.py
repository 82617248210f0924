"""`callcontrol calls live`: the calls in progress, as the running service's GET /api/calls shows them."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from callcontrol.settings import Settings


def add_live_parser(calls: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    live = calls.add_parser("live", help="print the calls in progress (asks the running service, with the API token)")
    live.add_argument("--state", help="ivr, waiting, ringing, talking, on_hold or wrap_up")
    live.add_argument("--queue")
    live.add_argument("--team")
    live.add_argument("--json", action="store_true", help="one JSON object per call")


def calls_live(settings: Settings, args: argparse.Namespace) -> int:
    """0 printed; 1 the service refused (its JSON error printed) or does not answer."""
    query = urllib.parse.urlencode({key: value for key in ("state", "queue", "team")
                                    if (value := getattr(args, key)) is not None})
    url = f"http://{settings.http_host}:{settings.http_port}/api/calls" + (f"?{query}" if query else "")
    headers = {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"} if settings.api_token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),  # noqa: S310 (our own service)
                                    timeout=10) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        print(f"callcontrol calls live: {exc.code}: {exc.read().decode(errors='replace')[:300]}", file=sys.stderr)
        if exc.code == 401 and settings.api_token is None:
            print("callcontrol calls live: set CALLCONTROL_API_TOKEN to the service's API token (scripts/demo's: "
                  "CALLCONTROL_API_TOKEN=$(cat var/demo/api-token))", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"callcontrol calls live: the service does not answer at {url}: {exc}", file=sys.stderr)
        return 1
    for call in answer["calls"]:
        if args.json:
            print(json.dumps(call))
            continue
        print(f"{call['call_id']:<24} {call['caller_number']:>14} -> {call['dnis']:<6} {call['state']:<8} "
              f"{call['state_s']:>7.1f}s of {call['total_s']:>7.1f}s  queue={call['queue'] or '-'} "
              f"agent={call['agent'] or '-'} recording={call['recording']}"
              + (f" supervisors={','.join(call['supervisors'])}" if call["supervisors"] else ""))
    if not args.json:
        print(f"{len(answer['calls'])} call(s) in progress at {answer['at'][:19]}")
    return 0
