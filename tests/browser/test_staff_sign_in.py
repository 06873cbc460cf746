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
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text)
            if message.type == "warning" else None)
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

    assert not [w for w in warnings if "Form submission" in w], warnings
    page.reload()
    expect(page.locator("dialog#staff-sign-in")).to_have_count(0)


def test_a_refusal_of_the_old_token_arriving_late_does_not_sign_the_tab_out(
        open_page: PageOpener) -> None:
    """The kitchen display sends several requests at once. One of them, sent with a wrong token,
    is answered only after the right token was typed: the tab stays signed in and that request
    goes through with the right token, with no second sign-in."""
    from playwright.sync_api import Route

    wrong = "not-the-staff-token-at-all"
    held: list[Route] = []

    def hold_the_wrong_tokens_stock_request(route: Route) -> None:
        if route.request.headers.get("authorization") == f"Bearer {wrong}" and not held:
            held.append(route)  # answered below, after the right token is in
        else:
            route.continue_()

    page = open_page("/kitchen/", staff_token=None)
    page.route("**/stock", hold_the_wrong_tokens_stock_request)
    dialog = page.locator("dialog#staff-sign-in")
    expect(dialog).to_be_visible()
    dialog.locator("input[name=token]").fill(wrong)
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator(".problem")).to_contain_text("not accepted")
    assert len(held) == 1

    dialog.locator("input[name=token]").fill(STAFF_TOKEN)
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_have_count(0)

    # released at once: the page gives up on a request after 4 s
    with page.expect_response(lambda r: r.url.endswith("/stock")
                              and r.request.headers.get("authorization")
                              == f"Bearer {STAFF_TOKEN}") as retried:
        held[0].continue_()  # the server refuses the wrong token now, late
    assert retried.value.status == 200
    expect(page.locator("section#workers li[data-worker]")).to_have_count(2)
    expect(dialog).to_have_count(0)
    page.reload()
    expect(page.locator("dialog#staff-sign-in")).to_have_count(0)


def test_a_slow_sign_in_still_loads_the_kitchen_at_once(open_page: PageOpener) -> None:
    """The kitchen display gives up on a request after 4 s. The time the sign-in dialog is open
    is not a request's: a token typed after more than 4 s loads the display from the requests
    that were waiting for it (it once said "timed out" and showed nothing until the next poll)."""
    page = open_page("/kitchen/", staff_token=None, setup=lambda context: context.clock.install())
    dialog = page.locator("dialog#staff-sign-in")
    expect(dialog).to_be_visible()
    # 5 s pass on the page's clock while the token is typed; then its time stands still, so no
    # later poll can fill the display in place of the requests that waited for the token
    page.clock.pause_at(page.evaluate("Date.now()") + 5_000)

    dialog.locator("input[name=token]").fill(STAFF_TOKEN)
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_have_count(0)
    expect(page.locator("section#workers li[data-worker]")).to_have_count(2)
