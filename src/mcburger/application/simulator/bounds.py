"""A lower bound on each order's wait that no kitchen schedule can beat, for given arrivals.

*Any schedule* means any choice of which unit each worker makes next and when (even knowing
every future order), with any preparation times the menu allows, under the rules a schedule
cannot change: a prepared unit goes to the oldest order waiting for its item, items that are not
favourites are made only once ordered, and favourites are made at most ``stock_target`` units
ahead of demand (refills top *projected* stock up to the target, so units of a favourite started
so far never exceed units ordered so far plus the target). Write ``slack(x)`` for that allowance
(the stock target for a favourite, 0 otherwise), ``pmin(x)`` for the shortest time a unit can
take (``prep_seconds - variance_seconds``), ``N_i(x)`` for the units of ``x`` ordered by orders
1..i, ``t_i`` for order i's placement and ``W`` for the workers. Order i is ready only once
``N_i(x)`` units of each of its items ``x`` are prepared (oldest order first), and by any time
``s = t_j`` at most ``N_{j-1}(x) + slack(x)`` of them can have been started.

1. **Item bound**: ``max pmin(x)`` over the items with ``q_i(x) > slack(x)`` (always the
   made-to-order ones): the unit that completes order i's ``x`` cannot start before ``t_i``.
2. **Capacity bound**: for every ``s = t_j <= t_i``, at least
   ``N_i(x) - N_{j-1}(x) - slack(x)`` units of each item of order i start at or after ``s`` and
   finish before order i is ready; ``W`` workers need the sum of those units' ``pmin`` divided by
   ``W`` for that, so ``ready_i >= s + work / W``. The bound is the largest over ``j <= i``,
   minus ``t_i``. (A term is not clipped at 0 when the slack exceeds the units: that only
   weakens the bound, and keeps it linear in ``j``, so one running maximum per set of items
   computes it in linear time.)

An order's bound is the larger of the two; the mean of the bounds bounds the mean wait.
Neither counts work already under way or a favourite's wait when its stock runs out, and the
capacity part counts only earlier units of the order's *own* items (in the bound an order may
overtake other items' units, which a FIFO kitchen never lets it do). So the bound is loose at
moderate load where waits come from favourites, and very loose under sustained overload (with 2
workers at the default load the mean wait is about 270 times the bound); it is tightest where the
wait comes from one made-to-order item.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from mcburger.domain.events import OrderLine
from mcburger.domain.menu import Menu


@dataclass(frozen=True)
class WaitBound:
    """One order's lower bound on its wait (seconds) and its two parts."""

    item_seconds: float
    capacity_seconds: float

    @property
    def seconds(self) -> float:
        return max(self.item_seconds, self.capacity_seconds)


@dataclass
class _Running:
    """For one set of items: ``max_j (t_j - work of those items ordered before j / W)``."""

    best: float = float("-inf")
    seen: int = 0  # orders folded in


def wait_bounds(menu: Menu, workers: int, stock_target: int,
                orders: Sequence[tuple[float, Sequence[OrderLine]]]) -> list[WaitBound]:
    """Per order (placement seconds, lines), in placement order: its lower bound."""
    shortest = {item.id: item.prep_seconds - item.variance_seconds for item in menu}
    slack = {item.id: stock_target if item.favorite else 0 for item in menu}
    work_before: list[dict[str, float]] = []  # per order j: work of each item ordered before j
    cumulative: dict[str, float] = defaultdict(float)
    for _, lines in orders:
        work_before.append(dict(cumulative))
        for line in lines:
            cumulative[line.item] += line.quantity * shortest[line.item]
    running: dict[frozenset[str], _Running] = defaultdict(_Running)
    bounds = []
    for index, (placed, lines) in enumerate(orders):
        items = frozenset(line.item for line in lines)
        state = running[items]
        for j in range(state.seen, index + 1):
            done = sum(work_before[j].get(item, 0.0) for item in items)
            state.best = max(state.best, orders[j][0] - done / workers)
        state.seen = index + 1
        through_i = sum(cumulative_through(work_before[index], line, shortest, slack)
                        for line in lines)
        capacity = state.best + through_i / workers - placed
        item = max((shortest[line.item] for line in lines if line.quantity > slack[line.item]),
                   default=0.0)
        bounds.append(WaitBound(item, max(0.0, capacity)))
    return bounds


def cumulative_through(work_before: dict[str, float], line: OrderLine,
                       shortest: dict[str, float], slack: dict[str, int]) -> float:
    """Minimum work of ``line.item`` ordered up to and including this line, less its slack."""
    return (work_before.get(line.item, 0.0)
            + (line.quantity - slack[line.item]) * shortest[line.item])
