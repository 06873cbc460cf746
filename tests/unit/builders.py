"""Shared builders for the unit tests: small deterministic menus and log helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from mcburger.config import Settings
from mcburger.domain.events import ORDERING, Event, OrderLine, OrderPlaced, UnitQueued
from mcburger.domain.menu import Menu, MenuItem

T0 = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
E = TypeVar("E", bound=Event)


def item(item_id: str, seconds: float, favorite: bool = False,
         variance: float = 0.0) -> MenuItem:
    return MenuItem(item_id, item_id.title(), seconds, variance, favorite)


def fixed_menu() -> Menu:
    """Variance 0, so every preparation time is known: a burger (favourite) and two sides."""
    return Menu([item("burger", 100, favorite=True), item("cola", 10), item("salad", 20)])


def default_menu() -> Menu:
    return Settings().load_menu()


def lines(**quantities: int) -> list[OrderLine]:
    """``lines(cola=2)``; item ids with dashes are written with underscores."""
    return [OrderLine(name.replace("_", "-"), qty) for name, qty in quantities.items()]


def of_type(log: Iterable[Event], kind: type[E]) -> list[E]:
    return [event for event in log if isinstance(event, kind)]


def without_ids(log: Sequence[Event]) -> list[Event]:
    """The log with random event ids blanked: what two runs with one seed must agree on."""
    return [dataclasses.replace(event, event_id="") for event in log]


def category_event(category: str, restaurant: str, number: int) -> Event:
    """A small event of ``category`` (an order of one cola, or its unit queued) for the bus
    and relay tests, which care about streams, restaurants and positions, not contents."""
    if category == ORDERING:
        return OrderPlaced(restaurant_id=restaurant, occurred_at=T0,
                           order_id=f"{restaurant}-{number}", number=number,
                           lines=(OrderLine("cola", 1),))
    return UnitQueued(restaurant_id=restaurant, occurred_at=T0, request_id=f"req-{number}",
                      order_id=f"{restaurant}-{number}", number=number, item="cola")
