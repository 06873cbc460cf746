"""The board keeps showing changes when its WebSocket (and then its event stream) is blocked."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.browser.conftest import PageOpener
from tests.browser.helpers import (
    BOARD_RECORDER,
    BrowserContext,
    WebSocketRoute,
    assert_no_script_errors,
    block_script,
    collect,
    expect,
    place_order,
)
from tests.e2e.processes import Server

pytestmark = pytest.mark.browser


def refuse_socket(context: BrowserContext) -> None:
    """Playwright intercepts /board/ws and closes it at once: no snapshot ever comes."""
    def refuse(socket: WebSocketRoute) -> None:
        socket.close(code=1011, reason="blocked by the test")
    context.route_web_socket(re.compile(r"/board/ws(\?.*)?$"), refuse)


THROWING_SOCKET = """
window.WebSocket = function WebSocket() {
  throw new DOMException("WebSockets are blocked here", "SecurityError");
};
"""

CASES: dict[str, tuple[str | None, Callable[[BrowserContext], None] | None, str]] = {
    # name: (init script, context setup, the state the board must reach)
    "websocket-refused": (None, refuse_socket, "sse"),
    "websocket-throws": (THROWING_SOCKET, None, "sse"),
    "websocket-and-sse-blocked": (block_script("websocket", "eventsource"), None, "poll"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_board_falls_back_and_still_shows_changes(
        open_page: PageOpener, server: Server, case: str) -> None:
    script, setup, fallback = CASES[case]
    before = place_order(server, {"nuggets": 1})

    board = open_page("/board/", init_script=(script or "") + BOARD_RECORDER, setup=setup)
    expect(board.locator("#connection")).to_have_attribute("data-state", fallback)
    expect(board.locator(f'li[data-number="{before}"]')).to_be_visible()  # from the snapshot

    # Changes after the snapshot arrive over the fallback too.
    number = place_order(server, {"nuggets": 2})
    board.wait_for_function("n => window.__boardSeen.preparing.includes(n)", arg=str(number))
    expect(board.locator(f'section#ready li[data-number="{number}"]')).to_be_visible()
    expect(board.locator("body")).to_have_attribute("data-last-announced", str(number))
    collect(server, number)
    expect(board.locator(f'section#ready li[data-number="{number}"]')).to_have_count(0)
    expect(board.locator("#connection")).to_have_attribute("data-state", fallback)
    assert_no_script_errors(open_page)
