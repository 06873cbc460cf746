"""The same screens on the distributed restaurant: the kiosk and the kitchen display served by
the `api` service, the board by the `board` service, each a separate process on Kafka,
PostgreSQL and FerretDB (see tests/e2e/distributed.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import PAGES, SERVERS, PageOpener, screenshot
from tests.browser.helpers import Browser, assert_no_script_errors, expect, number_in
from tests.e2e.distributed import Cluster, start_cluster
from tests.e2e.processes import Launcher, Server
from tests.support.kafka_server import KafkaBroker

pytestmark = pytest.mark.browser


@pytest.fixture
def cluster(tmp_path: Path, postgres: str, mongo: str, kafka: KafkaBroker,
            request: pytest.FixtureRequest) -> Iterator[Cluster]:
    def attach(started: Server) -> None:
        request.node.stash.setdefault(SERVERS, []).append(started)
    launcher = Launcher(tmp_path, on_start=attach)
    try:
        yield start_cluster(launcher, postgres, mongo, kafka,
                            "--speed", "300", "--workers", "2", "--seed", "5")
    finally:
        launcher.stop_all()


def test_kiosk_board_and_kitchen_display_across_services(
        chromium: Browser, cluster: Cluster, request: pytest.FixtureRequest) -> None:
    watched = request.node.stash.setdefault(PAGES, [])
    on_api = PageOpener(chromium, cluster.api, watched)
    on_board = PageOpener(chromium, cluster.board, watched)
    try:
        board = on_board("/board/")
        expect(board.locator("#connection")).to_have_attribute("data-state", "websocket")

        kiosk = on_api("/")
        nuggets = kiosk.locator('li.menu-item[data-item="nuggets"]')
        for _ in range(2):
            nuggets.locator("button.add").click()
        kiosk.locator("button#place-order").click()
        expect(kiosk.locator("#order #order-number")).to_have_text(re.compile(r"\d"))
        number = number_in(kiosk.locator("#order-number").inner_text())

        ready = board.locator(f'section#ready li[data-number="{number}"]')
        expect(ready).to_be_visible()
        expect(board.locator("body")).to_have_attribute("data-last-announced", str(number))
        expect(kiosk.locator("#order-status")).to_have_attribute("data-status", "READY")

        kitchen = on_api("/kitchen/")
        expect(kitchen.locator("section#workers li[data-worker]")).to_have_count(2)
        expect(kitchen.locator('section#stock li[data-item="hamburger"] .count')).to_have_text(
            re.compile(r"\d"))
        waiting = kitchen.locator(f'section#ready-orders li[data-number="{number}"]')
        waiting.locator("button.collect").click()
        expect(waiting).to_have_count(0)
        expect(ready).to_have_count(0)
        expect(kiosk.locator("#order-status")).to_have_attribute("data-status", "COLLECTED")

        analytics = on_api("/analytics/")
        expect(analytics.locator("svg#wait-chart")).not_to_have_attribute("data-points", "0")
        screenshot(board, "distributed-board")
        # The api answers before the board service has the order (it never waits on another
        # process): the kiosk's first look at it may be a 404, which it reads as "not yet"
        not_yet = f"GET {cluster.api.url}/orders/{number}: HTTP 404"
        for record in on_api.watched:
            record.failed_requests = [r for r in record.failed_requests if r != not_yet]
        for opener in (on_api, on_board):
            assert_no_script_errors(opener)
    finally:
        for opener in (on_api, on_board):
            for context in opener.contexts:
                context.close()
