"""What ``/healthz`` and ``/metrics`` report of one process: each engine reached, each consumer's
lag, the components that crashed, the consumers that keep falling behind, the board hub.

``status`` is ``degraded`` when an engine cannot be reached, a component crashed in the last
five minutes (``Supervisor.recent_failures``) or a consumer's lag keeps growing
(``LagWatch``, sampled every ``SAMPLE_SECONDS`` by ``watch_lag``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcburger.adapters.metrics import PrometheusMetrics
from mcburger.application.board_hub import BoardHub
from mcburger.application.feeds import Feed
from mcburger.application.feeds.lag import SAMPLE_SECONDS, LagWatch
from mcburger.application.ports import Bus, EventStore, ReadModelStore
from mcburger.supervisor import Supervisor

DEPENDENCY_TIMEOUT_SECONDS = 5.0


@dataclass
class Health:
    """One process's health, from the parts the composition root wired."""

    restaurant_id: str
    roles: frozenset[str]
    event_store: EventStore
    read_models: ReadModelStore
    bus: Bus | None
    board: BoardHub
    metrics: PrometheusMetrics
    supervisor: Supervisor
    feeds: dict[str, Feed] = field(default_factory=dict)  # the running consumers, by name
    lag_watch: LagWatch = field(default_factory=LagWatch)

    async def lag(self, head: int | None = None) -> dict[str, int]:
        """Per consumer: events (log) or messages (bus) not yet taken in, up to ``head`` (the
        log's last position, read here when not given); also sets the ``consumer_lag`` gauge
        of each."""
        if head is None:
            head = await self.event_store.last_position()
        lags = {name: await feed.lag(head) for name, feed in self.feeds.items()}
        for name, value in lags.items():
            self.metrics.consumer_lag.labels(name).set(value)
        return lags

    async def watch_lag(self) -> None:
        """Sample every consumer's lag at a fixed pace, for ``falling_behind``; forever."""
        while True:
            self.lag_watch.record(await self.lag())
            await asyncio.sleep(SAMPLE_SECONDS)

    async def dependencies(self) -> dict[str, str]:
        """Each engine this process uses: "ok", or what went wrong reaching it (bounded)."""
        checks: dict[str, Callable[[], Awaitable[object]]] = {
            "event_store": self.event_store.last_position,
            "read_models": lambda: self.read_models.checkpoint("views"),
        }
        if self.bus is not None:
            checks["bus"] = self.bus.ping
        found: dict[str, str] = {}
        for name, check in checks.items():
            try:
                async with asyncio.timeout(DEPENDENCY_TIMEOUT_SECONDS):
                    await check()
                found[name] = "ok"
            except Exception as error:
                found[name] = f"{type(error).__name__}: {error}"
        return found

    async def report(self) -> dict[str, Any]:
        """The body of ``GET /healthz`` (``HealthOut``)."""
        dependencies = await self.dependencies()
        reachable = all(state == "ok" for state in dependencies.values())
        head = await self.event_store.last_position() if dependencies["event_store"] == "ok" else -1
        lag = await self.lag(head) if reachable else {}
        failures = self.supervisor.recent_failures()
        behind = self.lag_watch.falling_behind()
        return {"status": "degraded" if failures or behind or not reachable else "ok",
                "restaurant_id": self.restaurant_id,
                "roles": sorted(self.roles), "dependencies": dependencies,
                "event_store": {"last_position": head},
                "consumer_lag": lag, "failures": failures, "falling_behind": behind,
                "board": self.board.stats()}
