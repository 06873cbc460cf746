"""The figures of a simulated day: waits, throughput, utilisation, stock, estimate accuracy
against the naive baseline, and the mean wait against its lower bound.

Definitions (seconds are kitchen seconds):

- wait: placement to READY; throughput: orders READY per hour, from the first placement to the
  last READY;
- utilisation: busy worker time (refills included) / (workers x makespan), makespan running
  from the start (when the kitchen first stocks its favourites) until it is quiet again;
- stock hit rate: units allocated from stock at placement / units ordered;
- estimate error: actual wait minus the estimate made at placement; MAE and p90 are of its
  absolute value, over every order (an order served from stock alone is READY at once, and
  both estimates say 0: ``kitchen_orders`` repeats them over the others);
- range: the 10th-90th percentile range of the ready time given at placement; its coverage is
  the share of orders that waited for the kitchen whose wait fell inside it (an order served
  from stock at once gets a point, not a range, and is left out; ``coverage_all_orders``
  counts it in, as always covered);
- error before READY: actual ready time minus the latest estimate 300, 120 and 60 s before
  READY, over the orders already placed then;
- targets (a benchmark, not a test): MAE <= 15 % of the mean wait, >= 40 % below the
  naive baseline's MAE, and a range coverage of 75-85 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mcburger.application.analytics import samples
from mcburger.application.ports import JSON
from mcburger.application.simulator import DayResult, OrderRecord
from mcburger.domain.estimates import BEFORE_READY

MAE_SHARE_OF_WAIT_TARGET = 0.15
BELOW_NAIVE_TARGET = 0.40
COVERAGE_TARGET = (0.75, 0.85)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Analytics' percentile of unsorted ``values``; NaN (a figure, not None) when empty."""
    found = samples.percentile(sorted(values), fraction)
    return math.nan if found is None else found


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _accuracy(orders: Sequence[OrderRecord]) -> JSON:
    ours = [abs(o.error) for o in orders]
    naive = [abs(o.naive_error) for o in orders]
    mae, naive_mae = _mean(ours), _mean(naive)
    return {"orders": len(orders),
            "mae_seconds": mae, "p90_abs_error_seconds": percentile(ours, 0.9),
            "bias_seconds": _mean([o.error for o in orders]),
            "naive_mae_seconds": naive_mae,
            "naive_p90_abs_error_seconds": percentile(naive, 0.9),
            "naive_bias_seconds": _mean([o.naive_error for o in orders]),
            "below_naive": 1 - mae / naive_mae if naive_mae else math.nan}


def range_figures(orders: Sequence[OrderRecord]) -> JSON:
    """How often the range given at placement held, and how wide it was."""
    waited = [o for o in orders if o.from_stock < o.units]
    return {"orders": len(waited),
            "coverage": _mean([float(o.covered) for o in waited]),
            "coverage_all_orders": _mean([float(o.covered) for o in orders]),
            "below_low": _mean([float(o.wait < o.low - 1e-6) for o in waited]),
            "above_high": _mean([float(o.wait > o.high + 1e-6) for o in waited]),
            "mean_width_seconds": _mean([o.high - o.low for o in waited])}


def before_ready_figures(orders: Sequence[OrderRecord]) -> list[JSON]:
    """MAE and bias of the latest estimate some seconds before READY."""
    rows = []
    for before in BEFORE_READY:
        errors = [o.errors_before_ready[before] for o in orders
                  if before in o.errors_before_ready]
        rows.append({"seconds_before": before, "orders": len(errors),
                     "mae_seconds": _mean([abs(e) for e in errors]),
                     "bias_seconds": _mean(errors)})
    return rows


def day_figures(result: DayResult) -> JSON:
    """Every figure of the day, ready for report.json (no per-order records)."""
    orders = result.orders
    waits = [o.wait for o in orders]
    mean_wait = _mean(waits)
    units = sum(o.units for o in orders)
    span = max(o.placed + o.wait for o in orders) - min(o.placed for o in orders)
    accuracy = _accuracy(orders)
    accuracy["mae_share_of_mean_wait"] = accuracy["mae_seconds"] / mean_wait
    accuracy["kitchen_orders"] = _accuracy([o for o in orders if o.from_stock < o.units])
    accuracy["range"] = range_figures(orders)
    accuracy["before_ready"] = before_ready_figures(orders)
    bound = _mean([o.bound.seconds for o in orders])
    return {
        "workers": result.setup.workers, "favorites_first": result.setup.favorites_first,
        "stock_target": result.setup.stock_target,
        "orders": len(orders), "units": units,
        "wait": {"mean_seconds": mean_wait, "p50_seconds": percentile(waits, 0.5),
                 "p90_seconds": percentile(waits, 0.9), "max_seconds": max(waits)},
        "throughput_per_hour": len(orders) / span * 3600 if span > 0 else math.nan,
        "utilisation": result.utilisation,
        "stock_hit_rate": sum(o.from_stock for o in orders) / units,
        "max_queue_length": max((length for _, length in result.queue), default=0),
        "estimate": accuracy,
        "lower_bound": {"mean_seconds": bound,
                        "mean_wait_ratio": mean_wait / bound if bound else math.nan},
        "targets": {
            "mae_within_15pct_of_mean_wait":
                accuracy["mae_share_of_mean_wait"] <= MAE_SHARE_OF_WAIT_TARGET,
            "mae_40pct_below_naive": accuracy["below_naive"] >= BELOW_NAIVE_TARGET,
            "range_coverage_75_to_85pct":
                COVERAGE_TARGET[0] <= accuracy["range"]["coverage"] <= COVERAGE_TARGET[1]},
        "simulated_hours": result.makespan / 3600,
        "wall_seconds": result.wall_seconds,
    }


def order_rows(result: DayResult) -> list[JSON]:
    """One record per order, for report.json."""
    return [{"number": o.number, "placed_seconds": o.placed,
             "lines": {line.item: line.quantity for line in o.lines}, "units": o.units,
             "from_stock": o.from_stock, "wait_seconds": o.wait,
             "estimate_seconds": o.estimate, "naive_estimate_seconds": o.naive,
             "range_low_seconds": o.low, "range_high_seconds": o.high,
             "error_before_ready_seconds": {str(s): e for s, e in o.errors_before_ready.items()},
             "error_seconds": o.error, "naive_error_seconds": o.naive_error,
             "lower_bound_seconds": o.bound.seconds,
             "item_bound_seconds": o.bound.item_seconds,
             "capacity_bound_seconds": o.bound.capacity_seconds} for o in result.orders]


def time_averages(points: Sequence[tuple[float, int]], end: float,
                  width: float) -> list[tuple[float, float]]:
    """Time-weighted mean of a step function (value from each point on) per ``width``."""
    buckets = max(1, math.ceil(end / width))
    area = [0.0] * buckets
    for (start, value), (stop, _) in zip(points, [*points[1:], (end, 0)], strict=True):
        while start < stop:
            index = min(int(start // width), buckets - 1)
            until = min(stop, (index + 1) * width)
            area[index] += value * (until - start)
            if until <= start:
                break
            start = until
    return [(index * width, total / width) for index, total in enumerate(area)]


def rolling_mae(errors: Sequence[float], window: int) -> list[float]:
    """Mean absolute value of the last ``window`` errors (fewer at first), at each one."""
    total, result = 0.0, []
    for index, error in enumerate(errors):
        total += abs(error)
        if index >= window:
            total -= abs(errors[index - window])
        result.append(total / min(index + 1, window))
    return result
