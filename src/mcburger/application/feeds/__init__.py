"""Feeds: what delivers a consumer's events to its handler, in batches, from a position on.

- ``log.Subscription`` follows the event store's global log (embedded, and the relay), and
  ``log.SharedSubscription`` lets a process's projections share one read of it;
- ``bus.BusSubscription`` follows the bus's topics (distributed): the restaurant's messages,
  dead letters for unreadable ones, the log's order restored across topics;
- ``lag.LagWatch`` tells from sampled lags which feed keeps falling behind (``/healthz``).

Both feeds are a ``Feed``, so the composition root runs and measures them alike.
"""

from __future__ import annotations

from typing import Protocol


class Feed(Protocol):
    """Delivers a consumer's events in batches to its handler, from a position on: a
    ``Subscription`` on the log, or a ``BusSubscription`` on the bus."""

    @property
    def name(self) -> str:
        """The consumer's name."""

    async def run(self, after: int) -> None:
        """Deliver every event after position ``after``, then each new one, until cancelled."""

    async def lag(self, head: int) -> int:
        """Events not taken in yet; ``head`` is the log's last position (a bus counts its own
        messages instead)."""
