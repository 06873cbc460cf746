"""What customers order and when: a menu mix and Poisson arrivals, for the day simulator.

A mix gives each menu item a weight (how often it is on an order), how many different items an
order has, and how many units of each. An order draws its number of lines, then that many
distinct items by weight (without replacement: an order names an item once), then a quantity
per line. Arrivals are a Poisson process: exponential gaps with mean ``3600 / rate`` seconds,
``rate`` in orders per hour.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mcburger.domain.events import OrderLine
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import MAX_QUANTITY_PER_LINE, MAX_UNITS_PER_ORDER

# Burgers, fries and drinks sell; wraps, salads and ice cream are rarer. Items of a custom menu
# that are not named here get weight 1.
DEFAULT_ITEM_WEIGHTS = {"hamburger": 25.0, "cheeseburger": 20.0, "fries": 30.0, "nuggets": 10.0,
                        "chicken-wrap": 6.0, "salad": 5.0, "cola": 25.0, "ice-cream": 4.0}
DEFAULT_LINE_WEIGHTS = {1: 50.0, 2: 35.0, 3: 15.0}
DEFAULT_QUANTITY_WEIGHTS = {1: 75.0, 2: 20.0, 3: 5.0}
DEFAULT_WORKERS, DEFAULT_UTILISATION = 3, 0.8


class InvalidMix(ValueError):
    """A mix file that cannot be used with the menu."""


@dataclass(frozen=True)
class Arrival:
    """One customer: when (seconds after the simulation starts) and what."""

    at_seconds: float
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True)
class MenuMix:
    items: Mapping[str, float]  # item id -> weight
    lines: Mapping[int, float]  # distinct items per order -> weight
    quantities: Mapping[int, float]  # units per line -> weight

    @classmethod
    def default(cls, menu: Menu) -> MenuMix:
        weights = {item.id: DEFAULT_ITEM_WEIGHTS.get(item.id, 1.0) for item in menu}
        return cls(weights, DEFAULT_LINE_WEIGHTS, DEFAULT_QUANTITY_WEIGHTS)

    @classmethod
    def parse(cls, document: Mapping[str, Any], menu: Menu) -> MenuMix:
        """A mix TOML: ``[items]`` item = weight (required), optional ``[lines]`` and
        ``[quantities]`` with count = weight (keys are quoted numbers: ``"1" = 75``)."""
        unknown = set(document) - {"items", "lines", "quantities"}
        if unknown:
            raise InvalidMix(f"unknown tables: {', '.join(sorted(unknown))}")
        items = _weights(document.get("items"), "items", str)
        if not items:
            raise InvalidMix("[items] needs at least one item with a weight")
        for item_id in items:
            if item_id not in menu:
                raise InvalidMix(f"[items]: {item_id!r} is not on the menu")
        lines = _weights(document.get("lines", DEFAULT_LINE_WEIGHTS), "lines", int)
        quantities = _weights(document.get("quantities", DEFAULT_QUANTITY_WEIGHTS),
                              "quantities", int)
        if not lines or not quantities or min(lines) < 1 or min(quantities) < 1:
            raise InvalidMix("[lines] and [quantities] need counts of 1 or more")
        if max(quantities) > MAX_QUANTITY_PER_LINE:
            raise InvalidMix(f"[quantities]: at most {MAX_QUANTITY_PER_LINE} units per line")
        if max(lines) * max(quantities) > MAX_UNITS_PER_ORDER:
            raise InvalidMix(f"an order could exceed {MAX_UNITS_PER_ORDER} units")
        return cls(items, lines, quantities)

    def order(self, rng: random.Random) -> tuple[OrderLine, ...]:
        """One random order."""
        wanted = rng.choices(list(self.lines), list(self.lines.values()))[0]
        names = [item for item, weight in self.items.items() if weight > 0]
        weights = [self.items[item] for item in names]
        chosen: list[str] = []
        for _ in range(min(wanted, len(names))):
            index = rng.choices(range(len(names)), weights)[0]
            chosen.append(names.pop(index))
            weights.pop(index)
        counts, count_weights = list(self.quantities), list(self.quantities.values())
        return tuple(OrderLine(item, rng.choices(counts, count_weights)[0]) for item in chosen)

    def expected_work_seconds(self, menu: Menu) -> float:
        """Mean kitchen seconds of work per order (every unit ordered is made once: a unit taken
        from stock is refilled), exact for the draw ``order`` makes."""
        mean_quantity = _mean(self.quantities)
        total_lines = sum(self.lines.values())
        return sum(weight / total_lines * sum(
            p * mean_quantity * menu[item].prep_seconds
            for item, p in self.inclusion(count).items())
            for count, weight in self.lines.items())

    def inclusion(self, count: int) -> dict[str, float]:
        """Probability that each item is among ``count`` drawn by weight without replacement."""
        states: dict[frozenset[str], float] = {frozenset(): 1.0}
        for _ in range(min(count, len(self.items))):
            following: dict[frozenset[str], float] = {}
            for chosen, p in states.items():
                left = sum(w for item, w in self.items.items() if item not in chosen)
                for item, w in self.items.items():
                    if item not in chosen and w > 0:
                        key = chosen | {item}
                        following[key] = following.get(key, 0.0) + p * w / left
            states = following
        included = dict.fromkeys(self.items, 0.0)
        for chosen, p in states.items():
            for item in chosen:
                included[item] += p
        return included

    def arrival_rate(self, menu: Menu, workers: int = DEFAULT_WORKERS,
                     utilisation: float = DEFAULT_UTILISATION) -> float:
        """Orders per hour that keep ``workers`` busy ``utilisation`` of the time."""
        return utilisation * workers * 3600.0 / self.expected_work_seconds(menu)


def poisson_arrivals(count: int, rate_per_hour: float, mix: MenuMix,
                     rng: random.Random) -> list[Arrival]:
    """``count`` orders of a Poisson process with ``rate_per_hour`` orders per hour."""
    at, arrivals = 0.0, []
    for _ in range(count):
        at += rng.expovariate(rate_per_hour / 3600.0)
        arrivals.append(Arrival(at, mix.order(rng)))
    return arrivals


def _mean(weights: Mapping[int, float]) -> float:
    return sum(value * weight for value, weight in weights.items()) / sum(weights.values())


def _weights(raw: Any, table: str, key_type: type[str] | type[int]) -> dict[Any, float]:
    if not isinstance(raw, Mapping):
        raise InvalidMix(f"[{table}] must be a table of name = weight")
    weights: dict[Any, float] = {}
    for key, weight in raw.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise InvalidMix(f"[{table}] {key}: the weight must be a number >= 0")
        try:
            weights[key_type(key)] = float(weight)
        except ValueError as error:
            raise InvalidMix(f"[{table}] {key!r} must be a whole number") from error
    if weights and sum(weights.values()) <= 0:
        raise InvalidMix(f"[{table}] needs a weight above 0")
    return weights
