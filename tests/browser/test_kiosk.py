"""The ordering kiosk: with the keyboard alone, when the server refuses an order, and the ready-time
range said in minutes as time passes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from typing import Any

import pytest

from tests.browser.conftest import PageOpener
from tests.browser.helpers import (
    BrowserContext,
    Page,
    Route,
    assert_no_script_errors,
    expect,
    number_in,
    order,
)
from tests.e2e.processes import Server

pytestmark = pytest.mark.browser

MAX_TABS = 120  # more than every focusable thing on the page


def tab_to(page: Page, selector: str) -> None:
    """Press Tab until ``selector`` has the focus, as a keyboard user would."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement?.matches(s)", selector):
            return
    focused = page.evaluate("document.activeElement?.outerHTML.slice(0, 200)")
    raise AssertionError(f"{selector} not reached in {MAX_TABS} Tabs (focus on {focused})")


def assert_focus_visible(page: Page) -> None:
    """The focused element shows it (outline or shadow), so a keyboard user knows where they are."""
    style = page.evaluate("""() => {
        const s = getComputedStyle(document.activeElement);
        return {outline: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow,
                visible: document.activeElement.matches(':focus-visible')};
    }""")
    outlined = style["outline"] != "none" and style["width"] not in ("0px", "")
    assert style["visible"] and (outlined or style["shadow"] != "none"), style


def test_kiosk_with_the_keyboard_only(open_page: PageOpener, server: Server) -> None:
    kiosk = open_page("/")
    nuggets = kiosk.locator('li.menu-item[data-item="nuggets"]')
    expect(nuggets).to_be_visible()

    tab_to(kiosk, 'li.menu-item[data-item="nuggets"] button.add')
    assert_focus_visible(kiosk)
    kiosk.keyboard.press("Enter")
    kiosk.keyboard.press("Enter")
    expect(nuggets.locator(".quantity")).to_have_text(re.compile(r"\b2\b"))
    tab_to(kiosk, 'li.menu-item[data-item="nuggets"] button.remove')
    kiosk.keyboard.press("Enter")
    expect(nuggets.locator(".quantity")).to_have_text(re.compile(r"\b1\b"))
    expect(kiosk.locator('#basket li[data-item="nuggets"]')).to_be_visible()

    tab_to(kiosk, "button#place-order")
    assert_focus_visible(kiosk)
    kiosk.keyboard.press("Enter")
    expect(kiosk.locator("#order-number")).to_have_text(re.compile(r"\d"))
    number = number_in(kiosk.locator("#order-number").inner_text())
    assert [(line["item"], line["quantity"]) for line in order(server, number)["items"]] == [
        ("nuggets", 1)]
    expect(kiosk.locator("#order-status")).to_have_attribute("data-status", "READY")

    tab_to(kiosk, "button#new-order")
    kiosk.keyboard.press("Enter")
    expect(kiosk.locator("#basket li[data-item]")).to_have_count(0)
    expect(kiosk.locator("button#place-order")).to_be_visible()
    assert_no_script_errors(open_page)


def test_kiosk_shows_a_refused_order_and_keeps_the_basket(
        open_page: PageOpener, server: Server) -> None:
    kiosk = open_page("/")

    def refuse(route: Route) -> None:
        if route.request.method == "POST":
            route.fulfill(status=503, json={"detail": "the kitchen is closed"})
        else:
            route.fallback()
    kiosk.route(re.compile(r"/orders$"), refuse)

    kiosk.locator('li.menu-item[data-item="salad"] button.add').click()
    kiosk.locator("button#place-order").click()
    expect(kiosk.locator("#errors[role=alert]")).to_have_text(re.compile(r"\S"))
    expect(kiosk.locator("#order-number")).not_to_be_visible()
    expect(kiosk.locator('#basket li[data-item="salad"]')).to_be_visible()

    kiosk.unroute(re.compile(r"/orders$"))
    kiosk.locator("button#place-order").click()
    expect(kiosk.locator("#order-number")).to_have_text(re.compile(r"\d"))
    number = number_in(kiosk.locator("#order-number").inner_text())
    assert [(line["item"], line["quantity"]) for line in order(server, number)["items"]] == [
        ("salad", 1)]


# ---- the ready-time range in words ----------------------------------------------------------

NUMBER = 41  # the order this scene's kiosk follows (answered by the test, not the server)
DASH = "\N{EN DASH}"  # between a range's ends, as a person writes "4\N{EN DASH}7 min"
SLOW = timedelta(minutes=10)  # the kiosk's own clock is this far behind the server's


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


