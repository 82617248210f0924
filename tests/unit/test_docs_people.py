"""docs/people.md stays true: its role/permission table is PERMISSIONS, its route table the app's route table."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from pydantic import SecretStr

from callcontrol.adapters.http.app import make_app, route_table
from callcontrol.adapters.http.auth import NoAuditTrail
from callcontrol.core.permissions import PERMISSIONS, Permission, Role
from callcontrol.services.acd_desk import AcdDesk
from callcontrol.services.agent_calls import AgentCallTracker
from callcontrol.services.live_calls import LiveCalls
from callcontrol.services.people import People
from callcontrol.services.supervision import Supervision
from tests.support.clock import T0, SettableClock
from tests.support.paths import REPO
from tests.support.pbx import FakePbx
from tests.support.recording import memory_recordings_api
from tests.support.supervision import RecordedPhones
from tests.support.transfers import transfer_desk

DOC = REPO / "docs" / "people.md"


def permission_table() -> str:
    roles = list(Role)
    lines = ["| permission | " + " | ".join(role.value for role in roles) + " |",
             "|---|" + "---|" * len(roles)]
    for permission in Permission:
        marks = " | ".join("yes" if permission in PERMISSIONS[role] else "-" for role in roles)
        lines.append(f"| `{permission.value}` | {marks} |")
    return "\n".join(lines)


def every_route(app: web.Application) -> str:
    lines = ["| method | path | permission |", "|---|---|---|"]
    for (method, path), permission in sorted(route_table(app).items(), key=lambda item: (item[0][1], item[0][0])):
        lines.append(f"| {method} | `{path}` | `{permission}` |")
    return "\n".join(lines)


class _Store:  # the app is only built, never called: no store is reached
    pass


def full_app(recordings_dir: Path) -> web.Application:
    desk = AcdDesk((), (), FakePbx(), SettableClock(T0))
    people = People(_Store(), SettableClock(T0))  # type: ignore[arg-type]
    return make_app(lambda: [], flows=_Flows(), acd=desk, api_token=SecretStr("x" * 16), acd_store=_Store(),  # type: ignore[arg-type]
                    people=people, audit_reader=_Store(),  # type: ignore[arg-type]
                    recordings=memory_recordings_api(recordings_dir, SettableClock(T0)),
                    live_calls=LiveCalls(SettableClock(T0)),
                    wrapups=_Store(),  # type: ignore[arg-type]
                    transfers=transfer_desk(desk),
                    supervision=Supervision(RecordedPhones(), AgentCallTracker(), NoAuditTrail(), SettableClock(T0),
                                            lambda principal, call: True, lambda user: ()))


class _Flows:
    def files(self) -> list:
        return []


def test_the_permission_table_is_the_code() -> None:
    assert permission_table() in DOC.read_text(), f"docs/people.md needs this table:\n{permission_table()}"


def test_the_route_table_is_the_code(tmp_path: Path) -> None:
    table = every_route(full_app(tmp_path))
    assert table in DOC.read_text(), f"docs/people.md needs this table:\n{table}"
