"""Analytics measures the kitchen from the log: waits, throughput, queue, worker utilisation,
preparation times and estimate accuracy, in kitchen seconds (wall seconds x speed) and wall
seconds. Crafted runs with known times; the documents it writes and what Queries reads back."""

from __future__ import annotations

import json
import statistics
from collections.abc import Collection, Sequence
from datetime import timedelta

import pytest

from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore, _Stored
from mcburger.application import analytics
from mcburger.application.analytics import Analytics, KitchenTime, percentile
from mcburger.application.feeds.log import Subscription
from mcburger.application.ports import JSON, EventStore, ReadModelStore, RecordedEvent
from mcburger.application.queries import Queries
from mcburger.application.simulator.simulation import Simulation
from mcburger.domain.events import (
    Event,
    OrderCollected,
    OrderLine,
    OrderPlaced,
    PreparationStarted,
    stream_name,
)
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.menu import Menu
from tests.unit.builders import T0, fixed_menu, item, lines, of_type

COLLECTIONS = (analytics.SUMMARY, analytics.TIMELINE, analytics.ITEM_STATS, analytics.ESTIMATES)


def records(log: Sequence[Event], done: int = 0) -> list[RecordedEvent]:
    return [RecordedEvent(position, stream_name(e.CATEGORY, e.restaurant_id), position, e)
            for position, e in enumerate(log[done:], start=done + 1)]


async def analyse(menu: Menu, log: Sequence[Event],
                  batch_size: int | None = None) -> tuple[Queries, InMemoryReadModelStore]:
    """Hand the whole log to a new analytics consumer, in one batch or in ``batch_size``s."""
    store = InMemoryReadModelStore()
    consumer = Analytics(InMemoryEventStore(), store, menu, "main")
    batch = records(log)
    size = batch_size or len(batch)
    for start in range(0, len(batch), size):
        await consumer.handle(batch[start:start + size])
    return Queries(store, menu), store


async def documents(store: ReadModelStore) -> dict[str, list[JSON] | int]:
    found: dict[str, list[JSON] | int] = {c: await store.find(c) for c in COLLECTIONS}
    found["checkpoint"] = await store.checkpoint(analytics.CONSUMER)
    return found


def two_workers_at_speed_10() -> Simulation:
    """Order 1 (cola 10 s + salad 20 s) and order 2 (burger 100 s) at T0, two workers:
    worker 1 makes the cola (0-10) then the burger (10-110), worker 2 the salad (0-20).
    Order 1 is ready at 20, order 2 at 110 kitchen seconds; a wall second is 10 of them."""
    sim = Simulation(fixed_menu(), KitchenSetup(workers=2, stock_target=0, speed=10), seed=1)
    sim.place(lines(cola=1, salad=1))
    sim.place(lines(burger=1))
    sim.run_until_quiet()
    return sim


# --- measuring tools ------------------------------------------------------------------------


@pytest.mark.parametrize(("samples", "fraction", "expected"), [
    ([], 0.5, None), ([7.0], 0.9, 7.0), ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
    ([1.0, 2.0, 3.0, 4.0], 0.9, 3.7), ([20.0, 110.0], 0.9, 101.0)])
def test_percentiles_interpolate_between_the_closest_ranks(
        samples: list[float], fraction: float, expected: float | None) -> None:
    assert percentile(samples, fraction) == pytest.approx(expected)


def test_the_kitchen_clock_counts_each_stretch_at_its_own_speed() -> None:
    clock = KitchenTime()
    clock.configure(T0, speed=10, workers=2)
    clock.configure(T0 + timedelta(seconds=10), speed=60, workers=3)

    assert clock.at(T0 + timedelta(seconds=5)) == pytest.approx(50)
    assert clock.at(T0 + timedelta(seconds=20)) == pytest.approx(100 + 600)
    assert clock.wall_at(700) == T0 + timedelta(seconds=20)
    assert clock.worker_seconds(0, 700) == pytest.approx(100 * 2 + 600 * 3)
    assert clock.worker_seconds(0, 700, worker=3) == pytest.approx(600)


