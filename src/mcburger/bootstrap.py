"""The composition root: builds every adapter from settings and wires the services."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcburger.adapters.clock import SystemClock
from mcburger.adapters.eventstore.sqlite import SQLiteEventStore
from mcburger.adapters.metrics import PrometheusMetrics
from mcburger.adapters.readmodels.sqlite import SQLiteReadModelStore
from mcburger.adapters.serialization import DEAD_LETTER_TOPIC, JsonEventCodec, topic_of_category
from mcburger.application.analytics import Analytics
from mcburger.application.board_hub import BoardHub
from mcburger.application.bus_subscription import BusSubscription, DeadLetters
from mcburger.application.kitchen_service import KitchenService
from mcburger.application.lag import SAMPLE_SECONDS, LagWatch
from mcburger.application.ordering_service import OrderingService
from mcburger.application.ports import Bus, Clock, EventCodec, EventStore, ReadModelStore
from mcburger.application.queries import Queries
from mcburger.application.relay import Relay
from mcburger.application.subscription import (
    REBUILD_EVENTS,
    BatchHandler,
    ConsumerFailed,
    SharedSubscription,
    Subscription,
)
from mcburger.application.views import ViewsProjection
from mcburger.config import Settings
from mcburger.domain.events import CATEGORIES, KITCHEN, ORDERING
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.menu import Menu

log = logging.getLogger("mcburger")

RESTART_DELAY_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 5.0


ROLES = ("api", "ordering", "kitchen", "board", "analytics", "relay")
EMBEDDED_ROLES = frozenset(ROLES) - {"relay"}  # one process follows the log directly
SERVING_ROLES = frozenset({"api", "board"})  # processes that serve customers' routes and feeds
# Far-behind projections rebuilt in worker processes, costliest first (measured alone on the
# 10,000-order log: analytics 25,000 events/s, views 58,000, views-kitchen 126,000).
REBUILD_ELSEWHERE_FIRST = ("analytics", "views", "views-kitchen")


@dataclass(frozen=True)
class Consumer:
    """A service's consumer: which role runs it, what it handles, where it restarts from."""

    role: str
    handle: BatchHandler
    checkpoint: Callable[[], Awaitable[int]]
    categories: tuple[str, ...]
    in_log_order: bool = False  # reads several topics: restore the log's order
    # Writes read models only (decides nothing): following the log, the process's projections
    # share one read of it; a deciding consumer keeps its own, never waiting for a projection.
    projection: bool = False


