"""The ACD HTTP API over a real desk and a migrated SQLite store: the fixtures its route and feed tests share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import delete

from callcontrol.adapters.db.acd_store import SqlAcdStore
from callcontrol.adapters.db.models import AcdAgentRow, AcdAgentTransitionRow, AcdQueueRow
from callcontrol.adapters.db.schema import upgrade
from callcontrol.adapters.db.store import make_engine
from callcontrol.adapters.http.app import make_app
from callcontrol.services.acd_desk import AcdDesk
from tests.support.clock import LoopClock
from tests.support.http_api import TOKEN
from tests.support.paths import MIGRATIONS
from tests.support.pbx import FakePbx
from tests.support.queue_desk import AGENTS, SALES


@pytest.fixture(scope="module")
def acd_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file migrated to head with the project's migrations (once per module)."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('acd_api') / 'callcontrol.sqlite3'}"
    upgrade(MIGRATIONS, url)
    return url


@pytest.fixture
async def store(acd_db: str) -> AsyncIterator[SqlAcdStore]:
    """The store, emptied, then holding agents a1 (english 5), a2 (english 9) and the queue sales (english 3)."""
    engine = make_engine(acd_db)
    async with engine.begin() as conn:
        for model in (AcdAgentTransitionRow, AcdAgentRow, AcdQueueRow):
            await conn.execute(delete(model))
    store = SqlAcdStore(engine, pin_iterations=1000)
    await store.save_config(AGENTS, [SALES])
    yield store
    await engine.dispose()


@pytest.fixture
async def desk(store: SqlAcdStore) -> AsyncIterator[AcdDesk]:
    """A desk configured from the store, as the service starts it, with its timer and waker tasks running."""
    pbx = FakePbx()
    desk = AcdDesk((), (), pbx, LoopClock())
    agents, queues = await store.load_config()
    desk.configure(queues, agents)
    desk.pbx = pbx  # type: ignore[attr-defined]  # for tests.support.queue_desk.caller
    runner = asyncio.create_task(desk.run())
    yield desk
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


@pytest.fixture
async def client(desk: AcdDesk, store: SqlAcdStore) -> AsyncIterator[TestClient]:
    app = make_app(lambda: [], acd=desk, api_token=SecretStr(TOKEN), acd_store=store)
    async with TestClient(TestServer(app)) as client:
        yield client
