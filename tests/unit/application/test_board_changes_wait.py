"""Waiting for board changes misses none that another writer commits while the reader looks:
the case of every process whose read models another one writes (a board-feeds process, a
distributed api), and of the hub beside the views projection in one process."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application import views
from mcburger.application.ports import JSON, Put
from mcburger.application.queries import Queries
from tests.unit.builders import default_menu

Scalar = str | int | float | bool | None
AN_HOUR = 3600.0


def change(position: int, number: int) -> Put:
    return Put(views.BOARD_CHANGES, str(position), position, position,
               {"version": position, "number": number, "status": "REQUESTED"})


class CommitsWhileLooking(InMemoryReadModelStore):
    """The views projection commits one board change right after the reader's first look at
    the board-change log has been answered (as another process does, between two reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: Put | None = None

    async def find(self, collection: str, where: Mapping[str, Scalar] | None = None,
                   after_seq: int | None = None, limit: int | None = None) -> list[JSON]:
        found = await super().find(collection, where, after_seq, limit)
        if collection == views.BOARD_CHANGES and self.pending is not None:
            put, self.pending = self.pending, None
            await self.commit(views.CONSUMER, put.position, [put])
        return found


async def test_a_change_committed_between_the_reads_is_returned_without_another_commit() -> None:
    store = CommitsWhileLooking()
    queries = Queries(store, default_menu())
    await store.commit(views.CONSUMER, 10, [change(10, 1)])
    store.pending = change(13, 2)

    # Nothing commits after the one change: it must come from what is already committed, not
    # after the hour's wait (the 10,000-screen runs lost their last four orders this way)
    async with asyncio.timeout(30):
        changes = await queries.wait_for_board_changes(since=10, timeout=AN_HOUR)

    assert [c["number"] for c in changes] == [2]