@dataclass
class Restaurant:
    """Everything one restaurant runs, wired; ``start`` launches this process's share of it.

    ``roles`` says which services run here: all but the relay when embedded (consumers follow
    the event store's log), one per process when distributed (consumers read the bus, and the
    relay is what feeds the bus from the log).
    """

    settings: Settings
    menu: Menu
    clock: Clock
    events: EventStore
    read_models: ReadModelStore
    ordering: OrderingService
    kitchen: KitchenService
    views: ViewsProjection
    analytics: Analytics
    queries: Queries
    metrics: PrometheusMetrics
    board: BoardHub  # the board feeds' one reader of board changes (processes serving them)
    roles: frozenset[str] = EMBEDDED_ROLES
    bus: Bus | None = None
    # Worker processes a far-behind projection may be rebuilt in: only when the stores come
    # from the settings (a worker opens them again), never with injected ones (tests).
    rebuild_processes: int = 0
    codec: EventCodec = field(default_factory=JsonEventCodec)
    feeds: dict[str, Subscription | BusSubscription] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    failed_at: dict[str, float] = field(default_factory=dict)
    lag_watch: LagWatch = field(default_factory=LagWatch)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def consumers(self) -> dict[str, Consumer]:
        return {
            "ordering": Consumer("ordering", self.ordering.handle_kitchen_events,
                                 self.ordering.checkpoint, (KITCHEN,)),
            "kitchen": Consumer("kitchen", self.kitchen.handle_ordering_events,
                                self.kitchen.checkpoint, (ORDERING,)),
            "views": Consumer("board", self.views.handle, self.views.checkpoint, (ORDERING,),
                              projection=True),
            "views-kitchen": Consumer("board", self.views.handle_kitchen,
                                      self.views.kitchen_checkpoint, (KITCHEN,), projection=True),
            "analytics": Consumer("analytics", self.analytics.handle, self.analytics.start,
                                  CATEGORIES, in_log_order=True, projection=True),
        }

    async def start(self) -> None:
        if self.bus is not None:
            await self.bus.create_topics(
                [topic_of_category(c) for c in CATEGORIES] + [DEAD_LETTER_TOPIC],
                self.settings.topic_partitions)
        if "kitchen" in self.roles:
            await self.kitchen.start()
        projections: dict[str, Consumer] = {}
        for name, consumer in self.consumers().items():
            if consumer.role not in self.roles:
                continue
            if self.bus is None and consumer.projection:
                projections[name] = consumer
            else:
                self._start_feed(self._feed(name, consumer), consumer.checkpoint)
        if projections:
            self._start_projections(projections)
        if "relay" in self.roles:
            if self.bus is None:
                raise ValueError("the relay needs a bus (MCBURGER_KAFKA_BOOTSTRAP)")
            relay = Relay(self.events, self.bus, self.codec)
            self._start_feed(Subscription("relay", self.events, relay.publish, CATEGORIES),
                             relay.checkpoint)
        if "kitchen" in self.roles:
            self._spawn("kitchen-timers", self.kitchen.run_timers)
        if self.roles & SERVING_ROLES:
            self._spawn("board-hub", self.board.run)
        if self.feeds:
            self._spawn("lag-watch", self._watch_lag)

    async def _watch_lag(self) -> None:
        """Sample every consumer's lag at a fixed pace, for /healthz's ``falling_behind``."""
        while True:
            self.lag_watch.record(await self.lag())
            await asyncio.sleep(SAMPLE_SECONDS)

    def waits_for_own_read_models(self) -> bool:
        """Whether this process writes the views and the estimates itself (embedded), so a
        command's answer may wait for them; a distributed api never waits on another process."""
        return {"board", "analytics"} <= self.roles and self.bus is None

    def _feed(self, name: str, consumer: Consumer) -> Subscription | BusSubscription:
        if self.bus is None:
            categories = None if consumer.in_log_order else consumer.categories
            return Subscription(name, self.events, consumer.handle, categories)
        group = f"{name}.{self.settings.restaurant_id}"
        topics = [topic_of_category(category) for category in consumer.categories]
        return BusSubscription(name, self.bus.consumer(group, topics), self.codec,
                               consumer.handle, self.settings.restaurant_id,
                               DeadLetters(self.bus, DEAD_LETTER_TOPIC),
                               in_log_order=consumer.in_log_order)

    def _start_feed(self, feed: Subscription | BusSubscription,
                    checkpoint: Callable[[], Awaitable[int]]) -> None:
        self.feeds[feed.name] = feed

        async def run() -> None:
            await feed.run(await checkpoint())

        self._spawn(feed.name, run)

    def _start_projections(self, projections: dict[str, Consumer]) -> None:
        """The projections following the log, on one read of it (one task, ``projections``);
        those far behind may first be rebuilt in worker processes, and join it after."""
        feeds = {name: Subscription(name, self.events, consumer.handle,
                                    None if consumer.in_log_order else consumer.categories)
                 for name, consumer in projections.items()}
        self.feeds.update(feeds)

        async def run() -> None:
            after = {name: await consumer.checkpoint() for name, consumer in projections.items()}
            head = await self.events.last_position()
            elsewhere = [name for name in REBUILD_ELSEWHERE_FIRST if name in after
                         and head - after[name] >= REBUILD_EVENTS][:self.rebuild_processes]
            here = [name for name in projections if name not in elsewhere]
            shared = SharedSubscription("projections", self.events, [feeds[n] for n in here])
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(shared.run([after[name] for name in here]))
                    for name in elsewhere:
                        feeds[name].position = feeds[name].scanned = after[name]
                        group.create_task(self._rebuild_elsewhere(
                            name, projections[name], feeds[name], shared))
            except* ConsumerFailed as failed:
                error = failed.exceptions[0]
                raise error from error.__cause__  # the failure itself, not its group

        self._spawn("projections", run)

    async def _rebuild_elsewhere(self, name: str, consumer: Consumer, feed: Subscription,
                                 shared: SharedSubscription) -> None:
        """Rebuild projection ``name`` in a worker process (``mcburger.entrypoints.rebuild``),
        then restore it here from its checkpoint and let it join ``shared``. A worker that
        fails is logged and the projection catches up here; one still running when this is
        cancelled is killed first (nothing else may write its read models)."""
        log.info("%s: rebuilding in a worker process", name)
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mcburger.entrypoints.rebuild", name, str(os.getpid()),
            stdin=asyncio.subprocess.PIPE)
        try:
            assert worker.stdin is not None
            # Not the staff token: a worker serves nothing, and a SecretStr dumps as stars
            worker.stdin.write(self.settings.model_dump_json(exclude={"staff_token"}).encode())
            await worker.stdin.drain()
            worker.stdin.close()
            while True:
                try:
                    await asyncio.wait_for(worker.wait(), timeout=1.0)
                    break
                except TimeoutError:  # its progress, for /healthz: a lag that shrinks
                    feed.position = max(feed.position, await self.read_models.checkpoint(name))
        finally:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        if worker.returncode != 0:
            log.warning("%s: the rebuild worker ended with status %s; catching up here",
                        name, worker.returncode)
        shared.join(feed, await consumer.checkpoint())

    def _spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self._tasks.append(asyncio.create_task(self._supervise(name, run), name=name))

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Keep a component running: log a crash, record it for /healthz, start it again."""
        while True:
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # stopping: an error raised while unwinding is no reason to restart
                log.exception("%s failed; restarting", name)
                self.failures[name] = f"{type(error).__name__}: {error}"
                self.failed_at[name] = asyncio.get_running_loop().time()
                await asyncio.sleep(RESTART_DELAY_SECONDS)

    def recent_failures(self, within_seconds: float = 300.0) -> dict[str, str]:
        """Components that crashed (and were restarted) in the last few minutes."""
        now = asyncio.get_running_loop().time()
        return {name: self.failures[name] for name, at in self.failed_at.items()
                if now - at <= within_seconds}

    async def lag(self) -> dict[str, int]:
        """Per consumer: events (log) or messages (bus) not yet taken in."""
        head = await self.events.last_position()
        lags: dict[str, int] = {}
        for name, feed in self.feeds.items():
            if isinstance(feed, BusSubscription):
                lags[name] = await feed.lag()
            else:
                lags[name] = max(0, head - max(feed.position, feed.scanned))
        for name, value in lags.items():
            self.metrics.consumer_lag.labels(name).set(value)
        return lags

    async def stop(self) -> None:
        """Cancel every component, bounded: a stop must always reach closing the stores."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_TIMEOUT_SECONDS
        running = set(self._tasks)
        while running and loop.time() < deadline:
            # Cancel again each round: a cancellation that races an expiring timeout can be
            # absorbed by the task, which must not keep the process from stopping.
            for task in running:
                task.cancel()
            _, running = await asyncio.wait(running, timeout=0.2)
        for task in running:
            stack = io.StringIO()
            task.print_stack(file=stack)
            log.error("%s did not stop within %s s:\n%s", task.get_name(), STOP_TIMEOUT_SECONDS,
                      stack.getvalue())
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("%s ended with %r", task.get_name(), task.exception())
        self._tasks.clear()
        await self.events.close()
        await self.read_models.close()
        if self.bus is not None:
            await self.bus.close()

    async def dependencies(self) -> dict[str, str]:
        """Each engine this process uses: "ok", or what went wrong reaching it."""
        checks: dict[str, Callable[[], Awaitable[object]]] = {
            "event_store": self.events.last_position,
            "read_models": lambda: self.read_models.checkpoint("views"),
        }
        if self.bus is not None:
            checks["bus"] = self.bus.ping
        found: dict[str, str] = {}
        for name, check in checks.items():
            try:
                async with asyncio.timeout(5):
                    await check()
                found[name] = "ok"
            except Exception as error:
                found[name] = f"{type(error).__name__}: {error}"
        return found