# --- the summary ----------------------------------------------------------------------------


async def test_waits_throughput_and_utilisation_of_two_workers() -> None:
    queries, _ = await analyse(fixed_menu(), two_workers_at_speed_10().log)

    summary = await queries.analytics_summary()

    assert summary["as_of"] == (T0 + timedelta(seconds=11)).isoformat()
    assert summary["kitchen_seconds"] == pytest.approx(110)
    assert (summary["orders_placed"], summary["orders_ready"], summary["orders_collected"],
            summary["orders_waiting"]) == (2, 2, 0, 0)
    assert summary["wait_placed_to_ready"] == {
        "count": 2, "mean_seconds": 65.0, "p50_seconds": 65.0, "p90_seconds": 101.0,
        "max_seconds": 110.0, "mean_wall_seconds": 6.5, "p50_wall_seconds": 6.5,
        "p90_wall_seconds": 10.1, "max_wall_seconds": 11.0}
    assert summary["wait_ready_to_collected"]["count"] == 0
    assert summary["throughput_per_kitchen_hour"] == pytest.approx(2 / (110 / 3600), abs=1e-3)
    # busy: worker 1 10 + 100 s, worker 2 20 s, out of 2 x 110 s
    assert summary["busy_worker_seconds"] == pytest.approx(130)
    assert summary["worker_seconds"] == pytest.approx(220)
    assert summary["utilisation"] == pytest.approx(130 / 220, abs=1e-3)
    assert summary["per_worker"] == [
        {"worker": 1, "busy_seconds": 110.0, "utilisation": 1.0},
        {"worker": 2, "busy_seconds": 20.0, "utilisation": pytest.approx(20 / 110, abs=1e-3)}]
    assert (summary["queue_length"], summary["busy_workers"]) == (0, 0)
    assert (summary["units_from_stock"], summary["units_from_kitchen"]) == (0, 3)
    assert summary["stock_share"] == 0.0
    assert (summary["speed"], summary["workers"]) == (10, 2)


async def test_work_in_progress_counts_up_to_the_newest_event() -> None:
    sim = Simulation(fixed_menu(), KitchenSetup(workers=2, stock_target=0, speed=10), seed=1)
    sim.place(lines(burger=1))
    sim.advance(0)
    sim.advance(3)  # nothing happens: analytics only knows time from events
    sim.place(lines(cola=1))  # at 30 kitchen seconds; worker 2 starts the cola
    sim.advance(0)

    summary = await (await analyse(fixed_menu(), sim.log))[0].analytics_summary()

    assert summary["kitchen_seconds"] == pytest.approx(30)
    assert summary["busy_workers"] == 2
    assert summary["busy_worker_seconds"] == pytest.approx(30)  # the burger, 0-30
    assert summary["utilisation"] == pytest.approx(30 / 60)
    assert summary["orders_waiting"] == 2
    assert summary["throughput_per_kitchen_hour"] == 0


async def test_refills_stock_share_and_the_wait_until_collected() -> None:
    # one worker keeps one burger in stock: a refill at 0-100; the order takes it at 100, the
    # worker makes the next refill (100-200); the customer collects at 250
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=1), seed=1)
    sim.run_until_quiet()
    number = sim.place(lines(burger=1))
    sim.run_until_quiet()
    sim.advance(50)
    sim.collect(number)

    queries, _ = await analyse(fixed_menu(), sim.log)
    summary = await queries.analytics_summary()

    assert (summary["units_from_stock"], summary["units_from_kitchen"]) == (1, 0)
    assert summary["stock_share"] == 1.0
    assert (summary["refill_units"], summary["units_stocked"]) == (2, 2)
    assert summary["wait_placed_to_ready"]["max_seconds"] == 0.0
    assert summary["wait_ready_to_collected"] == {
        "count": 1, "mean_seconds": 150.0, "p50_seconds": 150.0, "p90_seconds": 150.0,
        "max_seconds": 150.0, "mean_wall_seconds": 150.0, "p50_wall_seconds": 150.0,
        "p90_wall_seconds": 150.0, "max_wall_seconds": 150.0}
    assert summary["orders_collected"] == 1
    assert summary["utilisation"] == pytest.approx(200 / 250)


