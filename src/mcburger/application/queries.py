"""What the API and the board read: documents from the read models, never the event store."""

from __future__ import annotations

import asyncio

from mcburger.application import analytics, views
from mcburger.application.ports import JSON, ReadModelStore
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import OrderStatus

ACTIVE = (OrderStatus.REQUESTED, OrderStatus.IN_PROGRESS, OrderStatus.READY)
WAITING = (OrderStatus.REQUESTED.value, OrderStatus.IN_PROGRESS.value)  # not READY yet
ORDERS_PAGE = 100  # orders a page of GET /orders holds unless asked otherwise (at most 1,000)
# Reads of the kitchen before answering with rows and workers of two different moments.
KITCHEN_READ_TRIES = 5
PUBLIC_ORDER_FIELDS = ("id", "number", "status", "items", "placed_at", "estimated_ready_at",
                       "ready_at", "collected_at")
# What an order's answer takes from its ``estimates`` document (analytics): the latest estimate,
# the latest range's ends, and the range's high end given at placement (the promise). A
# document written before the ranges lacks the last three: they read as None.
ORDER_ESTIMATE_FIELDS = ("estimated_ready_at", "estimated_ready_from", "estimated_ready_by",
                         "promised_ready_by")
# What a board change takes from it: the latest estimate and the latest range's ends.
BOARD_CHANGE_ESTIMATE_FIELDS = ORDER_ESTIMATE_FIELDS[:3]