async def bootstrap(settings: Settings, clock: Clock | None = None,
                    events: EventStore | None = None,
                    read_models: ReadModelStore | None = None,
                    bus: Bus | None = None,
                    roles: frozenset[str] = EMBEDDED_ROLES) -> Restaurant:
    """Wire a restaurant: adapters given, else chosen by the settings' URLs, else embedded
    (SQLite files in the data directory). ``roles``: the services this process runs."""
    unknown = roles - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; choose from {', '.join(ROLES)}")
    menu = settings.load_menu()
    clock = clock or SystemClock()
    opened_events, opened_read_models = events is None, read_models is None
    events = events or await open_event_store(settings)
    read_models = read_models or await open_read_models(settings)
    if bus is None and settings.kafka_bootstrap:
        from mcburger.adapters.bus.kafka import KafkaBus
        bus = KafkaBus(settings.kafka_bootstrap, client_id="mcburger-" + "-".join(sorted(roles)))
    rid = settings.restaurant_id
    seed = settings.seed if settings.seed is not None else secrets.randbits(32)
    setup = KitchenSetup(settings.workers, settings.favorites_first, settings.stock_target,
                         settings.speed)
    metrics = PrometheusMetrics()
    queries = Queries(read_models, menu)
    own_stores = opened_events and opened_read_models and bus is None
    rebuild_processes = (settings.rebuild_processes if settings.rebuild_processes is not None
                         else max(0, (os.cpu_count() or 1) - 1)) if own_stores else 0
    return Restaurant(
        settings=settings, menu=menu, clock=clock, events=events, read_models=read_models,
        ordering=OrderingService(events, clock, menu, rid),
        kitchen=KitchenService(events, clock, menu, rid, setup, seed),
        views=ViewsProjection(read_models, menu, metrics),
        analytics=Analytics(events, read_models, menu, rid),
        queries=queries, metrics=metrics, board=BoardHub(queries), roles=roles, bus=bus,
        rebuild_processes=rebuild_processes,
    )