# --- estimates ------------------------------------------------------------------------------


def slower_cola_faster_salad() -> tuple[Menu, Simulation]:
    """The menu analytics knows says cola 10 s and salad 40 s; the kitchen takes 25 s and 20 s
    (speed 10: 2.5 and 2 wall seconds). Order 1 (cola) at 0 is promised at 10, ready at 25:
    +15 s. Order 2 (salad) at 30 is promised at 70 (nothing learned about salads), ready at
    50: -20 s."""
    told = Menu([item("cola", 10), item("salad", 40)])
    sim = Simulation(Menu([item("cola", 25), item("salad", 20)]),
                     KitchenSetup(workers=1, stock_target=0, speed=10), seed=1)
    sim.place(lines(cola=1))
    sim.advance(3)
    sim.place(lines(salad=1))
    sim.run_until_quiet()
    return told, sim


async def test_estimate_errors_are_the_actual_minus_the_estimate_at_placement() -> None:
    told, sim = slower_cola_faster_salad()
    queries, _ = await analyse(told, sim.log)

    estimates = await queries.recent_estimates(50)
    summary = await queries.analytics_summary()

    assert [e["number"] for e in estimates] == [2, 1]  # newest first
    second, first = estimates
    assert first["estimated_at_placement"] == (T0 + timedelta(seconds=1)).isoformat()
    assert first["ready_at"] == (T0 + timedelta(seconds=2.5)).isoformat()
    assert (first["error_seconds"], first["error_wall_seconds"]) == (15.0, 1.5)
    assert (first["wait_seconds"], second["wait_seconds"]) == (25.0, 20.0)
    assert second["estimated_at_placement"] == (T0 + timedelta(seconds=7)).isoformat()
    assert (second["error_seconds"], second["error_wall_seconds"]) == (-20.0, -2.0)
    assert summary["estimate_error"] == {
        "count": 2, "mean_abs_seconds": 17.5, "p50_abs_seconds": 17.5, "p90_abs_seconds": 19.5,
        "max_abs_seconds": 20.0, "mean_abs_wall_seconds": 1.75, "p50_abs_wall_seconds": 1.75,
        "p90_abs_wall_seconds": 1.95, "max_abs_wall_seconds": 2.0, "bias_seconds": -2.5}


async def test_an_order_not_ready_has_no_error_yet_and_limit_keeps_the_newest() -> None:
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=0), seed=1)
    for _ in range(3):
        sim.place(lines(cola=1))
    sim.advance(15)  # order 1 ready at 10; orders 2 and 3 wait

    queries, _ = await analyse(fixed_menu(), sim.log)
    newest = await queries.recent_estimates(2)

    assert [(e["number"], e["ready_at"], e["error_seconds"]) for e in newest] == [
        (3, None, None), (2, None, None)]
    assert newest[0]["estimated_at_placement"] == (T0 + timedelta(seconds=30)).isoformat()
    assert (await queries.analytics_summary())["estimate_error"]["count"] == 1


# --- preparation times per item -------------------------------------------------------------


