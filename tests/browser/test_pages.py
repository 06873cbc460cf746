"""Each page loads from the server alone (no CDN, no other address), without a script error."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PageOpener
from tests.browser.helpers import Page, assert_no_script_errors, expect
from tests.e2e.processes import Server

pytestmark = pytest.mark.browser


def kiosk_ready(page: Page) -> None:
    expect(page.locator("li.menu-item[data-item]")).to_have_count(8)  # menu.toml's items


def board_ready(page: Page) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "websocket")


def kitchen_ready(page: Page) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")


def analytics_ready(page: Page) -> None:
    expect(page.locator("#summary dl")).to_be_visible()


PAGES = {"/": kiosk_ready, "/board/": board_ready, "/kitchen/": kitchen_ready,
         "/analytics/": analytics_ready}


@pytest.mark.parametrize("path", list(PAGES), ids=["kiosk", "board", "kitchen", "analytics"])
def test_page_loads_cleanly(open_page: PageOpener, server: Server, path: str) -> None:
    page = open_page(path)
    PAGES[path](page)
    expect(page).to_have_title(re.compile("McBurger"))
    assert page.evaluate("document.documentElement.lang"), "no lang on <html>"
    assert_no_script_errors(open_page)
