"""A projection rebuild (``readmodels.db`` deleted) on a worker process of ``mcburger run``:
the same read models as one rebuilt in process, and a worker that never outlives its parent
nor leaves a projection behind when it fails."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcburger import restaurant as restaurant_module
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.entrypoints.rebuild import ParentGone, rebuild
from tests.e2e.helpers import wait_until
from tests.e2e.processes import CLEAN_EXIT, Launcher
from tests.support.servers import STAFF

pytestmark = pytest.mark.e2e

ORDERS, SEED = 800, 1  # 11,040 events: past REBUILD_EVENTS (10,000), so a rebuild
EVENTS = 11_040
REBUILT = ("views", "views-kitchen", "analytics")
WAIT = 60.0


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("rebuild") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCBURGER_")}
    done = subprocess.run([sys.executable, "-m", "mcburger", "simulate", "--orders", str(ORDERS),
                           "--seed", str(SEED), "--into", str(data_dir)], capture_output=True,
                          text=True, timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert f"as {EVENTS:,} events" in done.stdout, done.stdout
    return data_dir


def without_read_models(written: Path, target: Path) -> Path:
    shutil.copytree(written, target)
    (target / "readmodels.db").unlink()
    return target


def documents(data_dir: Path) -> dict[tuple[str, str], Any]:
    with sqlite3.connect(data_dir / "readmodels.db") as db:
        return {(collection, key): json.loads(body) for collection, key, body in db.execute(
            "SELECT collection, key, body FROM documents")}


async def caught_up(url: str) -> None:
    async with httpx.AsyncClient(headers=STAFF, base_url=url, timeout=10.0) as client:
        async def lag_zero() -> bool:
            lag = (await client.get("/healthz")).json()["consumer_lag"]
            return all(lag.get(name) == 0 for name in REBUILT)
        await wait_until(lag_zero, WAIT, "the projections are rebuilt")


async def test_a_worker_process_rebuilds_the_same_read_models_as_the_process_itself(
        launch: Launcher, written: Path, tmp_path: Path) -> None:
    rebuilt: dict[str, dict[tuple[str, str], Any]] = {}
    logs: dict[str, str] = {}
    for workers in ("0", "1"):
        data_dir = without_read_models(written, tmp_path / f"workers-{workers}")
        server = launch(data_dir=data_dir, env={"MCBURGER_REBUILD_PROCESSES": workers},
                        name=f"workers-{workers}")
        await caught_up(server.url)
        assert server.stop() in CLEAN_EXIT
        rebuilt[workers] = documents(data_dir)
        logs[workers] = server.log_path.read_text()

    assert "analytics: rebuilding in a worker process" in logs["1"]
    assert "[rebuild] mcburger.application.feeds.log: analytics: caught up" in logs["1"]
    # the worker's last batch carried analytics' snapshot: the server learned nothing again
    assert "analytics: learned" not in logs["1"]
    assert "worker process" not in logs["0"]
    assert "Traceback" not in logs["0"] + logs["1"]
    # what simulate --into wrote, and both rebuilds, document by document; but analytics'
    # snapshot of its memory, which the worker puts with its last batch, at the head
    snapshot = ("analytics_snapshot", "analytics")
    with sqlite3.connect(tmp_path / "workers-1" / "readmodels.db") as db:
        assert db.execute("SELECT position FROM documents WHERE collection = ? AND key = ?",
                          snapshot).fetchone() == (EVENTS,)
    for found in rebuilt.values():
        del found[snapshot]
    expected = documents(written)
    del expected[snapshot]
    assert rebuilt["1"] == rebuilt["0"] == expected


async def test_a_worker_whose_parent_has_ended_stops_before_it_writes(
        written: Path, tmp_path: Path) -> None:
    data_dir = without_read_models(written, tmp_path / "orphan")
    settings = Settings(data_dir=data_dir)

    with pytest.raises(ParentGone):
        await rebuild(settings, "analytics", parent=os.getppid() + 1)  # not its parent

    assert documents(data_dir) == {}


async def test_a_failed_worker_leaves_the_projection_to_catch_up_in_process(
        written: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    data_dir = without_read_models(written, tmp_path / "failing")
    monkeypatch.setattr(sys, "executable", shutil.which("false"))  # a worker that exits 1
    restaurant = await bootstrap(Settings(data_dir=data_dir, rebuild_processes=1),
                                 roles=frozenset({"board", "analytics"}))
    assert restaurant.rebuild_processes == 1
    with caplog.at_level(logging.INFO, logger=restaurant_module.log.name):
        await restaurant.start()
        try:
            async def lag_zero() -> bool:
                return all(lag == 0 for lag in (await restaurant.health.lag()).values())
            await wait_until(lag_zero, WAIT, "the projections are rebuilt")
            summary = await restaurant.queries.analytics_summary()
        finally:
            await restaurant.stop()

    messages = [record.getMessage() for record in caplog.records]
    assert "analytics: rebuilding in a worker process" in messages
    assert "analytics: the rebuild worker ended with status 1; catching up here" in messages
    assert summary["orders_collected"] == ORDERS


def test_injected_stores_are_never_handed_to_a_worker() -> None:
    from mcburger.adapters.eventstore.memory import InMemoryEventStore
    from mcburger.adapters.readmodels.memory import InMemoryReadModelStore

    restaurant = asyncio.run(bootstrap(Settings(rebuild_processes=4),
                                       event_store=InMemoryEventStore(),
                                       read_models=InMemoryReadModelStore()))

    assert restaurant.rebuild_processes == 0