async def test_item_statistics_over_every_unit_and_the_recent_window() -> None:
    menu = Menu([item("cola", 10, variance=5), item("salad", 20)])
    sim = Simulation(menu, KitchenSetup(workers=1, stock_target=0, speed=2), seed=3)
    sim.place(lines(cola=20))
    sim.place(lines(cola=5))
    sim.run_until_quiet()
    # what the kitchen drew, in kitchen seconds (the events carry wall seconds)
    drawn = [e.duration_seconds * 2 for e in of_type(sim.log, PreparationStarted)]

    queries, _ = await analyse(menu, sim.log)
    cola, salad = await queries.item_stats()

    assert cola["count"] == 25 and cola["window"] == 20 and cola["recent_count"] == 20
    assert cola["mean_seconds"] == pytest.approx(statistics.mean(drawn), abs=1e-3)
    everything = statistics.quantiles(drawn, n=10, method="inclusive")
    recent = statistics.quantiles(drawn[-20:], n=10, method="inclusive")
    assert cola["p50_seconds"] == pytest.approx(everything[4], abs=1e-3)
    assert cola["p90_seconds"] == pytest.approx(everything[8], abs=1e-3)
    assert cola["recent_mean_seconds"] == pytest.approx(statistics.mean(drawn[-20:]), abs=1e-3)
    assert cola["recent_p90_seconds"] == pytest.approx(recent[8], abs=1e-3)
    assert cola["max_seconds"] == pytest.approx(max(drawn), abs=1e-3)
    assert (cola["name"], cola["menu_seconds"]) == ("Cola", 10)
    assert salad == {"item": "salad", "name": "Salad", "menu_seconds": 20, "count": 0,
                     "mean_seconds": None, "p50_seconds": None, "p90_seconds": None,
                     "max_seconds": None, "window": 20, "recent_count": 0,
                     "recent_mean_seconds": None, "recent_p50_seconds": None,
                     "recent_p90_seconds": None, "recent_max_seconds": None}


# --- the timeline ---------------------------------------------------------------------------


def three_burgers_one_by_one() -> Simulation:
    """One worker, speed 10, three one-burger orders at 0: ready at 100, 200 and 300 kitchen
    seconds; the queue holds 2 units from 0, 1 from 100, none from 200."""
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=0, speed=10), seed=1)
    for _ in range(3):
        sim.place(lines(burger=1))
    sim.run_until_quiet()
    return sim


async def test_the_timeline_follows_queue_busy_workers_and_ready_orders() -> None:
    queries, _ = await analyse(fixed_menu(), three_burgers_one_by_one().log)

    minutes = await queries.timeline(60, 100)

    assert [b["start_kitchen_seconds"] for b in minutes] == [0, 60, 120, 180, 240, 300]
    assert [b["queue_length"] for b in minutes] == [2, 1, 1, 0, 0, 0]
    assert [b["orders_ready"] for b in minutes] == [0, 1, 0, 1, 0, 1]
    assert [b["mean_wait_seconds"] for b in minutes] == [None, 100, None, 200, None, 300]
    assert [b["busy_workers"] for b in minutes[:5]] == [1, 1, 1, 1, 1]
    assert minutes[-1]["elapsed_seconds"] == 0  # the last event is at 300 exactly
    assert minutes[2]["start"] == (T0 + timedelta(seconds=12)).isoformat()

    pairs = await queries.timeline(120, 100)
    assert [(b["start_kitchen_seconds"], b["queue_length"], b["orders_ready"],
             b["mean_wait_seconds"], b["utilisation"]) for b in pairs] == [
        (0, 1, 1, 100, 1), (120, 0, 1, 200, 1), (240, 0, 1, 300, 1)]
    assert [b["start_kitchen_seconds"] for b in await queries.timeline(60, 2)] == [240, 300]


async def test_idle_minutes_are_filled_in_between_stored_buckets() -> None:
    sim = three_burgers_one_by_one()
    sim.advance(70)  # idle until 1000 kitchen seconds; the cola is ready at 1010
    sim.place(lines(cola=1))
    sim.run_until_quiet()

    queries, store = await analyse(fixed_menu(), sim.log)
    minutes = await queries.timeline(60, 1000)

    stored = [doc["bucket"] for doc in await store.find(analytics.TIMELINE)]
    assert stored == [0, 1, 2, 3, 4, 5, 16]  # the idle minutes are not written
    assert [b["start_kitchen_seconds"] for b in minutes] == list(range(0, 960 + 1, 60))
    idle = minutes[6:16]
    assert {(b["queue_length"], b["orders_ready"], b["busy_workers"]) for b in idle} == {
        (0, 0, 0)}
    assert idle[0]["start"] == (T0 + timedelta(seconds=36)).isoformat()
    assert minutes[16]["orders_ready"] == 1 and minutes[16]["mean_wait_seconds"] == 10


