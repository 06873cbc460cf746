"""The kitchen display: busy workers, the queue with age colours, the stock of favourites, and the
orders past their promise."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest

from tests.browser.conftest import PageOpener, screenshot
from tests.browser.helpers import Route, assert_no_script_errors, expect, order, place_order
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


class ServerClock:
    """Moves the server's clock as the kitchen display sees it: the Date header of every answer
    the page gets is ``ahead`` later than the server said (the page corrects its own clock
    from those headers, so this is how time passes for it; the data stay the server's)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def answer(self, route: Route) -> None:
        response = route.fetch()
        headers = dict(response.headers)
        said = parsedate_to_datetime(headers["date"])
        headers["date"] = format_datetime(said + self.ahead, usegmt=True)
        route.fulfill(response=response, headers=headers)


def test_kitchen_flags_the_orders_past_their_promise(open_page: PageOpener,
                                                     server: Server) -> None:
    clock = ServerClock()
    kitchen = open_page("/kitchen/", setup=lambda context: context.route(
        re.compile(r"/(kitchen|stock|orders|menu)(\?.*)?$"), clock.answer))
    late_count = kitchen.locator("#late-orders")
    expect(kitchen.locator("#connection")).to_have_attribute("data-state", "online")
    expect(late_count).to_have_text("No order past its promise")

    # 40 units for 2 workers (0.5 and 0.7 s each at --speed 300): queued for seconds, its
    # promise seconds ahead, so not late yet.
    number = place_order(server, {"nuggets": 20, "chicken-wrap": 20})
    promise = order(server, number)["promised_ready_by"]
    assert promise is not None
    rows = kitchen.locator(f'section#queue li[data-order="{number}"]')
    expect(rows.first).to_be_visible()
    expect(rows.first).to_have_attribute("data-late", "false")
    expect(rows.first.locator(".k-late")).to_be_hidden()
    expect(late_count).to_have_attribute("data-count", "0")

    # An hour later on the server's clock the order, still in the kitchen, is past its promise:
    # each of its rows says so in words, and the header names it.
    clock.ahead = timedelta(hours=1)
    expect(rows.first).to_have_attribute("data-late", "true")
    expect(rows.first.locator(".k-late")).to_have_text(re.compile("Past promise"))
    expect(rows.first.locator(".k-late")).to_be_visible()
    on_worker = kitchen.locator(f'section#workers li[data-order="{number}"]')
    expect(on_worker.first.locator(".k-late")).to_be_visible()
    expect(late_count).to_have_attribute("data-count", "1")
    expect(late_count).to_have_text(f"1 order past its promise (order {number})")
    screenshot(kitchen, "kitchen-past-promise")

    # Back on the server's own clock, nothing is late.
    clock.ahead = timedelta(0)
    expect(late_count).to_have_attribute("data-count", "0")
    expect(kitchen.locator('section#queue li[data-late="true"]')).to_have_count(0)
    assert_no_script_errors(open_page, kitchen)


def test_kitchen_flags_a_late_order_with_no_unit_on_the_screen(open_page: PageOpener,
                                                               server: Server) -> None:
    """An order can wait with none of its units queued or being made (on stock a worker is
    making for it, under FF.1 often): the header still counts and names it once past its
    promise. Here its rows are taken out of what the page gets, so only GET /kitchen's
    ``waiting`` list has it."""
    clock = ServerClock()
    hidden: set[int] = set()

    def without_its_rows(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        body["queue"] = [unit for unit in body["queue"] if unit["order_number"] not in hidden]
        body["workers"] = [worker for worker in body["workers"]
                           if worker["order_number"] not in hidden]
        headers = dict(response.headers)
        headers["date"] = format_datetime(
            parsedate_to_datetime(headers["date"]) + clock.ahead, usegmt=True)
        headers.pop("content-length", None)
        route.fulfill(response=response, headers=headers, json=body)

    kitchen = open_page("/kitchen/", setup=lambda context: (
        context.route(re.compile(r"/kitchen$"), without_its_rows),
        context.route(re.compile(r"/(stock|orders|menu)(\?.*)?$"), clock.answer)))
    late_count = kitchen.locator("#late-orders")
    expect(kitchen.locator("#connection")).to_have_attribute("data-state", "online")

    number = place_order(server, {"nuggets": 20, "chicken-wrap": 20})
    hidden.add(number)
    expect(kitchen.locator(f'section#queue li[data-order="{number}"]')).to_have_count(0)
    expect(late_count).to_have_attribute("data-count", "0")

    clock.ahead = timedelta(hours=1)
    expect(late_count).to_have_attribute("data-count", "1")
    expect(late_count).to_have_text(f"1 order past its promise (order {number})")
    expect(kitchen.locator(f'li[data-order="{number}"]')).to_have_count(0)
    assert_no_script_errors(open_page, kitchen)
