"""Rule 1: the menu comes from TOML; one unit takes a uniform time in [base - var, base + var]."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcburger.config import Settings
from mcburger.domain.errors import InvalidMenu
from mcburger.domain.menu import MenuItem, parse_menu
from tests.unit.builders import default_menu

BURGER = {"id": "burger", "name": "Burger", "prep_seconds": 180, "variance_seconds": 30,
          "favorite": True}


def test_the_default_menu_has_at_least_eight_complete_items() -> None:
    menu = default_menu()

    assert len(menu) >= 8
    for entry in menu:
        assert entry.id and entry.name.strip()
        assert 0 <= entry.variance_seconds < entry.prep_seconds
        assert isinstance(entry.favorite, bool)
    assert menu.favorites, "some items must be kept pre-made"
    assert len(menu.favorites) < len(menu), "and some made to order only"


def test_the_default_menu_keeps_burgers_and_fries_as_favourites() -> None:
    menu = default_menu()

    assert menu["hamburger"].prep_seconds == 180
    assert menu["hamburger"].variance_seconds == 30
    assert {f.id for f in menu.favorites} == {"hamburger", "cheeseburger", "fries"}


def test_a_menu_file_given_in_settings_replaces_the_default(tmp_path: Path) -> None:
    path = tmp_path / "menu.toml"
    path.write_text('[[items]]\nid = "taco"\nname = "Taco"\nprep_seconds = 45\n'
                    'variance_seconds = 5\nfavorite = true\n', "utf-8")

    menu = Settings(menu=path).load_menu()

    assert [entry for entry in menu] == [MenuItem("taco", "Taco", 45.0, 5.0, True)]


def test_a_toml_document_keeps_item_order_and_defaults_name_variance_and_favourite() -> None:
    document = tomllib.loads('[[items]]\nid = "cola"\nprep_seconds = 30\n'
                             '[[items]]\nid = "fries"\nname = "Fries"\nprep_seconds = 120\n'
                             'variance_seconds = 20\nfavorite = true\n')

    menu = parse_menu(document)

    assert [entry.id for entry in menu] == ["cola", "fries"]
    assert menu["cola"] == MenuItem("cola", "cola", 30.0, 0.0, False)
    assert "fries" in menu and "tea" not in menu


@pytest.mark.parametrize(("change", "complaint"), [
    ({"prep_seconds": 0}, "prep_seconds"),
    ({"prep_seconds": True}, "prep_seconds"),
    ({"variance_seconds": -1}, "variance_seconds"),
    ({"variance_seconds": 180}, "smaller than prep_seconds"),
    ({"favorite": "yes"}, "favorite"),
    ({"id": "Big Mac"}, "id"),
    ({"name": "  "}, "name"),
    ({"calories": 500}, "unknown keys: calories"),
])
def test_a_malformed_item_is_refused_naming_the_field(change: dict[str, Any],
                                                      complaint: str) -> None:
    with pytest.raises(InvalidMenu, match=complaint):
        parse_menu({"items": [{**BURGER, **change}]})


@pytest.mark.parametrize("document", [{}, {"items": []}, {"items": "burger"},
                                      {"items": [BURGER, BURGER]}, {"items": ["burger"]}])
def test_a_menu_without_distinct_items_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(InvalidMenu):
        parse_menu(document)


def test_sampled_times_cover_the_whole_range_and_never_leave_it() -> None:
    burger = MenuItem("burger", "Burger", 180, 30, True)
    rng = random.Random(1)

    samples = [burger.sample_prep_seconds(rng) for _ in range(5000)]

    assert all(150 <= s <= 210 for s in samples)
    assert min(samples) < 151 and max(samples) > 209  # reaches both ends
    # uniform: each sixth of the range gets about a sixth of the samples
    sixths = [sum(1 for s in samples if 150 + 10 * k <= s < 160 + 10 * k) for k in range(6)]
    assert all(700 < count < 970 for count in sixths), sixths


def test_an_item_without_variance_always_takes_its_base_time() -> None:
    cola = MenuItem("cola", "Cola", 30, 0, False)

    assert {cola.sample_prep_seconds(random.Random(seed)) for seed in range(20)} == {30.0}


@settings(max_examples=100, deadline=None)
@given(base=st.floats(1, 10_000), fraction=st.floats(0, 0.99), seed=st.integers())
def test_every_sample_lies_within_base_plus_minus_variance(base: float, fraction: float,
                                                           seed: int) -> None:
    entry = MenuItem("x", "X", base, base * fraction, False)

    sample = entry.sample_prep_seconds(random.Random(seed))

    assert base - base * fraction <= sample <= base + base * fraction