async def test_before_any_event_every_query_answers_an_empty_shape() -> None:
    queries = Queries(InMemoryReadModelStore(), fixed_menu())

    summary = await queries.analytics_summary()

    assert summary["orders_placed"] == 0 and summary["utilisation"] is None
    assert summary["wait_placed_to_ready"]["count"] == 0
    assert [s["count"] for s in await queries.item_stats()] == [0, 0, 0]
    assert await queries.recent_estimates(10) == []
    assert await queries.timeline(300, 10) == []
    with pytest.raises(ValueError, match="multiple of 60"):
        await queries.timeline(90, 10)


# --- idempotency ----------------------------------------------------------------------------


def a_busy_day(interleave_seed: int = 0) -> tuple[Menu, list[Event]]:
    """Random times, refills, stock, collections: something where many documents change."""
    menu = Menu([item("burger", 120, favorite=True, variance=30), item("cola", 10, variance=3),
                 item("salad", 40, variance=10)])
    sim = Simulation(menu, KitchenSetup(workers=2, stock_target=2, speed=30.0), seed=5)
    for index in range(12):
        number = sim.place([OrderLine("burger", 1 + index % 3), OrderLine("cola", 1)]
                           + ([OrderLine("salad", 2)] if index % 4 == 0 else []))
        sim.advance(2 + index % 5)
        if index % 3 == 0:
            sim.run_until_quiet()
            sim.collect(number)
    sim.run_until_quiet()
    return menu, sim.log


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 50])
async def test_the_documents_do_not_depend_on_where_batches_are_cut(batch_size: int) -> None:
    menu, log = a_busy_day()
    _, whole = await analyse(menu, log)
    _, cut = await analyse(menu, log, batch_size)

    assert await documents(cut) == await documents(whole)


async def append_log(store: EventStore, log: Sequence[Event], done: int = 0) -> None:
    """Append ``log[done:]`` to ``store``, which holds ``log[:done]``, in log order."""
    versions: dict[str, int] = {}
    for index, event in enumerate(log):
        stream = stream_name(event.CATEGORY, event.restaurant_id)
        if index >= done:
            await store.append(stream, [event], versions.get(stream, 0))
        versions[stream] = versions.get(stream, 0) + 1


@pytest.mark.parametrize("snapshot_every", [10_000, 25])  # none taken / several taken
async def test_a_restart_rebuilds_memory_writes_nothing_and_then_carries_on_alike(
        snapshot_every: int) -> None:
    menu, log = a_busy_day()
    half = len(log) // 2
    events, store = InMemoryEventStore(), InMemoryReadModelStore()
    await append_log(events, log[:half])
    first = Analytics(events, store, menu, "main", snapshot_every)
    subscription = Subscription("analytics", events, first.handle, batch_size=9)
    subscription.position = await first.start()
    await subscription.poll_once()
    before = await documents(store)

    restarted = Analytics(events, store, menu, "main", snapshot_every)
    again = Subscription("analytics", events, restarted.handle, batch_size=9)
    again.position = await restarted.start()
    assert await again.poll_once() == 0
    assert await documents(store) == before

    await append_log(events, log, half)
    await again.poll_once()
    _, uninterrupted = await analyse(menu, log)
    assert await documents(store) == {**await documents(uninterrupted),
                                      "checkpoint": len(log)}



@pytest.mark.parametrize("snapshot_every", [10_000, 10])
async def test_a_redelivery_after_a_lost_checkpoint_changes_no_document(
        snapshot_every: int) -> None:
    """Without transactions (MongoDB) a commit may write its documents and not the checkpoint:
    the restarted consumer handles those events again, and must change nothing (a snapshot
    written ahead of the checkpoint is not used)."""
    menu, log = a_busy_day()
    events, store = InMemoryEventStore(), InMemoryReadModelStore()
    await append_log(events, log)
    consumer = Analytics(events, store, menu, "main", snapshot_every)
    await consumer.start()
    batch = records(log)
    await consumer.handle(batch[:40])
    await consumer.handle(batch[40:])
    once = await documents(store)

    store._checkpoints[analytics.CONSUMER] = 40  # the second commit's checkpoint was lost
    restarted = Analytics(events, store, menu, "main", snapshot_every)
    assert await restarted.start() == 40
    for start in range(40, len(batch), 13):  # redelivered in other batches
        await restarted.handle(batch[start:start + 13])
    await restarted.handle(batch)  # and all of it once more

    assert await documents(store) == once


