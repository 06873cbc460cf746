"""A command's answer waits for the read models, but not for one far behind (a rebuild)."""

from __future__ import annotations

import asyncio

from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.queries import Queries
from tests.unit.builders import default_menu


async def at(store: InMemoryReadModelStore, position: int) -> None:
    for consumer in ("views", "analytics"):
        await store.commit(consumer, position, [])


async def test_it_waits_for_views_and_estimates_a_little_behind() -> None:
    store = InMemoryReadModelStore()
    queries = Queries(store, default_menu())
    await at(store, 100)

    waiting = asyncio.create_task(queries.caught_up(150, timeout=5, unless_behind=2000))
    await asyncio.sleep(0)
    assert not waiting.done()
    await at(store, 150)

    assert await waiting is True


async def test_it_does_not_wait_for_one_far_behind() -> None:
    store = InMemoryReadModelStore()
    queries = Queries(store, default_menu())
    await at(store, 100)

    async with asyncio.timeout(1):  # a wait would last the 30 s
        assert await queries.caught_up(2200, timeout=30, unless_behind=2000) is False
