"""The ordering kiosk: with the keyboard alone, and when the server refuses an order."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PageOpener
from tests.browser.helpers import Page, Route, assert_no_script_errors, expect, number_in, order
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