class CountingEventStore(InMemoryEventStore):
    """Counts the log events a consumer reads at start-up."""

    read = 0

    async def read_all(self, after_position: int = 0, limit: int = 500,
                       categories: Collection[str] | None = None) -> list[RecordedEvent]:
        found = await super().read_all(after_position, limit, categories)
        self.read += len(found)
        return found


async def analysed_with_snapshots(
) -> tuple[Menu, list[Event], CountingEventStore, InMemoryReadModelStore, Analytics]:
    """A busy day handled in batches of 9, a snapshot every 20 events or so."""
    menu, log = a_busy_day()
    events, store = CountingEventStore(), InMemoryReadModelStore()
    await append_log(events, log)
    first = Analytics(events, store, menu, "main", snapshot_every=20)
    await first.start()
    for batch in chunks(records(log), 9):
        await first.handle(batch)
    events.read = 0
    return menu, log, events, store, first


async def test_a_restart_reads_the_snapshot_and_only_the_log_after_it() -> None:
    menu, log, events, store, first = await analysed_with_snapshots()

    restarted = Analytics(events, store, menu, "main", snapshot_every=20)
    assert await restarted.start() == len(log)

    interval = first.snapshot_interval()  # the values the snapshot holds (20 at least)
    assert len(log) > interval + 9 and events.read < interval + 9  # one interval and a batch
    assert restarted._state() == first._state()


async def test_an_unknown_snapshot_schema_means_a_replay_with_the_same_memory() -> None:
    menu, log, events, store, first = await analysed_with_snapshots()
    snapshot = await store.get_versioned(analytics.SNAPSHOT, analytics.SNAPSHOT_KEY)
    assert snapshot is not None
    # as a later release would have written it, at the same position
    store._collections[analytics.SNAPSHOT][analytics.SNAPSHOT_KEY] = _Stored(
        0, snapshot[1], json.dumps({**snapshot[0], "schema": 99}))

    restarted = Analytics(events, store, menu, "main", snapshot_every=20)
    await restarted.start()

    assert events.read == len(log)
    assert restarted._state() == first._state()


async def test_memory_holds_only_orders_not_collected_yet() -> None:
    menu, log = a_busy_day()
    _, store = await analyse(menu, log, 9)
    consumer = Analytics(InMemoryEventStore(), InMemoryReadModelStore(), menu, "main")
    for batch in chunks(records(log), 9):
        await consumer.handle(batch)
    collected = {e.number for e in log if isinstance(e, OrderCollected)}
    placed = {e.number for e in log if isinstance(e, OrderPlaced)}

    assert collected and not collected & set(consumer.measured.placed)
    assert set(consumer.measured.placed) == placed - collected
    assert set(consumer.estimates.ordering.orders) == placed - collected
    summary = (await documents(store))[analytics.SUMMARY][0]  # type: ignore[index]
    assert summary["orders_placed"] == len(placed)
    assert summary["orders_collected"] == len(collected)


def chunks(batch: list[RecordedEvent], size: int) -> list[list[RecordedEvent]]:
    return [batch[start:start + size] for start in range(0, len(batch), size)]


async def test_an_order_placed_ready_and_collected_within_one_instant_is_recorded() -> None:
    """Served from stock and collected at once (the customer waited at the counter): the
    order has left the mirror by the time the instant is estimated, and is recorded all the
    same, with no wait."""
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=1), seed=1)
    sim.run_until_quiet()  # a burger in stock
    number = sim.place(lines(burger=1))
    sim.collect(number)

    queries, _ = await analyse(fixed_menu(), sim.log)

    [estimate] = await queries.recent_estimates(10)
    assert estimate["number"] == number and estimate["wait_seconds"] == 0.0
    assert estimate["ready_at"] == estimate["placed_at"]
    summary = await queries.analytics_summary()
    assert summary["orders_collected"] == 1 and summary["orders_waiting"] == 0
