"""The menu: what can be ordered, how long one unit takes, and which items are kept pre-made."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mcburger.domain.errors import InvalidMenu

_ITEM_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class MenuItem:
    id: str
    name: str
    prep_seconds: float
    variance_seconds: float
    favorite: bool

    def sample_prep_seconds(self, rng: random.Random) -> float:
        """One unit's preparation time: uniform in [base - variance, base + variance]."""
        return rng.uniform(self.prep_seconds - self.variance_seconds,
                           self.prep_seconds + self.variance_seconds)


class Menu:
    """An ordered, immutable set of menu items keyed by id."""

    def __init__(self, items: Iterable[MenuItem]) -> None:
        self._items: dict[str, MenuItem] = {}
        for item in items:
            if item.id in self._items:
                raise InvalidMenu(f"duplicate item id {item.id!r}")
            self._items[item.id] = item
        if not self._items:
            raise InvalidMenu("a menu needs at least one item")

    def __iter__(self) -> Iterator[MenuItem]:
        return iter(self._items.values())

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __getitem__(self, item_id: str) -> MenuItem:
        return self._items[item_id]

    def __len__(self) -> int:
        return len(self._items)

    @property
    def favorites(self) -> list[MenuItem]:
        return [item for item in self if item.favorite]


def parse_menu(document: Mapping[str, Any]) -> Menu:
    """Build a menu from a parsed TOML document (``[[items]]`` tables); raise InvalidMenu."""
    raw_items = document.get("items")
    if not isinstance(raw_items, list):
        raise InvalidMenu("the menu needs a list of [[items]]")
    return Menu(_parse_item(index, raw) for index, raw in enumerate(raw_items))


def _parse_item(index: int, raw: Any) -> MenuItem:
    where = f"items[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidMenu(f"{where} must be a table")
    unknown = set(raw) - {"id", "name", "prep_seconds", "variance_seconds", "favorite"}
    if unknown:
        raise InvalidMenu(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    item_id, name = raw.get("id"), raw.get("name", raw.get("id"))
    if not isinstance(item_id, str) or not _ITEM_ID.match(item_id):
        raise InvalidMenu(f"{where}.id must be lower-case letters, digits and dashes")
    if not isinstance(name, str) or not name.strip():
        raise InvalidMenu(f"{where}.name must be a non-empty string")
    prep, variance = raw.get("prep_seconds"), raw.get("variance_seconds", 0)
    if isinstance(prep, bool) or not isinstance(prep, int | float) or prep <= 0:
        raise InvalidMenu(f"{where}.prep_seconds must be a positive number")
    if isinstance(variance, bool) or not isinstance(variance, int | float) or variance < 0:
        raise InvalidMenu(f"{where}.variance_seconds must be a number >= 0")
    if variance >= prep:
        raise InvalidMenu(f"{where}.variance_seconds must be smaller than prep_seconds")
    favorite = raw.get("favorite", False)
    if not isinstance(favorite, bool):
        raise InvalidMenu(f"{where}.favorite must be true or false")
    return MenuItem(item_id, name, float(prep), float(variance), favorite)
