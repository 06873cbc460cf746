"""The event flow, declared once: which consumer reads which events and what it does with them.

Each row of ``FLOW`` is one consumer of a restaurant's events. The ``Restaurant`` the composition
root wires (``mcburger.restaurant``, ``mcburger.bootstrap``) starts the rows whose role runs in
its process, the unit-test driver (``tests/unit/driver.py``) polls the same rows by hand, and
the table "The event flow" in
docs/architecture.md is generated from it (``python -m mcburger.application.flow``; a unit test
keeps the two equal). A row names its handler and checkpoint as paths in the wiring
(``"ordering.handle_kitchen_events"`` is ``restaurant.ordering.handle_kitchen_events``), so it
reads as a table, and ``wired`` resolves them.

The kinds are the field's: a **policy** reacts to another service's events with commands on its
own aggregate (its tracking record in the event store, in the same transaction as its events);
a **projection** writes read models and decides nothing (its checkpoint in the read-model store,
with its documents); the **relay** publishes the log to the bus (an outbox relay: no dual writes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter

from mcburger.application.ports import BatchHandler
from mcburger.domain.events import CATEGORIES, KITCHEN, ORDERING


class Kind(StrEnum):
    POLICY = "policy"
    PROJECTION = "projection"
    RELAY = "relay"


@dataclass(frozen=True)
class Consumer:
    """One consumer, a row of the flow: its name (its checkpoint's, and its consumer group's
    ``<name>.<restaurant>``), the role (process) that runs it, the event categories it reads
    (the log's ``<category>-<restaurant>`` streams, the bus's topics), and what it does."""

    name: str
    role: str
    reads: tuple[str, ...]
    kind: Kind
    handler: str  # its batch handler, a path in the wiring
    checkpoint: str  # the position it restarts after, a path in the wiring
    does: str  # one line for the docs
    writes: str
    # Reads several categories and needs them in the log's order (the bus restores it).
    in_log_order: bool = False

    @property
    def log_categories(self) -> tuple[str, ...] | None:
        """What its subscription to the log filters on: nothing (None) when it needs every
        category in the log's order, else the categories it reads."""
        return None if self.in_log_order else self.reads

    @property
    def projection(self) -> bool:
        """Writes read models only: following the log, a process's projections share one read
        of it, while a policy keeps its own and never waits for a projection."""
        return self.kind is Kind.PROJECTION


FLOW: tuple[Consumer, ...] = (
    Consumer("kitchen", "kitchen", (ORDERING,), Kind.POLICY,
         "kitchen.handle_ordering_events", "kitchen.checkpoint",
         "a `KitchenUnitsRequested` joins the FIFO queue; every ordering event updates what the "
         "kitchen knows of stock and hand-overs (`kitchen_reacts`)",
         "`kitchen-<r>` events"),
    Consumer("ordering", "ordering", (KITCHEN,), Kind.POLICY,
         "ordering.handle_kitchen_events", "ordering.checkpoint",
         "`PreparationStarted` and `UnitsCovered` start an order; a `UnitPrepared` goes to the "
         "oldest order owed that item, or to stock (`ordering_reacts`)",
         "`ordering-<r>` events"),
    Consumer("views", "board", (ORDERING,), Kind.PROJECTION,
         "views.handle", "views.checkpoint",
         "each order's status, the board's numbered changes, the stock",
         "`orders`, `board_changes`, `stock` documents"),
    Consumer("views-kitchen", "board", (KITCHEN,), Kind.PROJECTION,
         "views.handle_kitchen", "views.kitchen_checkpoint",
         "what each worker prepares and the queue, for the kitchen display",
         "the `kitchen` document and the `kitchen_queue` rows"),
    Consumer("analytics", "analytics", CATEGORIES, Kind.PROJECTION,
         "analytics.handle", "analytics.start",
         "mirrors both aggregates to estimate each order's ready time; measures the kitchen",
         "`estimates`, `item_stats`, `analytics_summary`, `analytics_timeline` documents",
         in_log_order=True),
    Consumer("relay", "relay", CATEGORIES, Kind.RELAY,
         "relay.publish", "relay.checkpoint",
         "publishes each event to its category's topic, keyed by restaurant (distributed only)",
         "Kafka messages"),
)


@dataclass(frozen=True)
class Wired:
    """A row of ``FLOW`` resolved in a wiring: what a feed runs."""

    declared: Consumer
    handle: BatchHandler
    checkpoint: Callable[[], Awaitable[int]]


def wired(consumer: Consumer, wiring: object) -> Wired:
    """``consumer``'s handler and checkpoint, looked up in ``wiring`` (AttributeError if
    missing)."""
    return Wired(consumer, attrgetter(consumer.handler)(wiring),
                 attrgetter(consumer.checkpoint)(wiring))


# Where each kind keeps its position, and why a crash cannot lose or double an effect.
_TRACKING = {
    Kind.POLICY: "event store `tracking`, in the transaction of its events",
    Kind.PROJECTION: "read-model store `checkpoints`, in the commit of its documents",
    Kind.RELAY: "event store `tracking`, after the batch is published (at least once)",
}


def markdown_table(flow: Sequence[Consumer] = FLOW) -> str:
    """The table of docs/architecture.md's "The event flow", one row per consumer."""
    lines = ["| Consumer | Kind | Role | Reads | What it does | Writes | Position kept in |",
             "|---|---|---|---|---|---|---|"]
    for consumer in flow:
        reads = ("all, in log order" if consumer.in_log_order
                 else ", ".join(f"`{category}-*`" for category in consumer.reads))
        lines.append(f"| `{consumer.name}` | {consumer.kind} | `{consumer.role}` | {reads} "
                     f"| {consumer.does} | {consumer.writes} | {_TRACKING[consumer.kind]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
