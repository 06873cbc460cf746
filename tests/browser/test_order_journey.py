"""A customer's order from the kiosk to collection, as the three screens show it.

The kiosk places it; the board lists its number under Preparing, then under Ready with an
announcement; the kitchen display's "Collected" takes it off the board.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PHONE, PageOpener, screenshot
from tests.browser.helpers import (
    BOARD_RECORDER,
    Locator,
    Page,
    assert_no_script_errors,
    expect,
    number_in,
    order,
    place_order,
    wait_status,
)
from tests.e2e.processes import Server

pytestmark = pytest.mark.browser

# Nuggets are not a favourite: none are kept in stock, so the order must be cooked (0.5 s a unit
# at --speed 300); four of them keep the order under Preparing for a moment a person can see.
NUGGETS = 4


def board_number(board: Page, column: str, number: int) -> Locator:
    return board.locator(f'section#{column} li[data-number="{number}"]')


def test_order_from_kiosk_to_collection(open_page: PageOpener, server: Server) -> None:
    board = open_page("/board/", init_script=BOARD_RECORDER)
    expect(board.locator("#connection")).to_have_attribute("data-state", "websocket")
    announced_before = int(board.evaluate("document.body.dataset.announced || '0'"))

    # Kiosk: add nuggets, see them in the basket, place the order.
    kiosk = open_page("/")
    nuggets = kiosk.locator('li.menu-item[data-item="nuggets"]')
    for _ in range(NUGGETS):
        nuggets.locator("button.add").click()
    expect(nuggets.locator(".quantity")).to_have_text(re.compile(rf"\b{NUGGETS}\b"))
    expect(kiosk.locator('#basket li[data-item="nuggets"]')).to_contain_text(str(NUGGETS))
    screenshot(kiosk, "kiosk")
    kiosk.locator("button#place-order").click()
    expect(kiosk.locator("#order #order-number")).to_have_text(re.compile(r"\d"))
    number = number_in(kiosk.locator("#order-number").inner_text())
    placed = order(server, number)
    lines = [(line["item"], line["quantity"]) for line in placed["items"]]
    assert lines == [("nuggets", NUGGETS)], placed
    expect(kiosk.locator("#order-status")).to_have_attribute(
        "data-status", re.compile(r"^(REQUESTED|IN_PROGRESS|READY)$"))
    expect(kiosk.locator("#order-estimate")).not_to_be_empty()

    # Board: under Preparing first (however briefly), then under Ready, announced.
    board.wait_for_function("n => window.__boardSeen.preparing.includes(n)", arg=str(number))
    ready = board_number(board, "ready", number)
    expect(ready).to_be_visible()
    expect(board_number(board, "preparing", number)).to_have_count(0)
    expect(ready).to_have_class(re.compile(r"\bannounce\b"))
    expect(board.locator("body")).to_have_attribute("data-last-announced", str(number))
    expect(board.locator("body")).to_have_attribute("data-announced", str(announced_before + 1))
    spoken = board.locator("[aria-live]").filter(has_text=f"Order {number} is ready")
    expect(spoken.first).to_be_attached()
    screenshot(board, "board")

    # The kiosk follows its order to READY.
    expect(kiosk.locator("#order-status")).to_have_attribute("data-status", "READY")
    expect(kiosk.locator("#order-status")).to_contain_text(re.compile("ready", re.IGNORECASE))
    screenshot(kiosk, "kiosk-order")

    # Kitchen display: the READY order is listed; "Collected" hands it over.
    kitchen = open_page("/kitchen/")
    ready_in_kitchen = kitchen.locator(f'section#ready-orders li[data-number="{number}"]')
    ready_in_kitchen.locator("button.collect").click()
    expect(ready_in_kitchen).to_have_count(0)
    expect(board_number(board, "ready", number)).to_have_count(0)
    expect(board_number(board, "preparing", number)).to_have_count(0)
    expect(kiosk.locator("#order-status")).to_have_attribute("data-status", "COLLECTED")
    assert order(server, number)["status"] == "COLLECTED"
    expect(kitchen.locator("#errors")).to_have_text(re.compile(r"^\s*$"))
    expect(kiosk.locator("#errors")).to_have_text(re.compile(r"^\s*$"))
    assert_no_script_errors(open_page)


def test_board_and_kiosk_on_a_phone(open_page: PageOpener, server: Server) -> None:
    """390x844: the board shows a READY number, the kiosk its menu, neither scrolls sideways."""
    number = place_order(server, {"nuggets": 1})
    wait_status(server, number, "READY")
    later = place_order(server, {"chicken-wrap": 20})  # keeps one order under Preparing

    board = open_page("/board/", phone=True)
    expect(board_number(board, "ready", number)).to_be_visible()
    expect(board_number(board, "preparing", later)).to_be_visible()
    assert_fits_width(board)
    screenshot(board, "board-phone", full_page=False)  # what the phone shows

    kiosk = open_page("/", phone=True)
    nuggets = kiosk.locator('li.menu-item[data-item="nuggets"]')
    expect(nuggets).to_be_visible()
    nuggets.locator("button.add").tap()
    expect(nuggets.locator(".quantity")).to_have_text(re.compile(r"\b1\b"))
    expect(kiosk.locator('#basket li[data-item="nuggets"]')).to_be_attached()
    assert_fits_width(kiosk)
    screenshot(kiosk, "kiosk-phone", full_page=False)
    assert_no_script_errors(open_page)


def assert_fits_width(page: Page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a {PHONE['width']}px phone"