class OrderScene:
    """What the kiosk is told about order NUMBER (POST /orders and GET /orders/41 are answered
    here) and the server's clock in the answers' Date header: the kiosk counts minutes from
    the server's clock. The page's own clock (Playwright's) is SLOW behind it and moves with
    it."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start
        self.order: dict[str, Any] = {}

    def tell(self, ready_at: timedelta, from_: timedelta | None = None,
             by: timedelta | None = None) -> None:
        """The order as the API gives it: the estimate, and the range when both ends are given
        (none: as an older server, or for an order estimated before the ranges)."""
        def iso(offset: timedelta | None) -> str | None:
            return None if offset is None else _iso(self.start + offset)
        self.order = {
            "id": "o-41", "number": NUMBER, "status": "IN_PROGRESS",
            "items": [{"item": "nuggets", "quantity": 1, "ready": 0}],
            "placed_at": _iso(self.start), "estimated_ready_at": iso(ready_at),
            "estimated_ready_from": iso(from_), "estimated_ready_by": iso(by),
            "promised_ready_by": iso(by), "ready_at": None, "collected_at": None}

    def answer(self, route: Route) -> None:
        if route.request.method not in ("GET", "POST"):
            route.fallback()
            return
        route.fulfill(status=201 if route.request.method == "POST" else 200, json=self.order,
                      headers={"date": formatdate(self.now.timestamp(), usegmt=True)})


def test_kiosk_says_the_ready_range_in_minutes_as_time_passes(
        open_page: PageOpener, server: Server) -> None:
    scene = OrderScene(datetime.now(UTC).replace(microsecond=0))

    def setup(context: BrowserContext) -> None:
        context.clock.install(time=scene.start - SLOW - timedelta(minutes=1))
        context.route(re.compile(rf"/orders(/{NUMBER})?$"), scene.answer)

    kiosk = open_page("/", setup=setup)
    expect(kiosk.locator('li.menu-item[data-item="nuggets"]')).to_be_visible()
    expect(kiosk.locator("#connection")).to_have_attribute("data-state", "websocket")
    kiosk.clock.pause_at(scene.start - SLOW)  # from now on time moves when the test says
    estimate = kiosk.locator("#order-estimate")

    def after(elapsed: timedelta) -> None:
        """Both clocks move on; the kiosk re-words (every 5 s) and asks again (every 10 s).
        The server's first: the page asks while its clock jumps."""
        jump = scene.start + elapsed - scene.now
        scene.now = scene.start + elapsed
        kiosk.clock.fast_forward(int(jump.total_seconds() * 1000))

    # Placed with an estimate but no range: the wording the kiosk had before the ranges.
    scene.tell(ready_at=timedelta(minutes=5))
    kiosk.locator('li.menu-item[data-item="nuggets"] button.add').click()
    kiosk.locator("button#place-order").click()
    expect(estimate).to_have_text(re.compile(r"^Estimated ready at .+ \(in about 5 min\)$"))
    expect(estimate).to_have_attribute("data-kind", "point")

    # The range arrives with the next look at the order: both ends, in whole minutes.
    scene.tell(ready_at=timedelta(minutes=5), from_=timedelta(minutes=4),
               by=timedelta(minutes=7))
    after(timedelta(seconds=10))
    expect(estimate).to_have_attribute("data-kind", "range")
    expect(estimate.locator(".estimate-words")).to_have_text(f"Ready in 4{DASH}7 min")
    expect(estimate).to_have_text(re.compile(rf"^Ready in 4{DASH}7 min \(around .+\)$"))
    expect(estimate.locator("time")).to_have_attribute("datetime", scene.order[
        "estimated_ready_at"])

    # A range whose ends round to the same minute is one figure.
    scene.tell(ready_at=timedelta(minutes=5, seconds=10), from_=timedelta(minutes=5),
               by=timedelta(minutes=5, seconds=20))
    after(timedelta(seconds=20))
    expect(estimate.locator(".estimate-words")).to_have_text("Ready in about 5 min")

    # Past the low end, only the high end is left to say; past both, any moment now.
    scene.tell(ready_at=timedelta(minutes=5), from_=timedelta(minutes=4),
               by=timedelta(minutes=7))
    after(timedelta(minutes=4, seconds=10))
    expect(estimate.locator(".estimate-words")).to_have_text("Ready in up to 3 min")
    after(timedelta(minutes=7, seconds=10))
    expect(estimate).to_have_text("Ready any moment now")
    assert_no_script_errors(open_page, kiosk)