async def open_event_store(settings: Settings) -> EventStore:
    """The event store the settings name: ``MCBURGER_EVENTSTORE_URL``, else SQLite in the data
    directory. Server drivers are imported only when asked for."""
    url = settings.eventstore_url
    if url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return await SQLiteEventStore.open(settings.data_dir / "events.db")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        # sqlite:///relative/events.db, sqlite:////absolute/events.db (as SQLAlchemy has it)
        if not url.startswith("sqlite:///"):
            raise ValueError("MCBURGER_EVENTSTORE_URL: write sqlite:///path/to/events.db")
        return await SQLiteEventStore.open(url.removeprefix("sqlite:///"))
    if scheme in ("postgresql", "postgres"):
        from mcburger.adapters.eventstore.postgres import PostgresEventStore
        return await PostgresEventStore.open(url)
    if scheme in ("kurrentdb", "esdb", "kdb", "esdb+discover", "kurrentdb+discover"):
        from mcburger.adapters.eventstore.kurrentdb import KurrentDBEventStore
        return await KurrentDBEventStore.open(url)
    raise ValueError(f"MCBURGER_EVENTSTORE_URL: unknown scheme {scheme!r} "
                     "(sqlite:///path, postgresql://..., kurrentdb://...)")


async def open_read_models(settings: Settings) -> ReadModelStore:
    """MongoDB when ``MCBURGER_MONGO_URL`` is set, else SQLite in the data directory."""
    if settings.mongo_url:
        from mcburger.adapters.readmodels.mongo import MongoReadModelStore
        return await MongoReadModelStore.open(settings.mongo_url, settings.mongo_database)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return await SQLiteReadModelStore.open(settings.data_dir / "readmodels.db")


def describe(restaurant: Restaurant) -> dict[str, Any]:
    s = restaurant.settings
    return {"restaurant_id": s.restaurant_id, "workers": s.workers, "speed": s.speed,
            "favorites_first": s.favorites_first, "stock_target": s.stock_target}
