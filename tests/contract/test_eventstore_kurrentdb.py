"""The EventStore contract against a real KurrentDB (or EventStoreDB), plus what only it can show.

None can be installed on this machine, so the module skips unless ``MCBURGER_TEST_KURRENTDB_URL``
names a server, e.g. ``kurrentdb://127.0.0.1:2113?tls=false`` for a KurrentDB started with
``--insecure`` on port 2113 (appends with tracking need KurrentDB 25.1 or later). A server
cannot be wiped between tests: every test gets a store in a namespace of its own (a unique
stream-name prefix), which is empty when it starts. Use a disposable server: every run leaves
its streams behind.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from mcburger.adapters.eventstore.kurrentdb import KurrentDBEventStore
from mcburger.adapters.eventstore.kurrentdb_mapping import TRACKING_CATEGORY
from mcburger.application.ports import (
    AlreadyProcessed,
    EventStore,
    RecordedEvent,
    Tracking,
    WrongExpectedVersion,
)
from mcburger.domain.events import OrderLine, OrderPlaced
from tests.contract.eventstore_contract import (
    KITCHEN_R1,
    ORDERS,
    ORDERS_R2,
    T0,
    EventStoreContract,
    configured,
    placed,
)

URL_VARIABLE = "MCBURGER_TEST_KURRENTDB_URL"
SKIP_REASON = (
    f"set {URL_VARIABLE} to a KurrentDB/EventStoreDB server to run these tests; "
    "none can be installed on this machine"
)

URL = os.environ.get(URL_VARIABLE, "")
if not URL:
    pytest.skip(SKIP_REASON, allow_module_level=True)

# Bigger than the server's default MaxAppendSize (1 MiB): the server refuses the whole append.
OVERSIZED = 2 * 1024 * 1024


@pytest.fixture
def namespace() -> str:
    """A stream-name prefix of this test's own, so that tests never see each other's events."""
    return f"mcburger_test_{uuid.uuid4().hex}_"


@pytest.fixture
async def stores() -> AsyncIterator[list[KurrentDBEventStore]]:
    """Stores opened by a test on its namespace, closed after it."""
    opened: list[KurrentDBEventStore] = []
    yield opened
    for store in opened:
        await store.close()


async def open_store(stores: list[KurrentDBEventStore], namespace: str) -> KurrentDBEventStore:
    store = await KurrentDBEventStore.open(URL, namespace=namespace)
    stores.append(store)
    return store


class TestKurrentDBEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self, namespace: str) -> AsyncIterator[EventStore]:
        store = await KurrentDBEventStore.open(URL, namespace=namespace)
        yield store
        await store.close()

    @pytest.fixture
    async def twin(self, namespace: str) -> AsyncIterator[EventStore]:
        twin = await KurrentDBEventStore.open(URL, namespace=namespace)  # another client
        yield twin
        await twin.close()

    async def test_failing_event_mid_batch_writes_nothing(self, store: EventStore) -> None:
        # Replaces the contract's test, which reuses an event id in another stream and expects
        # the append to fail: KurrentDB does not refuse that (see the adapter's docstring). And
        # positions do not start at 1. Here an oversized second event fails the whole append,
        # tracking included (a multi-stream append on the server).
        first = await store.append(ORDERS, [placed(1)], expected_version=0)
        huge = OrderPlaced(
            event_id=str(uuid.uuid4()),
            restaurant_id="r1",
            occurred_at=T0,
            order_id="o-huge",
            number=99,
            lines=(OrderLine("x" * OVERSIZED, 1),),
        )
        with pytest.raises(Exception):  # noqa: B017 - the client's size error, or gRPC's
            await store.append(ORDERS_R2, [placed(2), huge], 0, Tracking("relay", 3))
        assert await store.read_stream(ORDERS_R2) == []
        assert await store.last_position() == first[0].position
        assert await store.tracked_position("relay") == 0


# --- what only a real server shows -------------------------------------------------------------


async def test_events_and_tracking_survive_reopen(
    stores: list[KurrentDBEventStore], namespace: str
) -> None:
    store = await open_store(stores, namespace)
    written = await store.append(ORDERS, [placed(1), placed(2)], 0, Tracking("relay", 7))
    await store.close()

    reopened = await open_store(stores, namespace)
    assert await reopened.read_stream(ORDERS) == written
    assert await reopened.tracked_position("relay") == 7
    assert await reopened.last_position() == written[-1].position
    more = await reopened.append(ORDERS, [placed(3)], expected_version=2)
    assert more[0].version == 3
    assert more[0].position > written[-1].position


async def test_positions_are_distinct_commit_positions(
    stores: list[KurrentDBEventStore], namespace: str
) -> None:
    # One append of several events, with and without tracking: every event its own position.
    store = await open_store(stores, namespace)
    plain = await store.append(ORDERS, [placed(1), placed(2), placed(3)], 0)
    tracked = await store.append(ORDERS, [placed(4), placed(5)], 3, Tracking("relay", 1))
    positions = [r.position for r in plain + tracked]
    assert positions == sorted(set(positions))
    assert await store.read_all() == plain + tracked


async def test_tracking_only_append_checks_the_stream_version(
    stores: list[KurrentDBEventStore], namespace: str
) -> None:
    store = await open_store(stores, namespace)
    await store.append(ORDERS, [placed(1)], 0)
    with pytest.raises(WrongExpectedVersion):
        await store.append(ORDERS, [], 3, Tracking("relay", 5))
    assert await store.tracked_position("relay") == 0


async def test_one_consumer_writing_two_streams_at_once_records_one(
    stores: list[KurrentDBEventStore], namespace: str
) -> None:
    # Two processes of one consumer handle the same batch: the tracking stream's version lets
    # only one of them record it, events and all.
    first = await open_store(stores, namespace)
    second = await open_store(stores, namespace)
    results = await asyncio.gather(
        first.append(ORDERS, [placed(1)], 0, Tracking("relay", 5)),
        second.append(ORDERS_R2, [placed(2)], 0, Tracking("relay", 5)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, list)]
    losers = [r for r in results if not isinstance(r, list)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0], AlreadyProcessed)
    assert await first.read_all() == winners[0]
    assert await first.tracked_position("relay") == 5


async def test_wait_is_woken_by_an_append_from_another_store(
    stores: list[KurrentDBEventStore], namespace: str
) -> None:
    waiter = await open_store(stores, namespace)
    writer = await open_store(stores, namespace)

    async def append_soon(number: int) -> list[RecordedEvent]:
        await asyncio.sleep(0.1)
        return await writer.append(ORDERS, [placed(number)], expected_version=number - 1)

    head = 0
    for number in (1, 2):  # from an empty log (from the end), then from a head (catch-up)
        task = asyncio.create_task(append_soon(number))
        started = time.monotonic()
        assert await waiter.wait_for_append(head, timeout=5)
        assert time.monotonic() - started < 1.0
        head = (await task)[-1].position


async def test_namespaces_do_not_see_each_other(
    stores: list[KurrentDBEventStore], namespace: str
) -> None:
    ours = await open_store(stores, namespace)
    # Not f"{namespace}other_": a namespace must not be a prefix of another one.
    theirs = await open_store(stores, f"mcburger_test_{uuid.uuid4().hex}_")
    mine = await ours.append(KITCHEN_R1, [configured()], 0, Tracking("kitchen", 4))
    await theirs.append(KITCHEN_R1, [configured()], 0, Tracking("kitchen", 9))
    assert await ours.read_all() == mine
    assert await ours.last_position() == mine[-1].position
    assert await ours.tracked_position("kitchen") == 4
    assert await theirs.tracked_position("kitchen") == 9
    # The checkpoint streams are not part of the log.
    assert TRACKING_CATEGORY not in {r.stream.split("-", 1)[0] for r in await ours.read_all()}
