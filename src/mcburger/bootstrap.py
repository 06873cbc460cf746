"""The composition root: builds every adapter from settings and wires the services."""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcburger.adapters.clock import SystemClock
from mcburger.adapters.eventstore.sqlite import SQLiteEventStore
from mcburger.adapters.metrics import PrometheusMetrics
from mcburger.adapters.readmodels.sqlite import SQLiteReadModelStore
from mcburger.application.analytics import Analytics
from mcburger.application.kitchen_service import KitchenService
from mcburger.application.ordering_service import OrderingService
from mcburger.application.ports import Clock, EventStore, ReadModelStore
from mcburger.application.queries import Queries
from mcburger.application.subscription import Subscription
from mcburger.application.views import ViewsProjection
from mcburger.config import Settings
from mcburger.domain.events import KITCHEN, ORDERING
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.menu import Menu

log = logging.getLogger("mcburger")

RESTART_DELAY_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 5.0


@dataclass
class Restaurant:
    """Everything one restaurant runs, wired; ``start`` launches the consumers and timers."""

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
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    failed_at: dict[str, float] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        await self.kitchen.start()
        subscriptions = {
            "ordering": (Subscription("ordering", self.events, self.ordering.handle_kitchen_events,
                                      (KITCHEN,)), self.ordering.checkpoint),
            "kitchen": (Subscription("kitchen", self.events, self.kitchen.handle_ordering_events,
                                     (ORDERING,)), self.kitchen.checkpoint),
            "views": (Subscription("views", self.events, self.views.handle, (ORDERING,)),
                      self.views.checkpoint),
            "views-kitchen": (Subscription("views-kitchen", self.events,
                                           self.views.handle_kitchen, (KITCHEN,)),
                              self.views.kitchen_checkpoint),
            "analytics": (Subscription("analytics", self.events, self.analytics.handle),
                          self.analytics.start),
        }
        for name, (subscription, checkpoint) in subscriptions.items():
            self.subscriptions[name] = subscription
            self._spawn(name, _follow(subscription, checkpoint))
        self._spawn("kitchen-timers", self.kitchen.run_timers)

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
        head = await self.events.last_position()
        lags = {name: max(0, head - max(sub.position, sub.scanned))
                for name, sub in self.subscriptions.items()}
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


def _follow(subscription: Subscription,
            checkpoint: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await subscription.run(await checkpoint())
    return run


async def bootstrap(settings: Settings, clock: Clock | None = None,
                    events: EventStore | None = None,
                    read_models: ReadModelStore | None = None) -> Restaurant:
    """Wire the embedded restaurant: SQLite files in the data directory unless given adapters."""
    menu = settings.load_menu()
    clock = clock or SystemClock()
    if events is None or read_models is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    events = events or await SQLiteEventStore.open(settings.data_dir / "events.db")
    read_models = read_models or await SQLiteReadModelStore.open(
        settings.data_dir / "readmodels.db")
    rid = settings.restaurant_id
    seed = settings.seed if settings.seed is not None else secrets.randbits(32)
    setup = KitchenSetup(settings.workers, settings.favorites_first, settings.stock_target,
                         settings.speed)
    metrics = PrometheusMetrics()
    return Restaurant(
        settings=settings, menu=menu, clock=clock, events=events, read_models=read_models,
        ordering=OrderingService(events, clock, menu, rid),
        kitchen=KitchenService(events, clock, menu, rid, setup, seed),
        views=ViewsProjection(read_models, menu, metrics),
        analytics=Analytics(events, read_models, menu, rid),
        queries=Queries(read_models, menu),
        metrics=metrics,
    )


def describe(restaurant: Restaurant) -> dict[str, Any]:
    s = restaurant.settings
    return {"restaurant_id": s.restaurant_id, "workers": s.workers, "speed": s.speed,
            "favorites_first": s.favorites_first, "stock_target": s.stock_target}
