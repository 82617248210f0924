"""What the ACD benchmarks share: the sandbox Asterisk and the service on one flow and one ACD configuration."""

from __future__ import annotations

import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcontrol.devtools.sandbox import AsteriskSandbox  # noqa: E402
from callcontrol.settings import REPO_ROOT  # noqa: E402
from tests.support.service_process import ServiceProcess  # noqa: E402

API_TOKEN = "benchmark-token-0123456789"


def queue_flow(max_wait_s: int) -> str:
    """The benchmarks' flow on 5002: straight into the ACD queue `bench`, hang up after."""
    return f"""\
id: bench
numbers: ["5002"]
allow: {{queues: [bench]}}
start: wait
nodes:
  wait: {{type: queue, queue: bench, max_wait_s: {max_wait_s}, answered: bye, timeout: bye, no_agents: bye}}
  bye: {{type: hangup}}
"""


@dataclass
class AcdBench:
    sandbox: AsteriskSandbox
    service: ServiceProcess
    secret: str
    database_url: str
    workdir: Path  # holds the flow, the ACD file and the database; free for the benchmark's own files

    async def stop(self) -> None:
        await self.service.stop()
        self.sandbox.stop()


async def start_acd_bench(flow_yaml: str, acd_yaml: str, name: str,
                          extra_env: dict[str, str] | None = None) -> AcdBench:
    """Build and start the sandbox, then the service (SQLite in a fresh directory) with this flow as its only
    flow and this ACD configuration imported; the API takes API_TOKEN; extra_env: more CALLCONTROL_* settings."""
    secret = secrets.token_urlsafe(24)
    sandbox = AsteriskSandbox(REPO_ROOT / "dialplan", ami_secret=secret)
    sandbox.build()
    sandbox.start()
    workdir = Path(tempfile.mkdtemp(prefix=f"callcontrol-{name}-"))
    (workdir / "flows").mkdir()
    (workdir / "flows" / "bench.yaml").write_text(flow_yaml)
    (workdir / "acd.yaml").write_text(acd_yaml)
    url = f"sqlite+aiosqlite:///{workdir / 'calls.sqlite3'}"
    service = ServiceProcess(url, secret, extra_env={"CALLCONTROL_FLOWS_DIR": str(workdir / "flows"),
                                                     "CALLCONTROL_API_TOKEN": API_TOKEN, **(extra_env or {})})
    try:
        await service.start(acd_config=workdir / "acd.yaml")
    except BaseException:
        sandbox.stop()
        raise
    return AcdBench(sandbox, service, secret, url, workdir)
