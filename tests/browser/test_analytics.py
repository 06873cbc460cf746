"""The analytics page: once orders are READY, every chart has data and the summary has figures;
the estimate part shows what the API measured (range coverage, accuracy before READY, each
order's promised range), and keeps working on documents written before the ranges."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.browser.conftest import PageOpener, screenshot
from tests.browser.helpers import (
    TIMEOUT_S,
    BrowserContext,
    Page,
    Route,
    assert_no_script_errors,
    expect,
    place_order,
    wait_status,
)
from tests.e2e.processes import Server
from tests.support.servers import STAFF

pytestmark = pytest.mark.browser

CHARTS = ("svg#wait-chart", "#throughput-chart", "#queue-chart", "#utilisation-chart",
          "#estimate-chart", "#before-ready-chart")
# Orders of 1 to about 12 minutes of kitchen time: some are placed 5 minutes before READY,
# some not, so the rows before READY count different orders.
ORDERS = ({"nuggets": 2}, {"salad": 1, "cola": 2}, {"hamburger": 1}, {"chicken-wrap": 3})
ACCURACY_ROWS = ["At placement", "5 min before ready", "2 min before ready", "1 min before ready"]
ESTIMATE_HEAD = ["Order", "Estimated wait", "Promised range", "Actual wait",
                 "Ready within range", "Error (+ late)"]
NO_RANGES = "No order given a range at placement is ready yet."
NONE = "\N{EN DASH}"  # the page's "no figure"; also between a range's ends, spaced
MINUS = "\N{MINUS SIGN}"


def test_charts_have_data_after_orders_are_ready(open_page: PageOpener, server: Server) -> None:
    numbers = [place_order(server, items) for items in ORDERS]
    for number in numbers:
        wait_status(server, number, "READY")

    analytics = open_page("/analytics/")
    for chart in CHARTS:
        expect(analytics.locator(chart)).to_have_attribute(
            "data-points", re.compile(r"^[1-9]\d*$"))
    expect(analytics.locator("#summary dl dt").first).to_be_visible()
    expect(analytics.locator("#summary dl dd").first).not_to_be_empty()
    expect(analytics.locator("#errors")).to_have_text(re.compile(r"^\s*$"))
    screenshot(analytics, "analytics")
    assert_no_script_errors(open_page)


def test_estimate_ranges_and_accuracy_before_ready_are_the_apis(
        open_page: PageOpener, server: Server) -> None:
    analytics = open_page("/analytics/")
    expect(analytics.locator("#range-coverage")).to_have_text(NO_RANGES)
    expect(analytics.locator("#before-ready-table tbody th")).to_have_text(ACCURACY_ROWS)
    expect(analytics.locator("#before-ready-table tbody td:nth-child(2)")).to_have_text(
        ["0", "0", "0", "0"])

    summary = ready_and_analysed(server, [place_order(server, items) for items in ORDERS])
    ranges, before_ready = summary["estimate_range"], summary["estimate_error_before_ready"]
    assert ranges["orders"] and before_ready, f"nothing to show: {summary}"
    # the page refreshes every 5 s: the figures come without reloading it
    share = f"{int(ranges['coverage'] * 100 + 0.5)} %"
    orders = f"{ranges['orders']} order{'' if ranges['orders'] == 1 else 's'}"
    expect(analytics.locator("#range-coverage")).to_have_text(
        f"Ranges held for {share} of {orders} (aim: 80 %)")

    by_seconds = {row["seconds_before"]: row for row in before_ready}
    expected = [(summary["estimate_error"]["count"], summary["estimate_error"]["mean_abs_seconds"])]
    expected += [(by_seconds[s]["orders"], by_seconds[s]["mae_seconds"]) if s in by_seconds
                 else (0, None) for s in (300, 120, 60)]
    table = analytics.locator("#before-ready-table")
    expect(table.locator("thead th")).to_have_text(
        ["Estimate", "Orders", "Mean error (absolute)"])
    expect(table.locator("tbody th")).to_have_text(ACCURACY_ROWS)
    expect(table.locator("tbody td:nth-child(2)")).to_have_text(
        [str(count) for count, _ in expected])
    for shown, (_, mae) in zip(table.locator("tbody td:nth-child(3)").all_inner_texts(),
                               expected, strict=True):
        assert_duration(shown, mae)
    expect(analytics.locator("#before-ready-chart")).to_have_attribute(
        "data-points", str(sum(mae is not None for _, mae in expected)))

    assert_promised_ranges(analytics, estimates(server), summary["speed"])
    screenshot(analytics, "analytics-estimates")
    assert_no_script_errors(open_page)


def test_documents_from_before_the_ranges_show_none(open_page: PageOpener,
                                                     server: Server) -> None:
    number = place_order(server, {"nuggets": 1})
    ready_and_analysed(server, [number])

    analytics = open_page("/analytics/", setup=as_an_earlier_release)
    expect(analytics.locator("#before-ready-table tbody td:nth-child(2)")).to_have_text(
        ["1", "0", "0", "0"])
    expect(analytics.locator("#before-ready-table tbody td:nth-child(3)")).to_have_text(
        [re.compile(r"\d s$"), NONE, NONE, NONE])
    expect(analytics.locator("#range-coverage")).to_have_text(NO_RANGES)
    expect(analytics.locator("#before-ready-chart")).to_have_attribute("data-points", "1")
    analytics.locator("figure:has(#estimate-table) summary").click()
    row = analytics.locator("#estimate-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("th, td")).to_have_text(
        [str(number), re.compile(r"\d s$"), NONE, re.compile(r"\d s$"), NONE,
         re.compile(r"\d s$")])
    assert_no_script_errors(open_page)


# --- helpers ------------------------------------------------------------------------------

def ready_and_analysed(server: Server, numbers: list[int]) -> dict[str, Any]:
    """Wait (bounded) until the orders are READY and the analytics summary counts them all;
    that summary."""
    for number in numbers:
        wait_status(server, number, "READY")
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        summary: dict[str, Any] = staff_get(server, "/analytics/summary")
        if summary["estimate_error"]["count"] >= len(numbers):
            return summary
        assert time.monotonic() < deadline, f"analytics did not count {numbers}: {summary}"
        time.sleep(0.05)


def estimates(server: Server) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = staff_get(server, "/analytics/estimates?limit=50")["estimates"]
    return found


def staff_get(server: Server, path: str) -> Any:
    response = httpx.get(f"{server.url}{path}", headers=STAFF, timeout=10.0)
    assert response.status_code == 200, response.text
    return response.json()


def assert_promised_ranges(page: Page, found: list[dict[str, Any]], speed: float) -> None:
    """Each READY order's row shows the range given at placement as kitchen waits after
    placement, and whether it was ready within it (ends included, as the API counts)."""
    page.locator("figure:has(#estimate-table) summary").click()
    table = page.locator("#estimate-table")
    expect(table.locator("thead th")).to_have_text(ESTIMATE_HEAD)
    expect(table.locator("tbody tr")).to_have_count(len(found))
    for estimate in found:
        placed, ready, low, high = (datetime.fromisoformat(estimate[name]) for name in (
            "placed_at", "ready_at", "promised_ready_from", "promised_ready_by"))
        row = table.locator("tbody tr").filter(
            has=page.get_by_role("rowheader", name=str(estimate["number"]), exact=True))
        shown = row.locator("td").all_inner_texts()
        assert len(shown) == len(ESTIMATE_HEAD) - 1, shown
        shown_range, held = shown[1], shown[3]
        if high <= low:  # ready from stock at once: a point, no range
            assert held == "no range", shown
            continue
        assert held == ("no, early" if ready < low else "no, late" if ready > high else "yes"), (
            f"order {estimate['number']}: {shown} for {estimate}")
        ends = shown_range.split(f" {NONE} ")
        assert len(ends) == 2, f"not a range: {shown_range!r}"
        # a millisecond of wall time is 0.3 kitchen seconds at --speed 300
        assert_duration(ends[0], (low - placed).total_seconds() * speed, slack=1.0)
        assert_duration(ends[1], (high - placed).total_seconds() * speed, slack=1.0)


_DURATION = re.compile(
    f"(?P<sign>{MINUS}?)"
    r"(?:(?P<h>\d+) h (?P<hm>\d\d) min|(?P<m>\d+) min (?P<ms>\d\d) s|(?P<s>[\d.]+) s)")


def assert_duration(shown: str, seconds: float | None, slack: float = 0.0) -> None:
    """``shown`` is ``seconds`` in the page's duration format (NONE for none), to its rounding
    (plus ``slack``)."""
    if seconds is None:
        assert shown == NONE, shown
        return
    found = _DURATION.fullmatch(shown)
    assert found, f"not a duration: {shown!r}"
    if found["h"]:
        value, step = int(found["h"]) * 3600 + int(found["hm"]) * 60, 60.0
    elif found["m"]:
        value, step = int(found["m"]) * 60 + int(found["ms"]), 1.0
    else:
        value, step = float(found["s"]), 0.1 if "." in found["s"] else 1.0
    value = -value if found["sign"] else value
    assert abs(value - seconds) <= step / 2 + slack + 1e-9, f"{shown!r} is not {seconds} s"


def as_an_earlier_release(context: BrowserContext) -> None:
    """Answer the analytics page as the API does for documents written before the ranges."""
    def summary(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        body.update(estimate_range={"orders": 0, "coverage": None},
                    estimate_error_before_ready=[])
        route.fulfill(response=response, json=body)

    def estimates(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        for row in body["estimates"]:
            row.update(estimated_ready_from=None, estimated_ready_by=None,
                       promised_ready_from=None, promised_ready_by=None,
                       error_before_ready_seconds=None)
        route.fulfill(response=response, json=body)

    context.route(re.compile(r"/analytics/summary$"), summary)
    context.route(re.compile(r"/analytics/estimates\?"), estimates)
