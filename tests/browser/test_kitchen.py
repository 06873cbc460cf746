"""The kitchen display: busy workers, the queue with age colours, the stock of favourites."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PageOpener, screenshot
from tests.browser.helpers import assert_no_script_errors, expect, place_order
from tests.e2e.processes import Server

pytestmark = pytest.mark.browser

FAVOURITES = ("hamburger", "cheeseburger", "fries")  # menu.toml; stock target 3 (the default)


def test_kitchen_shows_busy_workers_queue_and_stock(open_page: PageOpener, server: Server) -> None:
    kitchen = open_page("/kitchen/")
    expect(kitchen.locator("#connection")).to_have_attribute("data-state", "online")
    expect(kitchen.locator("#favorites-first")).to_have_attribute("data-on", "false")
    expect(kitchen.locator("section#workers li[data-worker]")).to_have_count(2)

    # Stock of favourites: the kitchen fills it up to the target at start-up.
    stock = kitchen.locator("section#stock li[data-item]")
    expect(stock).to_have_count(len(FAVOURITES))
    for item in FAVOURITES:
        row = kitchen.locator(f'section#stock li[data-item="{item}"]')
        expect(row.locator(".target")).to_have_text(re.compile(r"\b3\b"))
        expect(row.locator(".count")).to_have_text(re.compile(r"\b3\b"))

    # 12 wraps (0.7 s each at --speed 300, two workers): both busy for seconds, a queue that ages.
    number = place_order(server, {"chicken-wrap": 12})
    busy = kitchen.locator('section#workers li[data-worker][data-state="busy"]')
    on_order = busy.filter(has=kitchen.locator(".order-number", has_text=str(number)))
    expect(on_order.first).to_be_visible()
    expect(on_order.first.locator(".item")).to_have_text(re.compile("wrap", re.IGNORECASE))
    expect(on_order.first.locator(".elapsed")).to_have_text(re.compile(r"\d"))
    queued = kitchen.locator('section#queue li[data-item="chicken-wrap"]')
    expect(queued.first).to_have_attribute("data-age", re.compile(r"^(green|yellow|red)$"))
    # 300 kitchen seconds (the default red) pass in one real second: the oldest unit goes red.
    expect(kitchen.locator('section#queue li[data-item][data-age="red"]').first).to_be_visible()
    screenshot(kitchen, "kitchen")

    # Done: the order is listed for pickup, the queue empties, the workers go idle.
    expect(kitchen.locator(f'section#ready-orders li[data-number="{number}"]')).to_be_visible()
    expect(kitchen.locator("section#queue li[data-item]")).to_have_count(0)
    expect(kitchen.locator('section#workers li[data-worker][data-state="idle"]')).to_have_count(2)
    expect(kitchen.locator("#errors")).to_have_text(re.compile(r"^\s*$"))
    assert_no_script_errors(open_page)
