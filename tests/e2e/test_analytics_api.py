"""The analytics API and page against a real ``mcburger run``: orders placed through the API
show up in the summary, the item statistics, the estimates and the timeline."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.distributed import start_cluster
from tests.e2e.helpers import place, wait_all_ready, wait_quiet, wait_until
from tests.e2e.processes import Launcher, Server
from tests.support.kafka_server import KafkaBroker
from tests.support.servers import STAFF

pytestmark = pytest.mark.e2e

SPEED = 500
ORDERS = [
    {"items": [{"item": "salad", "quantity": 2}, {"item": "cola", "quantity": 1}]},
    {"items": [{"item": "nuggets", "quantity": 1}]},
    {"items": [{"item": "hamburger", "quantity": 1}, {"item": "ice-cream", "quantity": 1}]},
    {"items": [{"item": "chicken-wrap", "quantity": 1}, {"item": "salad", "quantity": 1}]},
]


async def summary_when(client: httpx.AsyncClient, what: str, **expected: int) -> dict[str, Any]:
    """``GET /analytics/summary`` once its counts are ``expected`` (analytics may lag)."""
    async def summary() -> dict[str, Any] | None:
        response = await client.get("/analytics/summary")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found if all(found[k] == v for k, v in expected.items()) else None

    return await wait_until(summary, 20.0, what)


def ordered(stats: dict[str, Any], suffix: str = "seconds") -> bool:
    """p50 <= p90 <= max, all finite numbers."""
    values = [stats[f"{name}_{suffix}"] for name in ("p50", "p90", "max")]
    return all(v is not None and math.isfinite(v) for v in values) and values == sorted(values)


async def test_orders_placed_through_the_api_are_measured(launch: Launcher) -> None:
    server = launch("--speed", str(SPEED), "--workers", "2", "--seed", "11")
    async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:
        await wait_quiet(client)
        numbers = [(await place(client, body))["number"] for body in ORDERS]
        await wait_all_ready(client, numbers, 30.0)

        summary = await summary_when(client, "analytics counts 4 orders ready",
                                     orders_placed=4, orders_ready=4)
        waits = summary["wait_placed_to_ready"]
        assert waits["count"] == 4 and waits["mean_seconds"] >= 0
        assert ordered(waits) and ordered(waits, suffix="wall_seconds")
        # kitchen seconds are wall seconds x the speed factor
        assert waits["max_seconds"] == pytest.approx(waits["max_wall_seconds"] * SPEED, rel=0.01)
        assert summary["speed"] == SPEED and summary["workers"] == 2
        assert 0 < summary["utilisation"] <= 1
        assert summary["throughput_per_kitchen_hour"] > 0
        assert summary["refill_units"] >= 9  # three favourites kept at 3 from the start
        assert summary["units_from_kitchen"] >= 7
        assert 0 <= summary["stock_share"] <= 1
        errors = summary["estimate_error"]
        assert errors["count"] == 4 and ordered(errors, "abs_seconds") and math.isfinite(
            errors["bias_seconds"])

        await client.post(f"/orders/{numbers[0]}/collect")
        collected = await summary_when(client, "analytics counts the collection",
                                       orders_collected=1)
        assert collected["wait_ready_to_collected"]["count"] == 1
        assert collected["wait_ready_to_collected"]["mean_seconds"] >= 0

        items = {i["item"]: i for i in (await client.get("/analytics/items")).json()["items"]}
        menu = [i["id"] for i in (await client.get("/menu")).json()["items"]]
        assert list(items) == menu
        assert items["salad"]["count"] >= 3 and ordered(items["salad"])
        assert items["salad"]["recent_count"] == min(items["salad"]["count"], 20)
        assert items["salad"]["mean_seconds"] == pytest.approx(90, abs=30)  # menu: 90 +- 15

        estimates = (await client.get("/analytics/estimates")).json()["estimates"]
        assert [e["number"] for e in estimates] == numbers[::-1]
        for estimate in estimates:
            assert estimate["ready_at"] is not None
            assert math.isfinite(estimate["error_seconds"])
            assert estimate["error_seconds"] == pytest.approx(
                estimate["error_wall_seconds"] * SPEED, abs=1.0)
        newest = (await client.get("/analytics/estimates", params={"limit": 2})).json()
        assert [e["number"] for e in newest["estimates"]] == numbers[:1:-1]

        timeline = (await client.get("/analytics/timeline",
                                     params={"bucket": 60, "limit": 1000})).json()
        assert timeline["bucket_seconds"] == 60
        buckets = timeline["buckets"]
        assert sum(b["orders_ready"] for b in buckets) == 4
        assert all(b["queue_length"] >= 0 for b in buckets)
        assert any(b["utilisation"] for b in buckets)
        starts = [b["start_kitchen_seconds"] for b in buckets]
        assert starts == list(range(starts[0], starts[-1] + 1, 60))


async def test_the_api_process_reads_what_the_analytics_process_wrote(
        launch: Launcher, postgres: str, mongo: str, kafka: KafkaBroker) -> None:
    """Distributed: the api process runs no consumer; its /analytics/* read the documents the
    analytics process keeps in MongoDB (FerretDB here)."""
    cluster = start_cluster(launch, postgres, mongo, kafka,
                            "--speed", str(SPEED), "--workers", "2", "--seed", "3")
    async with httpx.AsyncClient(headers=STAFF, base_url=cluster.api.url, timeout=15.0) as client:
        # the distributed api answers without waiting for analytics: the estimate follows
        numbers = [(await place(client, body, estimated=False))["number"]
                   for body in ORDERS[:2]]
        await wait_all_ready(client, numbers, 60.0)

        summary = await summary_when(client, "the api reads 2 orders ready",
                                     orders_placed=2, orders_ready=2)
        assert summary["wait_placed_to_ready"]["count"] == 2
        assert summary["estimate_error"]["count"] == 2
        estimates = (await client.get("/analytics/estimates")).json()["estimates"]
        assert [e["number"] for e in estimates] == numbers[::-1]
        items = (await client.get("/analytics/items")).json()["items"]
        assert sum(i["count"] for i in items) >= 4  # 2 salads, a cola, nuggets, and refills
        timeline = (await client.get("/analytics/timeline", params={"limit": 1000})).json()
        assert sum(b["orders_ready"] for b in timeline["buckets"]) == 2


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One restaurant for the tests that only read."""
    launcher = Launcher(tmp_path_factory.mktemp("analytics"))
    yield launcher("--speed", str(SPEED))
    launcher.stop_all()


@pytest.fixture
async def client(quiet_server: Server, show_log_on_failure: Callable[[Server], None]
                 ) -> AsyncIterator[httpx.AsyncClient]:
    show_log_on_failure(quiet_server)
    async with httpx.AsyncClient(headers=STAFF, base_url=quiet_server.url, timeout=15.0) as client:
        yield client


@pytest.mark.parametrize(("path", "field"), [
    ("/analytics/estimates?limit=0", "limit"), ("/analytics/estimates?limit=1001", "limit"),
    ("/analytics/estimates?limit=many", "limit"), ("/analytics/timeline?bucket=90", "bucket"),
    ("/analytics/timeline?limit=0", "limit")])
async def test_a_bad_query_is_422_naming_the_field(client: httpx.AsyncClient, path: str,
                                                   field: str) -> None:
    response = await client.get(path)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", field]]


async def test_the_page_and_the_api_description(client: httpx.AsyncClient) -> None:
    page = await client.get("/analytics/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for chart in ("wait-chart", "throughput-chart", "queue-chart", "utilisation-chart",
                  "estimate-chart"):
        assert f'id="{chart}"' in page.text
    script = await client.get("/static/analytics.js")
    assert script.status_code == 200 and "/analytics/summary" in script.text
    assert (await client.get("/static/analytics.css")).status_code == 200

    spec = (await client.get("/openapi.json")).json()
    for path in ("summary", "items", "estimates", "timeline"):
        operation = spec["paths"][f"/analytics/{path}"]["get"]
        assert operation["tags"] == ["analytics"] and operation["summary"]
