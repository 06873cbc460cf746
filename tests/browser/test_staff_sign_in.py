"""Staff pages ask for the staff token once: the kitchen display shows nothing until it is given,
refuses a wrong one, and keeps the right one for the tab."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PageOpener
from tests.browser.helpers import expect
from tests.support.servers import STAFF_TOKEN

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", ["/kitchen/", "/analytics/"])
def test_a_staff_page_asks_for_the_token_once_and_keeps_it_for_the_tab(
        open_page: PageOpener, path: str) -> None:
    page = open_page(path, staff_token=None)
    dialog = page.locator("dialog#staff-sign-in")
    expect(dialog).to_be_visible()
    dialog.locator("input[name=token]").fill("not-the-staff-token-at-all")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator(".problem")).to_contain_text("not accepted")

    dialog.locator("input[name=token]").fill(STAFF_TOKEN)
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_have_count(0)
    if path == "/kitchen/":
        expect(page.locator("section#workers li[data-worker]")).to_have_count(2)
    else:
        expect(page.locator("#summary dl dt").first).to_be_visible()

    page.reload()
    expect(page.locator("dialog#staff-sign-in")).to_have_count(0)
