"""``mcburger simulate --into DIR``: a simulated day written into an empty data directory,
which ``mcburger run --data-dir DIR`` then opens as that restaurant's history."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mcburger.adapters.datadir import DataDirectoryLock
from mcburger.adapters.eventstore.sqlite import SQLiteEventStore
from mcburger.adapters.readmodels.sqlite import SQLiteReadModelStore
from mcburger.domain.events import KITCHEN, ORDERING, OrderCollected, category_of, stream_name
from tests.e2e.helpers import STOCK_TARGET, place, read_log, statuses, wait_all_ready
from tests.e2e.processes import CLEAN_EXIT, Launcher
from tests.support.invariants import check_log, check_quiet
from tests.support.servers import STAFF
from tests.unit.builders import default_menu

pytestmark = pytest.mark.e2e

ORDERS, SEED = 200, 3
TIMEOUT = 120  # seconds for one simulate process; 200 orders take a few
WAIT = 60.0  # for a new order at --speed 100 on a loaded machine


def simulate(*options: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCBURGER_")}
    return subprocess.run([sys.executable, "-m", "mcburger", "simulate", "--orders",
                           str(ORDERS), "--seed", str(SEED), *options], capture_output=True,
                          text=True, timeout=TIMEOUT, check=False, env=env)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The day, written once for the module; tests that run a server on it use a copy."""
    data_dir = tmp_path_factory.mktemp("simulated") / "data"
    done = simulate("--into", str(data_dir))
    assert done.returncode == 0, done.stderr
    assert f"Wrote {ORDERS} orders" in done.stdout, done.stdout
    return data_dir


@pytest.fixture
def copy(written: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(written, tmp_path / "data"))


async def test_the_log_is_a_quiet_day_with_every_order_collected_once(written: Path) -> None:
    log = await read_log(written / "events.db")
    check_quiet(log, STOCK_TARGET, [item.id for item in default_menu().favorites])
    collected = sorted(e.number for e in log if isinstance(e, OrderCollected))
    assert collected == list(range(1, ORDERS + 1))


async def test_tracking_snapshots_and_checkpoints_are_where_the_services_leave_them(
        written: Path) -> None:
    events = await SQLiteEventStore.open(written / "events.db")
    read_models = await SQLiteReadModelStore.open(written / "readmodels.db")
    try:
        log = await events.read_all(0, 10**7)
        last = {category: max(r.position for r in log if category_of(r.stream) == category)
                for category in (ORDERING, KITCHEN)}
        # each service has handled every event of the other
        assert await events.tracked_position(ORDERING) == last[KITCHEN]
        assert await events.tracked_position(KITCHEN) == last[ORDERING]
        for category in (ORDERING, KITCHEN):
            stream = stream_name(category, "main")
            snapshot = await events.load_snapshot(stream)
            assert snapshot is not None, f"{stream}: no snapshot"
            assert snapshot.version == len(await events.read_stream(stream))
            assert snapshot.position == await events.tracked_position(category)
        assert {name: await read_models.checkpoint(name)
                for name in ("views", "views-kitchen", "analytics")} == {
            "views": last[ORDERING], "views-kitchen": last[KITCHEN],
            "analytics": max(last.values())}
    finally:
        await events.close()
        await read_models.close()


async def test_mcburger_run_opens_the_restaurant_the_day_left(
        launch: Launcher, copy: Path, tmp_path: Path) -> None:
    report = simulate("--out", str(tmp_path / "report"))  # the same day, measured
    assert report.returncode == 0, report.stderr
    day = json.loads((tmp_path / "report" / "report.json").read_text())["figures"]

    server = launch("--speed", "100", data_dir=copy, name="resumed")
    async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:
        assert set((await statuses(client, [1, 2, 77, ORDERS - 1, ORDERS])).values()) == {
            "COLLECTED"}
        again = await client.post("/orders/1/collect")
        assert again.status_code == 409, again.text
        assert (await client.get(f"/orders/{ORDERS + 1}")).status_code == 404
        summary = (await client.get("/analytics/summary")).json()
        assert (summary["orders_placed"], summary["orders_ready"],
                summary["orders_collected"]) == (ORDERS, ORDERS, ORDERS)
        assert summary["wait_placed_to_ready"]["mean_seconds"] == pytest.approx(
            day["wait"]["mean_seconds"], abs=0.001), "analytics shows another day"
        board = (await client.get("/board")).json()
        assert board["requested"] == board["in_progress"] == board["ready"] == []

        new = await place(client, {"items": [{"item": "salad", "quantity": 1},
                                             {"item": "hamburger", "quantity": 1}]})
        assert new["number"] == ORDERS + 1, "numbering restarted"
        await wait_all_ready(client, [ORDERS + 1], timeout=WAIT)
        summary = (await client.get("/analytics/summary")).json()
        assert summary["orders_placed"] == ORDERS + 1
    assert server.stop() in CLEAN_EXIT
    check_log(await read_log(copy / "events.db"))


def test_a_directory_that_holds_anything_is_refused_and_left_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "used"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("mine")

    done = simulate("--into", str(data_dir))

    assert done.returncode != 0
    assert f"{data_dir} is not empty" in done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in data_dir.iterdir()] == ["notes.txt"]


def test_a_directory_another_process_holds_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "held"
    with DataDirectoryLock.acquire(data_dir):  # as a mcburger run (or another --into) holds it
        done = simulate("--into", str(data_dir))

    assert done.returncode == 1, done.stderr
    assert f"{data_dir} is in use by process {os.getpid()}" in done.stderr
    assert [p.name for p in data_dir.iterdir()] == ["lock"]
