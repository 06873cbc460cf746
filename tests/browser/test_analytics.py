"""The analytics page: once orders are READY, every chart has data and the summary has figures."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PageOpener, screenshot
from tests.browser.helpers import assert_no_script_errors, expect, place_order, wait_status
from tests.e2e.processes import Server

pytestmark = pytest.mark.browser

CHARTS = ("svg#wait-chart", "#throughput-chart", "#queue-chart", "#utilisation-chart",
          "#estimate-chart")


def test_charts_have_data_after_orders_are_ready(open_page: PageOpener, server: Server) -> None:
    numbers = [place_order(server, items) for items in (
        {"nuggets": 2}, {"salad": 1, "cola": 2}, {"hamburger": 1}, {"chicken-wrap": 3})]
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
