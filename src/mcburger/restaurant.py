"""One restaurant's process at run time: the ``Restaurant`` the composition root
(``bootstrap.py``) wires, which starts the rows of the event flow (``application/flow.py``)
whose role runs in this process, each on its feed under the process's ``Supervisor``, and stops
them. The roles a process may run are named here."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from mcburger.adapters.metrics import PrometheusMetrics
from mcburger.adapters.serialization import DEAD_LETTER_TOPIC, JsonEventCodec, topic_of_category
from mcburger.application.analytics import Analytics
from mcburger.application.board_hub import BoardHub
from mcburger.application.feeds import Feed
from mcburger.application.feeds.bus import BusSubscription, DeadLetters
from mcburger.application.feeds.log import (
    REBUILD_EVENTS,
    ConsumerFailed,
    SharedSubscription,
    Subscription,
)
from mcburger.application.flow import FLOW, Kind, Wired, wired
from mcburger.application.kitchen_service import KitchenService
from mcburger.application.ordering_service import OrderingService
from mcburger.application.ports import Bus, Clock, EventCodec, EventStore, ReadModelStore
from mcburger.application.queries import Queries
from mcburger.application.relay import Relay
from mcburger.application.views import ViewsProjection
from mcburger.config import Settings
from mcburger.domain.events import CATEGORIES
from mcburger.domain.menu import Menu
from mcburger.health import Health
from mcburger.supervisor import Supervisor

log = logging.getLogger("mcburger")

ROLES = ("api", "ordering", "kitchen", "board", "analytics", "relay")  # a restaurant's services
EMBEDDED_ROLES = frozenset(ROLES) - {"relay"}  # one process follows the log directly
# A process that serves only the board's page and feeds (WebSocket, SSE, long-poll) from the read
# models another process writes, and runs no consumer: as many as the screens need, beside an
# embedded `mcburger run` or a distributed restaurant (docs/architecture.md, "The board").
BOARD_FEEDS = "board-feeds"
SERVING_ROLES = frozenset({"api", "board", BOARD_FEEDS})  # processes that serve routes and feeds
# Far-behind projections rebuilt in worker processes, costliest first (measured alone on the
# 10,000-order log: analytics 25,000 events/s, views 58,000, views-kitchen 126,000).
REBUILD_ELSEWHERE_FIRST = ("analytics", "views", "views-kitchen")


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
    event_store: EventStore
    read_models: ReadModelStore
    ordering: OrderingService
    kitchen: KitchenService
    views: ViewsProjection
    analytics: Analytics
    queries: Queries
    metrics: PrometheusMetrics
    board: BoardHub  # the board feeds' one reader of board changes (processes serving them)
    supervisor: Supervisor
    health: Health
    roles: frozenset[str] = EMBEDDED_ROLES
    bus: Bus | None = None
    relay: Relay | None = None  # with a bus only: what publishes the log to it
    # Worker processes a far-behind projection may be rebuilt in: only when the stores come
    # from the settings (a worker opens them again), never with injected ones (tests).
    rebuild_processes: int = 0
    codec: EventCodec = field(default_factory=JsonEventCodec)

    @property
    def feeds(self) -> dict[str, Feed]:
        """The running consumers' feeds, by consumer name (what ``Health`` measures)."""
        return self.health.feeds

    def consumers(self, roles: frozenset[str] | None = None) -> dict[str, Wired]:
        """The rows of the event flow whose role is in ``roles`` (default: every row this
        wiring can run; the relay only with a bus), resolved here, by consumer name."""
        return {consumer.name: wired(consumer, self) for consumer in FLOW
                if (roles is None or consumer.role in roles)
                and (consumer.kind is not Kind.RELAY or self.relay is not None)}

    async def start(self) -> None:
        if self.bus is not None:
            await self.bus.create_topics(
                [topic_of_category(c) for c in CATEGORIES] + [DEAD_LETTER_TOPIC],
                self.settings.topic_partitions)
        if "relay" in self.roles and self.relay is None:
            raise ValueError("the relay needs a bus (MCBURGER_KAFKA_BOOTSTRAP)")
        if "kitchen" in self.roles:
            await self.kitchen.start()
        projections: dict[str, Wired] = {}
        for name, consumer in self.consumers(self.roles).items():
            if self.bus is None and consumer.declared.projection:
                projections[name] = consumer
            else:
                self._start_feed(self._feed(consumer), consumer.checkpoint)
        if projections:
            self._start_projections(projections)
        if "kitchen" in self.roles:
            self.supervisor.spawn("kitchen-timers", self.kitchen.run_timers)
        if self.roles & SERVING_ROLES:
            self.supervisor.spawn("board-hub", self.board.run)
        if self.feeds:
            self.supervisor.spawn("lag-watch", self.health.watch_lag)

    def waits_for_own_read_models(self) -> bool:
        """Whether this process writes the views and the estimates itself (embedded), so a
        command's answer may wait for them; a distributed api never waits on another process."""
        return {"board", "analytics"} <= self.roles and self.bus is None

    def _feed(self, consumer: Wired) -> Feed:
        """The log (the relay, and every consumer without a bus), else the consumer's topics."""
        declared = consumer.declared
        if self.bus is None or declared.kind is Kind.RELAY:
            return Subscription(declared.name, self.event_store, consumer.handle,
                                declared.log_categories)
        group = f"{declared.name}.{self.settings.restaurant_id}"
        topics = [topic_of_category(category) for category in declared.reads]
        return BusSubscription(declared.name, self.bus.consumer(group, topics), self.codec,
                               consumer.handle, self.settings.restaurant_id,
                               DeadLetters(self.bus, DEAD_LETTER_TOPIC),
                               in_log_order=declared.in_log_order)

    def _start_feed(self, feed: Feed, checkpoint: Callable[[], Awaitable[int]]) -> None:
        self.feeds[feed.name] = feed

        async def run() -> None:
            await feed.run(await checkpoint())

        self.supervisor.spawn(feed.name, run)

    def _start_projections(self, projections: dict[str, Wired]) -> None:
        """The projections following the log, on one read of it (one task, ``projections``);
        those far behind may first be rebuilt in worker processes, and join it after."""
        feeds = {name: Subscription(name, self.event_store, consumer.handle,
                                    consumer.declared.log_categories)
                 for name, consumer in projections.items()}
        self.feeds.update(feeds)

        async def run() -> None:
            after = {name: await consumer.checkpoint() for name, consumer in projections.items()}
            head = await self.event_store.last_position()
            elsewhere = [name for name in REBUILD_ELSEWHERE_FIRST if name in after
                         and head - after[name] >= REBUILD_EVENTS][:self.rebuild_processes]
            here = [name for name in projections if name not in elsewhere]
            shared = SharedSubscription("projections", self.event_store, [feeds[n] for n in here])
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

        self.supervisor.spawn("projections", run)

    async def _rebuild_elsewhere(self, name: str, consumer: Wired, feed: Subscription,
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

    async def stop(self) -> None:
        """Stop every component (bounded: a stop must always reach closing the stores)."""
        await self.supervisor.stop()
        await self.event_store.close()
        await self.read_models.close()
        if self.bus is not None:
            await self.bus.close()
