"""The distributed restaurant end to end: six service processes on Kafka, PostgreSQL and
FerretDB. The same scenario and invariants as the embedded day, then faults: processes killed
with SIGKILL, the broker restarted, a malformed message, a redelivered batch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from mcburger.adapters.serialization import DEAD_LETTER_TOPIC, topic_of_category
from mcburger.domain.events import CATEGORIES, OrderPlaced
from tests.e2e.board_feeds import all_connected, all_saw_ready, start_feeds, stop_feeds
from tests.e2e.distributed import Cluster, start_cluster
from tests.e2e.helpers import (
    STOCK_TARGET,
    configured_kitchen,
    place,
    place_orders,
    wait_all_ready,
    wait_quiet,
    wait_until,
)
from tests.e2e.processes import Launcher
from tests.support.invariants import check_quiet
from tests.support.kafka_server import KafkaBroker
from tests.support.servers import STAFF

pytestmark = pytest.mark.e2e

FLAGS = ("--speed", "200", "--workers", "2", "--seed", "7")


@pytest.fixture
def cluster(launch: Launcher, postgres: str, mongo: str, kafka: KafkaBroker) -> Cluster:
    return start_cluster(launch, postgres, mongo, kafka, *FLAGS)


async def test_thirty_orders_through_six_processes_reach_every_board(cluster: Cluster) -> None:
    # and the screens of a board-feeds process beside them, which follows the MongoDB read
    # models the board service writes (no Kafka: it reads no topic)
    board_feeds = cluster.start("board-feeds")
    feeds = [*start_feeds(cluster.board.url, cluster.board.ws_url),
             *start_feeds(board_feeds.url, board_feeds.ws_url)]
    try:
        async with httpx.AsyncClient(headers=STAFF, base_url=cluster.api.url,
                                     timeout=15.0) as client:
            await wait_until(lambda: all_connected(feeds), 30.0, "every board client connected")
            # the api answers without waiting for analytics: the estimate follows
            placed = await place_orders(client, 30, seed=7, pace=(0.1, 0.3), estimated=False)
            numbers = [order["number"] for order in placed]
            await wait_all_ready(client, numbers, timeout=180.0)
            for number in numbers:
                order = (await client.get(f"/orders/{number}")).json()
                assert order["estimated_ready_at"] is not None, order
            favourite_ids = await wait_quiet(client, timeout=90.0)
            await wait_until(lambda: all_saw_ready(feeds, set(numbers)), 30.0,
                             "every board client saw every order READY")
            for feed in feeds:
                feed.check_changes_in_order()
            board = (await client.get("/board")).json()
            assert board["ready"] == numbers
            assert board["requested"] == board["in_progress"] == []
    finally:
        await stop_feeds(feeds)
    events = await cluster.log()
    assert sum(isinstance(e, OrderPlaced) for e in events) == 30
    check_quiet(events, STOCK_TARGET, favourite_ids)
    health = await cluster.health()
    for role, report in health.items():
        assert report["status"] == "ok", (role, report)
        assert set(report["dependencies"].values()) == {"ok"}, (role, report)
        assert report["roles"] == [role]
    assert set(health["board"]["consumer_lag"]) == {"views", "views-kitchen"}
    assert health["board-feeds"]["consumer_lag"] == {}
    assert "bus" not in health["board-feeds"]["dependencies"]


async def test_killed_services_and_a_restarted_broker_lose_nothing(
        cluster: Cluster, tmp_path: Path) -> None:
    # a second kitchen is refused at once, naming the one running (not safe beside it yet);
    # the kill -9s below show that the lock dies with its holder (each restart takes it)
    second = await asyncio.to_thread(cluster.run_another, "kitchen", tmp_path / "second")
    assert second.returncode == 1, second.stderr
    assert (f"kitchen of restaurant {cluster.restaurant_id} is already running (mcburger pid "
            f"{cluster.services['kitchen'].pid} ") in second.stderr
    async with httpx.AsyncClient(headers=STAFF, base_url=cluster.api.url, timeout=30.0) as client:
        await configured_kitchen(client, timeout=30.0)
        placed = await place_orders(client, 8, seed=3, pace=(0.02, 0.05), estimated=False)

        # kill -9 the kitchen while a worker is preparing something
        await wait_until(lambda: _a_worker_is_busy(client), 30.0, "a busy worker")
        cluster.services["kitchen"].kill_hard()
        placed += [await one_line(client, "nuggets", 2)]
        cluster.restart("kitchen")

        # kill -9 ordering while it hands prepared units to orders
        placed += [await one_line(client, "hamburger", 3)]
        await wait_until(lambda: _some_units_allocated(client, placed[-1]["number"]), 60.0,
                         "ordering allocating units")
        cluster.services["ordering"].kill_hard()
        cluster.restart("ordering")

        # restart the broker mid-run
        placed += [await one_line(client, "fries", 2)]
        await asyncio.to_thread(cluster.kafka.restart)
        placed += [await one_line(client, "salad", 1)]

        numbers = [order["number"] for order in placed]
        await wait_all_ready(client, numbers, timeout=180.0)
        favourite_ids = await wait_quiet(client, timeout=120.0)
    check_quiet(await cluster.log(), STOCK_TARGET, favourite_ids)


async def test_a_malformed_message_goes_to_the_dead_letters_and_work_goes_on(
        cluster: Cluster) -> None:
    topic = topic_of_category(CATEGORIES[0])
    producer = AIOKafkaProducer(bootstrap_servers=cluster.kafka.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{not an event", key=cluster.restaurant_id.encode())
    finally:
        await producer.stop()

    async with httpx.AsyncClient(headers=STAFF, base_url=cluster.api.url, timeout=30.0) as client:
        order = await one_line(client, "nuggets", 1)
        await wait_all_ready(client, [order["number"]], timeout=60.0)

    dead = await _dead_letters_of(cluster)
    consumers = {headers.get("consumer") for value, headers in dead if value == b"{not an event"}
    assert {"kitchen", "views", "analytics"} <= consumers, dead
    assert all("undecodable" in headers["error"] for _, headers in dead)


async def test_a_redelivered_batch_changes_nothing(cluster: Cluster) -> None:
    async with httpx.AsyncClient(headers=STAFF, base_url=cluster.api.url, timeout=30.0) as client:
        placed = await place_orders(client, 4, seed=5, pace=(0.02, 0.05), estimated=False)
        numbers = [order["number"] for order in placed]
        await wait_all_ready(client, numbers, timeout=90.0)
        await wait_quiet(client, timeout=90.0)
        before_log = await cluster.log()
        before_orders = (await client.get("/orders")).json()
        before_stock = (await client.get("/stock")).json()

        republished = await _republish_everything(cluster)
        assert republished > len(before_log) // 2
        await wait_until(lambda: _no_lag(cluster), 60.0, "every consumer took the batch in")

        assert await cluster.log() == before_log
        assert (await client.get("/orders")).json() == before_orders
        assert (await client.get("/stock")).json() == before_stock


# --- helpers --------------------------------------------------------------------------------






async def _a_worker_is_busy(client: httpx.AsyncClient) -> bool:
    kitchen = (await client.get("/kitchen")).json()
    return any(worker["state"] == "busy" for worker in kitchen["workers"])


async def _some_units_allocated(client: httpx.AsyncClient, number: int) -> bool:
    found = await client.get(f"/orders/{number}")  # 404 until the board's views have it
    return found.status_code == 200 and sum(line["ready"] for line in found.json()["items"]) > 0


async def _no_lag(cluster: Cluster) -> bool:
    health = await cluster.health()
    return all(lag == 0 for report in health.values() for lag in report["consumer_lag"].values())


async def _dead_letters_of(cluster: Cluster) -> list[tuple[bytes, dict[str, str]]]:
    consumer = AIOKafkaConsumer(DEAD_LETTER_TOPIC, bootstrap_servers=cluster.kafka.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[bytes, dict[str, str]]] = []
    try:
        for _ in range(30):  # until three consumers' dead letters are in, or 30 rounds
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found.extend((record.value, {k: v.decode() for k, v in record.headers})
                             for record in records
                             if record.key == cluster.restaurant_id.encode())
            if len(found) >= 3 and not batches:
                break
    finally:
        await consumer.stop()
    return found


async def _republish_everything(cluster: Cluster) -> int:
    """Publish every message of this restaurant again, as a producer retry storm would."""
    topics = [topic_of_category(category) for category in CATEGORIES]
    consumer = AIOKafkaConsumer(bootstrap_servers=cluster.kafka.bootstrap,
                                enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=cluster.kafka.bootstrap)
    await consumer.start()
    await producer.start()
    count = 0
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=cluster.kafka.bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(topics)
        finally:
            await admin.close()
        partitions = [TopicPartition(topic["topic"], partition["partition"])
                      for topic in described for partition in topic["partitions"]]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        # Only what is there now: the copies land after it and must not be copied again.
        ends = await consumer.end_offsets(partitions)
        remaining = {p for p in partitions if ends[p] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=2000)
            assert batches, f"no messages while {remaining} still had some"
            for partition, records in batches.items():
                for record in records:
                    if record.offset >= ends[partition]:
                        remaining.discard(partition)
                        break
                    if record.key == cluster.restaurant_id.encode():
                        await producer.send(record.topic, record.value, key=record.key,
                                            headers=list(record.headers))
                        count += 1
                    if record.offset + 1 >= ends[partition]:
                        remaining.discard(partition)
        await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()
    return count


async def one_line(client: httpx.AsyncClient, item: str, quantity: int) -> dict[str, Any]:
    """Place an order of one line; the distributed api answers before analytics estimates."""
    return await place(client, {"items": [{"item": item, "quantity": quantity}]},
                       estimated=False)