class Queries:
    def __init__(self, store: ReadModelStore, menu: Menu) -> None:
        self._read_models = store
        self._menu = menu

    async def order(self, number: int) -> JSON | None:
        document = await self._read_models.get(views.ORDERS, str(number))
        return None if document is None else await self._public(document)

    async def orders(self, status: OrderStatus | None = None, after: int = 0,
                     limit: int = ORDERS_PAGE) -> tuple[list[JSON], int | None]:
        """A page of up to ``limit`` orders, oldest first, numbered above ``after``: those with
        ``status``, or all; and the ``after`` of the next page (None: this is the last one).

        Every read is a range of an index, so a page costs what it holds (and, for a status,
        at most what is on the board), never the history: a status on the board reads the
        board's seq range (``views.ON_BOARD_SEQ``), COLLECTED the collected orders' range from
        ``after`` on (their seq is below zero, in number order), and all orders the next
        order numbers by key (numbers are dense). While an upgrade moves the orders collected
        under an earlier release out of the board's range (``views.MOVE_COLLECTED_PER_BATCH``
        a batch), COLLECTED lists those not moved yet after the others.
        """
        if status is not None:
            floor = (after - views.COLLECTED_OFFSET if status is OrderStatus.COLLECTED
                     else max(views.ON_BOARD_SEQ, after))
            found = [doc for doc in await self._read_models.find(
                views.ORDERS, {"status": status.value}, after_seq=floor, limit=limit + 1)
                if doc["number"] > after]
            page = found[:limit]
            next_after = page[-1]["number"] if len(found) > limit else None
        else:
            numbers = range(after + 1, after + limit + 2)  # one more: is there a next page?
            found_by_key = await self._read_models.get_versioned_many(
                views.ORDERS, [str(number) for number in numbers])
            page = [found_by_key[str(n)][0] for n in numbers[:-1] if str(n) in found_by_key]
            next_after = after + limit if str(numbers[-1]) in found_by_key else None
        estimates = await self._estimates([doc["number"] for doc in page])
        return [_public(doc, estimates.get(doc["number"])) for doc in page], next_after

    async def _public(self, document: JSON) -> JSON:
        return _public(document, await self._read_models.get(analytics.ESTIMATES,
                                                       str(document["number"])))

    async def board(self) -> JSON:
        # The version is read first: the lists are at least that new, so a client that then
        # asks for changes after it may see a change twice but never misses one.
        version = await self._read_models.checkpoint(views.CONSUMER)
        board: JSON = {"version": version}
        # One read of the orders on the board, bounded by them, not by history (an order
        # collected under an earlier release may still be there until the views move it)
        on_board = await self._read_models.find(views.ORDERS, after_seq=views.ON_BOARD_SEQ)
        for status, key in zip(ACTIVE, ("requested", "in_progress", "ready"), strict=True):
            board[key] = [doc["number"] for doc in on_board if doc["status"] == status.value]
        waiting = await self._estimates(board["requested"] + board["in_progress"])
        board["estimates"] = {str(number): doc.get("estimated_ready_at")
                              for number, doc in waiting.items()}
        # beside ``estimates`` (kept as it was for older clients): the orders with a range
        board["ranges"] = {str(number): {"from": doc["estimated_ready_from"],
                                         "by": doc["estimated_ready_by"]}
                           for number, doc in waiting.items() if _has_range(doc)}
        return board

    async def board_version(self) -> int:
        """The board's version now: the views' checkpoint (a change has its event's position,
        so every change up to this version is in ``board_changes``)."""
        return await self._read_models.checkpoint(views.CONSUMER)

    async def board_changes(self, since: int, limit: int = 500) -> list[JSON]:
        """Changes after ``since``, each with the order's estimated ready time and range as
        known now (None until analytics has estimated it; the range's ends also None in a
        document written before the ranges)."""
        changes = await self._read_models.find(views.BOARD_CHANGES, after_seq=since, limit=limit)
        estimates = await self._estimates([change["number"] for change in changes])
        return [{**change, **{name: estimates.get(change["number"], {}).get(name)
                              for name in BOARD_CHANGE_ESTIMATE_FIELDS}}
                for change in changes]

    async def _estimates(self, numbers: list[int]) -> dict[int, JSON]:
        """The ``estimates`` document of each order in ``numbers`` that has one: one read by
        key, bounded by the orders asked about (a range of numbers would grow with the time an
        order never collected stays READY)."""
        if not numbers:
            return {}
        found = await self._read_models.get_versioned_many(
            analytics.ESTIMATES, [str(number) for number in numbers])
        return {int(key): document for key, (document, _) in found.items()}

    async def wait_for_board_changes(self, since: int, timeout: float) -> list[JSON]:
        """Changes after ``since``, waiting up to ``timeout`` seconds for the first one.

        The checkpoint is read *before* the changes: every change up to it is then in what the
        read finds, so waiting for a commit after it misses none. (Read after, a commit landing
        between the two reads was waited past: its change came only with the next commit, and
        the last order of a quiet spell not at all. A board-feeds process, whose reads wait
        behind its sends, lost the last orders of every 10,000-screen benchmark run to it.)"""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            checkpoint = await self._read_models.checkpoint(views.CONSUMER)
            changes = await self.board_changes(since)
            remaining = deadline - loop.time()
            if changes or remaining <= 0:
                return changes
            await self._read_models.wait_for_checkpoint(
                views.CONSUMER, max(checkpoint, since) + 1, remaining)

    async def stock(self) -> dict[str, int]:
        counts = {doc["item"]: doc["count"] for doc in await self._read_models.find(views.STOCK)}
        return {item.id: counts.get(item.id, 0) for item in self._menu}

    async def kitchen(self) -> JSON:
        """The workers, the set-up and the queue (oldest first), as of one kitchen event.

        The queue's rows and the kitchen document are separate reads. Every commit that changes
        a row also moves the document (it counts the queue), so a document unchanged across the
        read of the rows means both show the same moment; else read again (a bounded number of
        times: under a constant stream of kitchen events the last read is answered).
        """
        for _ in range(KITCHEN_READ_TRIES - 1):
            kitchen, consistent = await self._read_kitchen()
            if consistent:
                break
        else:
            kitchen = (await self._read_kitchen())[0]
        return await self._with_promises(kitchen)

    async def _with_promises(self, kitchen: JSON) -> JSON:
        """The kitchen with ``promised_ready_by`` (the high end of the range the customer was
        given at placement; None before analytics has estimated the order, for a refill, for
        an order already READY, and in a document written before the ranges) on each queued
        unit and worker. An order can be READY while a unit queued for it is still made: a
        refill served it first, and that unit will go to stock.

        ``waiting``: every order REQUESTED or IN_PROGRESS (number, status, promise), oldest
        first, so the display also flags a late order none of whose units is queued or being
        made (it waits on stock a worker is making, or its units are not asked for yet).

        The kitchen display flags the orders past their promise from this. It costs one read
        of the orders on the board and one of the ``estimates`` documents of the orders the
        kitchen holds or the board shows, by key: bounded by those orders, not by history.
        """
        entries = [*kitchen["queue"], *kitchen["workers"]]
        waiting = [{"number": order["number"], "status": order["status"]}
                   for order in await self._read_models.find(
                       views.ORDERS, after_seq=views.ON_BOARD_SEQ)
                   if order["status"] in WAITING]
        estimates = await self._estimates(
            [*{number for entry in entries if (number := entry.get("order_number")) is not None},
             *{order["number"] for order in waiting}])
        for entry in [*entries, *waiting]:
            estimate = estimates.get(entry.get("order_number", entry.get("number")), {})
            entry["promised_ready_by"] = (None if estimate.get("ready_at")
                                          else estimate.get("promised_ready_by"))
        return {**kitchen, "waiting": waiting}

    async def _read_kitchen(self) -> tuple[JSON, bool]:
        """The kitchen, and whether its document stayed the same while the rows were read."""
        document, position = await self._kitchen_document()
        if "queue" in document:  # written before the queue had rows, and not moved yet
            return document, True
        queue = await self._read_models.find(views.KITCHEN_QUEUE, after_seq=views.STARTED_SEQ)
        document.pop("queue_length")
        return {**document, "queue": queue}, (await self._kitchen_document())[1] == position

    async def _kitchen_document(self) -> tuple[JSON, int]:
        found = await self._read_models.get_versioned(views.KITCHEN_VIEW, views.KITCHEN_KEY)
        return found or (views.empty_kitchen(), 0)

    async def analytics_summary(self) -> JSON:
        """Counts, waits, throughput, queue, utilisation and estimate accuracy, as of the
        newest event analytics has taken in (durations in kitchen seconds unless ``wall``)."""
        found = await self._read_models.get(analytics.SUMMARY, analytics.SUMMARY_KEY)
        return found or analytics.empty_summary()

    async def item_stats(self) -> list[JSON]:
        """Preparation-time statistics of every menu item, in menu order."""
        found = {doc["item"]: doc for doc in await self._read_models.find(analytics.ITEM_STATS)}
        return [{**analytics.empty_item_stats(item), **found.get(item.id, {})}
                for item in self._menu]

    async def recent_estimates(self, limit: int) -> list[JSON]:
        """The newest ``limit`` orders' estimates (at placement, latest) and actual ready
        times, newest first."""
        summary = await self._read_models.get(analytics.SUMMARY, analytics.SUMMARY_KEY)
        after = None if summary is None else summary["last_order_number"] - limit
        found = await self._read_models.find(analytics.ESTIMATES, after_seq=after)
        fields = ("number", "placed_at", "estimated_at_placement", "estimated_ready_at",
                  "estimated_ready_from", "estimated_ready_by", "promised_ready_from",
                  "promised_ready_by", "ready_at", "wait_seconds", "error_seconds",
                  "error_wall_seconds", "error_before_ready_seconds")
        return [{name: doc.get(name) for name in fields} for doc in found[::-1][:limit]]

    async def timeline(self, bucket_seconds: int, limit: int) -> list[JSON]:
        """The newest ``limit`` buckets of ``bucket_seconds`` kitchen seconds (a multiple of
        ``analytics.BUCKET_SECONDS``), oldest first."""
        if bucket_seconds <= 0 or bucket_seconds % analytics.BUCKET_SECONDS:
            raise ValueError(f"bucket_seconds must be a multiple of {analytics.BUCKET_SECONDS}")
        summary = await self._read_models.get(analytics.SUMMARY, analytics.SUMMARY_KEY)
        if summary is None:
            return []
        factor = bucket_seconds // analytics.BUCKET_SECONDS
        first = max(0, summary["last_bucket"] // factor - limit + 1) * factor
        documents = await self._read_models.find(analytics.TIMELINE, after_seq=first - 1)
        return analytics.timeline(documents, bucket_seconds, limit)

    async def caught_up(self, position: int, timeout: float,
                        unless_behind: int | None = None) -> bool:
        """Wait until the views and the estimates include ``position`` (read-your-writes);
        False at once when one of them is more than ``unless_behind`` events behind it."""
        if unless_behind is not None:
            lowest = min(await self._read_models.checkpoint(views.CONSUMER),
                         await self._read_models.checkpoint(analytics.CONSUMER))
            if position - lowest > unless_behind:
                return False
        results = await asyncio.gather(
            self._read_models.wait_for_checkpoint(views.CONSUMER, position, timeout),
            self._read_models.wait_for_checkpoint(analytics.CONSUMER, position, timeout))
        return all(results)


def _public(order: JSON, estimate: JSON | None) -> JSON:
    public = {name: order.get(name) for name in PUBLIC_ORDER_FIELDS}
    public.update({name: (estimate or {}).get(name) for name in ORDER_ESTIMATE_FIELDS})
    return public


def _has_range(estimate: JSON) -> bool:
    return (estimate.get("estimated_ready_from") is not None
            and estimate.get("estimated_ready_by") is not None)
