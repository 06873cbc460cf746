"""The KurrentDB adapter without a server: its mappings, and its logic against a fake client.

No KurrentDB can run here (the real contract run is ``tests/contract/test_eventstore_kurrentdb.py``,
skipped without ``MCBURGER_TEST_KURRENTDB_URL``). ``FakeKurrentDB`` stands in for
``AsyncKurrentDBClient`` with the server behaviour the adapter relies on, as kurrentdbclient
documents it: 0-based stream positions, ``WrongCurrentVersionError`` naming the stream, atomic
multi-stream appends, commit positions with gaps, forward reads from a position that include the
event at it, backward reads that leave it out, server-side filters, ``$`` system events in
``$all``. It checks the adapter's own logic (mapping, paging, tracking, waiting); whether the
server really behaves so is for the contract run against a real one.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, cast

import pytest
from kurrentdbclient import AsyncKurrentDBClient, NewEvent, NewEvents, StreamState
from kurrentdbclient import RecordedEvent as StoredEvent
from kurrentdbclient.common import construct_filter_include_regex
from kurrentdbclient.exceptions import (
    InvalidCommitPositionError,
    MaximumAppendSizeExceededError,
    NotFoundError,
    ServiceUnavailableError,
    WrongCurrentVersionError,
)

from mcburger.adapters.eventstore.kurrentdb import KurrentDBEventStore
from mcburger.adapters.eventstore.kurrentdb_mapping import (
    TRACKING_CATEGORY,
    client_url,
    current_version_for,
    event_uuid,
    log_stream_pattern,
    version_of,
)
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

# --- pure mappings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected_version", "current_version"),
    [(0, StreamState.NO_STREAM), (1, 0), (2, 1), (500, 499)],
)
def test_expected_version_maps_to_the_clients_current_version(
    expected_version: int, current_version: int | StreamState
) -> None:
    assert current_version_for(expected_version) == current_version


def test_a_negative_expected_version_is_always_wrong() -> None:
    with pytest.raises(WrongExpectedVersion):
        current_version_for(-1)


def test_versions_are_one_based_stream_positions() -> None:
    assert [version_of(p) for p in (0, 1, 41)] == [1, 2, 42]
    # An append at expected version n starts at stream position n: version n + 1.
    assert all(version_of(n) == n + 1 for n in range(5))


def test_event_ids_that_are_uuids_are_kept() -> None:
    event_id = str(uuid.uuid4())
    assert event_uuid(event_id) == uuid.UUID(event_id)


def test_other_event_ids_map_to_stable_distinct_uuids() -> None:
    assert event_uuid("placed-1") == event_uuid("placed-1")
    assert event_uuid("placed-1") != event_uuid("placed-2")
    assert event_uuid("placed-1").version == 5


@pytest.mark.parametrize(
    "url",
    [
        "kurrentdb://127.0.0.1:2113?tls=false",
        "esdb://admin:changeit@localhost:2113",  # TLS (the default) needs credentials
        "kurrentdb://admin:changeit@node1:2113,node2:2113,node3:2113",
        "kurrentdb+discover://admin:changeit@cluster.example:2113",
        "esdb+discover://cluster.example:2113?tls=false",
        "KurrentDB://127.0.0.1:2113?tls=false",
    ],
)
def test_kurrentdb_and_esdb_urls_go_to_the_client_unchanged(url: str) -> None:
    assert client_url(url) == url
    AsyncKurrentDBClient(uri=client_url(url))  # the client parses it (and connects lazily)


@pytest.mark.parametrize(
    "url", ["postgresql://localhost/mcburger", "127.0.0.1:2113", "sqlite:///events.db", ""]
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not a KurrentDB URL"):
        client_url(url)


def _log_regex(namespace: str) -> re.Pattern[str]:
    # Exactly what kurrentdbclient sends as the server-side stream-name filter.
    return re.compile(construct_filter_include_regex([log_stream_pattern(namespace)]))


def test_the_log_filter_keeps_our_streams_only() -> None:
    log = _log_regex("")
    assert all(log.search(s) for s in ("ordering-r1", "kitchen-r1", "kitchenette-r1", "x"))
    for excluded in ("$stats-node", "$$ordering-r1", "$ce-ordering", f"{TRACKING_CATEGORY}-relay"):
        assert not log.search(excluded)


def test_the_log_filter_keeps_one_namespace() -> None:
    log = _log_regex("t1.x_")
    assert log.search("t1.x_ordering-r1")
    for excluded in ("ordering-r1", "t1yx_ordering-r1", f"t1.x_{TRACKING_CATEGORY}-relay", "t1.x"):
        assert not log.search(excluded)


def test_a_namespace_cannot_be_a_system_prefix() -> None:
    with pytest.raises(ValueError):
        KurrentDBEventStore(cast(AsyncKurrentDBClient, FakeKurrentDB()), namespace="$all")


async def test_appends_to_system_or_tracking_streams_are_refused() -> None:
    store = KurrentDBEventStore(cast(AsyncKurrentDBClient, FakeKurrentDB()))
    for stream in ("$ce-ordering", f"{TRACKING_CATEGORY}-relay"):
        with pytest.raises(ValueError):
            await store.append(stream, [placed(1)], 0)


async def test_a_duplicate_event_id_in_one_append_is_refused_before_any_io() -> None:
    # A client that was never connected: any I/O would fail.
    store = KurrentDBEventStore(AsyncKurrentDBClient(uri="kurrentdb://127.0.0.1:1?tls=false"))
    with pytest.raises(ValueError, match="duplicate event_id"):
        await store.append(ORDERS, [placed(1), placed(1)], 0)
    await store.close()  # closing a never-connected client is fine


async def test_opening_an_unreachable_server_fails_clearly() -> None:
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError):
        await KurrentDBEventStore.open("kurrentdb://127.0.0.1:1?tls=false")
    assert time.monotonic() - started < 10


def test_event_data_is_the_documented_json_form() -> None:
    store = KurrentDBEventStore(cast(AsyncKurrentDBClient, FakeKurrentDB()))
    [new] = store._new_events([placed(1)])
    assert new.type == "OrderPlaced"
    assert new.content_type == "application/json"
    assert new.id == event_uuid("placed-1")
    assert new.metadata == b""
    body = json.loads(new.data)
    assert body["type"] == "OrderPlaced"
    assert body["version"] == OrderPlaced.VERSION
    assert body["event_id"] == "placed-1"


# --- the fake ----------------------------------------------------------------------------------

MAX_APPEND_SIZE = 1024 * 1024  # the server's default MaxAppendSize


class FakeKurrentDB:
    """The part of ``AsyncKurrentDBClient`` the adapter calls, on lists in memory.

    Every call yields to the loop first, as a network round trip would, so concurrent appends
    really interleave. After each append a system event lands in ``$all``, as stats do.
    """

    def __init__(self) -> None:
        self.log: list[StoredEvent] = []
        self.streams: dict[str, list[StoredEvent]] = {}
        self.calls: list[str] = []
        self.max_count: dict[str, int] = {}
        self._next_position = 4096  # the first event of a real database is not at 1 either
        self._appended = asyncio.Event()
        self._write("$settings", [NewEvent(type="$settings", data=b"{}")])

    async def connect(self) -> None:
        await asyncio.sleep(0)

    async def close(self) -> None:
        await asyncio.sleep(0)

    # writing

    async def append_to_stream(
        self,
        stream_name: str,
        *,
        events: Iterable[NewEvent],
        current_version: int | StreamState,
        timeout: float | None = None,
    ) -> int:
        await asyncio.sleep(0)
        self.calls.append("append_to_stream")
        batch = list(events)
        self._check_size(batch)
        self._check_version(stream_name, current_version)
        self._write(stream_name, batch)
        position = self.log[-1].commit_position
        self._after_write()
        return position

    async def multi_append_to_stream(
        self, events: Iterable[NewEvents], *, timeout: float | None = None
    ) -> int:
        await asyncio.sleep(0)
        self.calls.append("multi_append_to_stream")
        batches = [(b.stream_name, list(b.events), b.current_version) for b in events]
        self._check_size([e for _, batch, _ in batches for e in batch])
        for stream_name, _, current_version in batches:  # all checks, then all writes
            self._check_version(stream_name, current_version)
        for stream_name, batch, _ in batches:
            self._write(stream_name, batch)
        position = self.log[-1].commit_position
        self._after_write()
        return position

    async def set_stream_metadata(
        self, stream_name: str, *, metadata: dict[str, object],
        current_version: int | StreamState = StreamState.ANY, timeout: float | None = None,
    ) -> None:
        """As the server does: metadata is an event of ``$$<stream>``; ``$maxCount`` keeps
        only the newest events of the stream (applied here at once, the server does it lazily)."""
        await asyncio.sleep(0)
        self.calls.append("set_stream_metadata")
        self._write("$$" + stream_name, [NewEvent(type="$metadata",
                                                  data=json.dumps(metadata).encode())])
        self.max_count[stream_name] = int(str(metadata["$maxCount"]))

    def _check_size(self, batch: Sequence[NewEvent]) -> None:
        if sum(len(e.data) + len(e.metadata) for e in batch) > MAX_APPEND_SIZE:
            raise MaximumAppendSizeExceededError("Maximum append size of 1048576 exceeded.")

    def _current(self, stream_name: str) -> int | StreamState:
        stream = self.streams.get(stream_name)
        return len(stream) - 1 if stream else StreamState.NO_STREAM

    def _check_version(self, stream_name: str, current_version: int | StreamState) -> None:
        actual = self._current(stream_name)
        if current_version is not StreamState.ANY and actual != current_version:
            raise WrongCurrentVersionError(
                f"{stream_name}: {actual} not {current_version}",
                stream_name=stream_name,
                actual_version=actual,
                expected_version=current_version,
            )

    def _write(self, stream_name: str, batch: Sequence[NewEvent]) -> None:
        stream = self.streams.setdefault(stream_name, [])
        for new in batch:
            self._next_position += 100 + len(new.data)  # positions are byte offsets: gaps
            stored = StoredEvent(
                type=new.type,
                data=new.data,
                metadata=new.metadata,
                content_type=new.content_type,
                id=new.id,
                stream_name=stream_name,
                stream_position=len(stream),
                commit_position=self._next_position,
                prepare_position=self._next_position,
            )
            stream.append(stored)
            self.log.append(stored)

    def _after_write(self) -> None:
        self._write("$stats-127.0.0.1:2113", [NewEvent(type="$statsCollected", data=b"{}")])
        appended, self._appended = self._appended, asyncio.Event()
        appended.set()

    # reading

    async def get_current_version(
        self, stream_name: str, *, timeout: float | None = None
    ) -> int | StreamState:
        await asyncio.sleep(0)
        return self._current(stream_name)

    async def get_stream(
        self,
        stream_name: str,
        *,
        stream_position: int | None = None,
        backwards: bool = False,
        limit: int = sys.maxsize,
        timeout: float | None = None,
    ) -> tuple[StoredEvent, ...]:
        await asyncio.sleep(0)
        if stream_name not in self.streams:
            raise NotFoundError(f"Stream {stream_name!r} not found")
        stream = self.streams[stream_name]
        if stream_name in self.max_count:
            stream = stream[-self.max_count[stream_name]:]
        if backwards:
            return tuple(e for e in reversed(stream)
                         if stream_position is None or e.stream_position <= stream_position)[:limit]
        return tuple(e for e in stream if e.stream_position >= (stream_position or 0))[:limit]

    async def read_all(
        self,
        *,
        commit_position: int | None = None,
        backwards: bool = False,
        filter_include: Sequence[str] = (),
        filter_by_stream_name: bool = False,
        filter_by_prefix: bool = False,
        limit: int = sys.maxsize,
        timeout: float | None = None,
    ) -> FakeReadResponse:
        await asyncio.sleep(0)
        self.calls.append("read_all")
        if commit_position is not None and commit_position not in {
            e.commit_position for e in self.log
        }:
            raise InvalidCommitPositionError("Unexpected FilteredReadAllResult: InvalidPosition")
        matches = self._filter(filter_include, filter_by_stream_name, filter_by_prefix)
        if backwards:
            found = [
                e
                for e in reversed(self.log)
                if matches(e) and (commit_position is None or e.commit_position < commit_position)
            ]
        else:
            found = [
                e
                for e in self.log
                if matches(e) and (commit_position is None or e.commit_position >= commit_position)
            ]
        return FakeReadResponse(found[:limit])

    async def subscribe_to_all(
        self,
        *,
        commit_position: int | None = None,
        from_end: bool = False,
        filter_include: Sequence[str] = (),
        filter_by_stream_name: bool = False,
        filter_by_prefix: bool = False,
        timeout: float | None = None,
    ) -> FakeSubscription:
        await asyncio.sleep(0)
        self.calls.append("subscribe_to_all")
        if commit_position is not None:
            after = commit_position
        elif from_end:
            after = self.log[-1].commit_position
        else:
            after = -1
        matches = self._filter(filter_include, filter_by_stream_name, filter_by_prefix)
        return FakeSubscription(self, after, matches)

    def _filter(self, include: Sequence[str], by_stream_name: bool, by_prefix: bool) -> Any:
        assert include, "the adapter always filters on the server"
        assert by_stream_name, "the adapter filters by stream name"

        def matches(event: StoredEvent) -> bool:
            if by_prefix:
                return any(event.stream_name.startswith(prefix) for prefix in include)
            return re.search(construct_filter_include_regex(include), event.stream_name) is not None

        return matches


class FakeReadResponse:
    def __init__(self, events: list[StoredEvent]) -> None:
        self._events = iter(events)

    def __aiter__(self) -> FakeReadResponse:
        return self

    async def __anext__(self) -> StoredEvent:
        try:
            return next(self._events)
        except StopIteration:
            raise StopAsyncIteration from None


class FakeSubscription:
    def __init__(self, db: FakeKurrentDB, after: int, matches: Any) -> None:
        self._db = db
        self._after = after
        self._matches = matches
        self.stopped = False

    def __aiter__(self) -> FakeSubscription:
        return self

    async def __anext__(self) -> StoredEvent:
        while not self.stopped:
            appended = self._db._appended
            for event in self._db.log:
                if event.commit_position > self._after and self._matches(event):
                    self._after = event.commit_position
                    return event
            await appended.wait()
        raise StopAsyncIteration

    async def stop(self, *, timeout: float | None = None) -> None:
        self.stopped = True


NAMESPACE = "test_"


def fake_store(db: FakeKurrentDB, namespace: str = NAMESPACE) -> KurrentDBEventStore:
    return KurrentDBEventStore(cast(AsyncKurrentDBClient, db), namespace=namespace)


async def foreign_events(db: FakeKurrentDB) -> None:
    """What another namespace (and the empty one) wrote: this store must never see it."""
    other = fake_store(db, namespace="other_")
    await other.append(ORDERS, [placed(90)], 0, Tracking("relay", 99))
    bare = fake_store(db, namespace="")
    await bare.append(KITCHEN_R1, [configured()], 0, Tracking("kitchen", 99))


# --- the contract, on the fake -----------------------------------------------------------------


class TestKurrentDBEventStoreOnFake(EventStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[EventStore]:
        db = FakeKurrentDB()
        await foreign_events(db)
        store = fake_store(db)
        yield store
        await store.close()

    async def test_failing_event_mid_batch_writes_nothing(self, store: EventStore) -> None:
        # Replaces the contract's test: KurrentDB accepts an event id reused in another stream,
        # and positions do not start at 1. An oversized event fails the whole append instead.
        first = await store.append(ORDERS, [placed(1)], expected_version=0)
        huge = OrderPlaced(
            event_id="huge",
            restaurant_id="r1",
            occurred_at=T0,
            order_id="o-huge",
            number=99,
            lines=(OrderLine("x" * (MAX_APPEND_SIZE + 1), 1),),
        )
        with pytest.raises(MaximumAppendSizeExceededError):
            await store.append(ORDERS_R2, [placed(2), huge], 0, Tracking("relay", 3))
        assert await store.read_stream(ORDERS_R2) == []
        assert await store.last_position() == first[0].position
        assert await store.tracked_position("relay") == 0


# --- what only the fake shows --------------------------------------------------------------


async def test_events_with_tracking_are_one_multi_stream_append() -> None:
    db = FakeKurrentDB()
    store = fake_store(db)
    recorded = await store.append(ORDERS, [placed(1), placed(2)], 0, Tracking("relay", 7))
    assert "multi_append_to_stream" in db.calls
    tracking = db.streams[f"{NAMESPACE}{TRACKING_CATEGORY}-relay"]
    assert [json.loads(e.data) for e in tracking] == [{"consumer": "relay", "position": 7}]
    # The checkpoint was written with the events, right after them in $all.
    stored = db.streams[f"{NAMESPACE}{ORDERS}"]
    assert [r.position for r in recorded] == [e.commit_position for e in stored]
    assert tracking[0].commit_position > recorded[-1].position


async def test_positions_are_commit_positions_with_gaps() -> None:
    store = fake_store(FakeKurrentDB())
    recorded = await store.append(ORDERS, [placed(1), placed(2), placed(3)], 0)
    positions = [r.position for r in recorded]
    assert positions == sorted(set(positions))
    assert positions[0] > 1
    assert positions[1] - positions[0] > 1


async def test_one_consumer_writing_two_streams_at_once_records_one() -> None:
    db = FakeKurrentDB()
    first, second = fake_store(db), fake_store(db)
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
    assert len(await first.read_all()) == 1
    assert await first.tracked_position("relay") == 5


async def test_a_lower_concurrent_checkpoint_does_not_stop_a_higher_one() -> None:
    db = FakeKurrentDB()
    first, second = fake_store(db), fake_store(db)
    lower, higher = await asyncio.gather(
        first.append(ORDERS, [], 0, Tracking("relay", 3)),
        second.append(ORDERS_R2, [placed(2)], 0, Tracking("relay", 5)),
        return_exceptions=True,
    )
    assert lower == [] or isinstance(lower, AlreadyProcessed)  # it lost only if 5 came first
    assert isinstance(higher, list)
    assert len(higher) == 1
    assert await first.tracked_position("relay") == 5


async def test_wrong_version_with_tracking_moves_nothing() -> None:
    store = fake_store(FakeKurrentDB())
    await store.append(ORDERS, [placed(1)], 0)
    with pytest.raises(WrongExpectedVersion, match="at 1, expected 0"):
        await store.append(ORDERS, [placed(2)], 0, Tracking("relay", 5))
    with pytest.raises(WrongExpectedVersion):
        await store.append(ORDERS, [], 3, Tracking("relay", 5))  # tracking only: checked too
    with pytest.raises(WrongExpectedVersion):
        await store.append(ORDERS, [], 0)  # nothing at all: still checked, as SQL does
    assert await store.tracked_position("relay") == 0


async def test_read_all_from_a_position_that_is_no_event_scans_from_the_start() -> None:
    store = fake_store(FakeKurrentDB())
    recorded = await store.append(ORDERS, [placed(1), placed(2), placed(3)], 0)
    between = recorded[0].position + 1
    assert await store.read_all(after_position=between) == recorded[1:]


async def test_read_all_pages_past_events_that_only_the_adapter_drops() -> None:
    db = FakeKurrentDB()
    store = fake_store(db)
    first = await store.append(ORDERS, [placed(1)], 0)
    # Link events in one of our streams pass the server's stream-name filter; we drop them.
    db._write(f"{NAMESPACE}{KITCHEN_R1}", [NewEvent(type="$>", data=b"0@x")] * 5)
    last = await store.append(ORDERS, [placed(2)], 1)
    assert await store.read_all(limit=1) == first
    assert await store.read_all(after_position=first[0].position, limit=1) == last
    assert await store.last_position() == last[0].position


async def test_wait_is_woken_by_another_store_on_the_same_database() -> None:
    db = FakeKurrentDB()
    waiter, writer = fake_store(db), fake_store(db)

    async def append_soon() -> list[RecordedEvent]:
        await asyncio.sleep(0.05)
        return await writer.append(ORDERS, [placed(1)], 0)

    task = asyncio.create_task(append_soon())
    assert await waiter.wait_for_append(0, timeout=5)
    head = (await task)[0].position
    later = asyncio.create_task(writer.append(ORDERS, [placed(2)], 1))
    assert await waiter.wait_for_append(head, timeout=5)  # from a head: catch-up subscription
    await later
    assert db.calls.count("subscribe_to_all") == 2


async def test_wait_ignores_other_namespaces_and_system_events() -> None:
    db = FakeKurrentDB()
    store = fake_store(db)
    last = (await store.append(ORDERS, [placed(1)], 0))[-1].position

    async def append_elsewhere() -> None:
        await asyncio.sleep(0.02)
        await foreign_events(db)

    task = asyncio.create_task(append_elsewhere())
    assert not await store.wait_for_append(last, timeout=0.2)
    await task
