"""The recorded day behind ``mcburger simulate --into``: the day ``simulate_day`` measures plus
the pickups, saved as the live services would save it (appends the store accepts one by one,
tracking, snapshots a rebuild can start from)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.application.kitchen_service import KitchenService
from mcburger.application.ports import EventStore
from mcburger.application.runner import AggregateRunner
from mcburger.application.simulator import simulate_day
from mcburger.application.simulator.history import PICKUP_SECONDS, Chunk, RecordedDay
from mcburger.application.simulator.mix import Arrival, MenuMix, poisson_arrivals
from mcburger.application.simulator.simulation import SIMULATION_START
from mcburger.domain.events import (
    KITCHEN,
    ORDERING,
    Event,
    OrderCollected,
    OrderReady,
    category_of,
    stream_name,
)
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.ordering import Ordering
from tests.support.invariants import check_quiet
from tests.unit.builders import default_menu, without_ids

SEED = 11
ORDERS = 120
RID = "main"


def arrivals() -> list[Arrival]:
    menu = default_menu()
    mix = MenuMix.default(menu)
    return poisson_arrivals(ORDERS, mix.arrival_rate(menu), mix, random.Random(SEED))


@pytest.fixture(params=[False, True], ids=["FF.1 off", "FF.1 on"])
def setup(request: pytest.FixtureRequest) -> KitchenSetup:
    return KitchenSetup(workers=3, favorites_first=request.param)


@pytest.fixture
def chunks(setup: KitchenSetup) -> list[Chunk]:
    day = RecordedDay(default_menu(), arrivals(), setup, SEED, RID, SIMULATION_START,
                      chunk_events=500)  # several chunks even for a short day
    return list(day.chunks())


def log_of(chunks: list[Chunk]) -> list[Event]:
    return [event for chunk in chunks for decision in chunk.decisions
            for event in decision.events]


async def written(chunks: list[Chunk], snapshots: bool) -> EventStore:
    """The decisions appended one by one, as the services append them (the store checks every
    expected version and tracking position), then each chunk's snapshots."""
    store = InMemoryEventStore()
    for chunk in chunks:
        for decision in chunk.decisions:
            recorded = await store.append(decision.stream, decision.events,
                                          decision.expected_version, decision.tracking)
            assert [r.position for r in recorded] == list(
                range(decision.position, decision.position + len(decision.events)))
        for snapshot in chunk.snapshots.values() if snapshots else ():
            await store.save_snapshot(snapshot)
    return store


def test_it_is_the_day_simulate_day_measures_plus_the_pickups(
        chunks: list[Chunk], setup: KitchenSetup) -> None:
    measured = simulate_day(default_menu(), arrivals(), setup, SEED)
    served = [event for event in log_of(chunks) if not isinstance(event, OrderCollected)]
    assert without_ids(served) == without_ids(measured.log)


def test_every_order_is_collected_once_a_pickup_delay_after_it_is_ready(
        chunks: list[Chunk], setup: KitchenSetup) -> None:
    log = log_of(chunks)
    check_quiet(log, setup.stock_target, [item.id for item in default_menu().favorites])
    ready = {e.number: e.occurred_at for e in log if isinstance(e, OrderReady)}
    collected = [e for e in log if isinstance(e, OrderCollected)]
    assert sorted(Counter(e.number for e in collected).items()) == [
        (n, 1) for n in range(1, ORDERS + 1)]
    low, high = PICKUP_SECONDS
    for event in collected:
        assert low <= (event.occurred_at - ready[event.number]).total_seconds() <= high


async def test_each_reaction_tracks_the_event_it_reacted_to(chunks: list[Chunk]) -> None:
    store = await written(chunks, snapshots=False)
    category = {r.position: category_of(r.stream) for r in await store.read_all(0, 10**6)}
    reactions = [d for chunk in chunks for d in chunk.decisions if d.tracking is not None]
    assert reactions, "no service reacted to anything"
    for decision in reactions:
        assert decision.tracking is not None
        reacted_to = category[decision.tracking.position]
        assert {decision.tracking.consumer, reacted_to} == {ORDERING, KITCHEN}
        assert category_of(decision.stream) == decision.tracking.consumer
    last = {cat: max(p for p, c in category.items() if c == cat) for cat in (ORDERING, KITCHEN)}
    assert await store.tracked_position(KITCHEN) == last[ORDERING]
    assert await store.tracked_position(ORDERING) == last[KITCHEN]


async def rebuilt(store: EventStore, setup: KitchenSetup) -> tuple[object, object]:
    """Both aggregates as the services rebuild them on a restart."""
    menu = default_menu()
    ordering = AggregateRunner(store, stream_name(ORDERING, RID), lambda: Ordering(RID, menu))
    kitchen = KitchenService(store, VirtualClock(), menu, RID, setup, SEED)
    return ((await ordering.current()).snapshot_state(),
            (await kitchen.kitchen()).snapshot_state())


async def test_the_services_rebuild_from_each_snapshot_to_the_state_replay_gives(
        chunks: list[Chunk], setup: KitchenSetup) -> None:
    assert len(chunks) > 2 and any(chunk.snapshots for chunk in chunks[:-1])
    for end in range(1, len(chunks) + 1):  # a restart after each chunk (mid-day too)
        with_snapshots = await written(chunks[:end], snapshots=True)
        replayed = await written(chunks[:end], snapshots=False)
        assert await rebuilt(with_snapshots, setup) == await rebuilt(replayed, setup), (
            f"after chunk {end}")


async def test_the_day_ends_with_a_snapshot_of_each_aggregate_with_nothing_live(
        chunks: list[Chunk], setup: KitchenSetup) -> None:
    store = await written(chunks, snapshots=True)
    for stream in (stream_name(ORDERING, RID), stream_name(KITCHEN, RID)):
        snapshot = await store.load_snapshot(stream)
        assert snapshot is not None, f"{stream}: no snapshot"
        assert snapshot.version == len(await store.read_stream(stream)), (
            f"{stream}: no snapshot at the end of the day")
        assert snapshot.position == await store.tracked_position(category_of(stream))
    ordering, kitchen = await rebuilt(store, setup)
    assert isinstance(ordering, dict) and isinstance(kitchen, dict)
    assert ordering["orders"] == [], "a collected order stayed in memory"
    assert kitchen["queue"] == kitchen["working"] == []
