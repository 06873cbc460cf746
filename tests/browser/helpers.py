"""What the browser tests share besides fixtures: the REST calls that set a scene up (orders a
test does not place through a page), and scripts injected into pages before their own."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest

from tests.browser.conftest import INSTALL_HINT, TIMEOUT_MS, PageOpener
from tests.e2e.processes import Server
from tests.support.servers import STAFF

try:  # the test modules take Playwright's API from here: without it they are skipped, not broken
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        Locator,
        Page,
        Route,
        WebSocketRoute,
        expect,
    )
except ImportError:
    pytest.skip(f"playwright (Python) is not installed: {INSTALL_HINT}", allow_module_level=True)

# Re-exported for the test modules (which import Playwright only through this module).
__all__ = ["Browser", "BrowserContext", "Locator", "Page", "Route", "WebSocketRoute", "expect"]

TIMEOUT_S = TIMEOUT_MS / 1000


def place_order(server: Server, items: dict[str, int]) -> int:
    """Place an order over the REST API; its number."""
    response = httpx.post(f"{server.url}/orders", timeout=10.0, json={
        "items": [{"item": item, "quantity": quantity} for item, quantity in items.items()]})
    assert response.status_code == 201, response.text
    return int(response.json()["number"])


def order(server: Server, number: int) -> dict[str, Any]:
    """Order ``number`` as ``GET /orders/{number}`` gives it."""
    response = httpx.get(f"{server.url}/orders/{number}", timeout=10.0)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def wait_status(server: Server, number: int, status: str, timeout: float = TIMEOUT_S) -> None:
    """Wait (bounded) until order ``number`` has ``status`` per the REST API."""
    deadline = time.monotonic() + timeout
    seen: object = None
    while time.monotonic() < deadline:
        seen = order(server, number)["status"]
        if seen == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"order {number} not {status} after {timeout}s (last: {seen})")


def collect(server: Server, number: int) -> None:
    response = httpx.post(f"{server.url}/orders/{number}/collect", timeout=10.0, headers=STAFF)
    assert response.status_code == 200, response.text


def number_in(text: str) -> int:
    """The order number shown in ``text`` (e.g. "12", "#12", "Order 12")."""
    found = re.search(r"\d+", text)
    assert found is not None, f"no order number in {text!r}"
    return int(found.group())


def assert_no_script_errors(open_page: PageOpener, *pages: object) -> None:
    """No uncaught script error and no failed request on the given pages (all if none given)."""
    for record in open_page.watched:
        if pages and record.page not in pages:
            continue
        assert not record.page_errors, f"{record.name}: uncaught errors: {record.page_errors}"
        assert not record.failed_requests, (
            f"{record.name}: failed requests: {record.failed_requests}")


# Records every order number that was ever listed under Preparing / Ready on the board, so that a
# number shown only briefly (a quick order at --speed 300) is still seen, as a person watching
# would have seen it.
BOARD_RECORDER = """
(() => {
  const seen = { preparing: [], ready: [] };
  window.__boardSeen = seen;
  const scan = () => {
    for (const column of ['preparing', 'ready']) {
      for (const li of document.querySelectorAll(`section#${column} li[data-number]`)) {
        if (!seen[column].includes(li.dataset.number)) seen[column].push(li.dataset.number);
      }
    }
  };
  const start = () => {
    scan();
    new MutationObserver(scan).observe(document.documentElement,
      { subtree: true, childList: true, attributes: true, attributeFilter: ['data-number'] });
  };
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
"""


def block_script(*apis: str) -> str:
    """An init script under which ``/board/ws`` WebSockets (``"websocket"``) never open, as
    behind a proxy that refuses the upgrade (error, then close 1006), and with ``"eventsource"``
    /board/events EventSources fail the same way."""
    return _BLOCK_TEMPLATE.replace("__BLOCKED__", json.dumps(list(apis)))


_BLOCK_TEMPLATE = """
(() => {
  const blocked = __BLOCKED__;
  const fail = (target) => setTimeout(() => {
    target.readyState = target.constructor.CLOSED;
    const error = new Event('error');
    target.dispatchEvent(error);
    if (typeof target.onerror === 'function') target.onerror(error);
    if (target instanceof window.__BlockedWebSocket) {
      const close = new CloseEvent('close', { code: 1006, reason: '', wasClean: false });
      target.dispatchEvent(close);
      if (typeof target.onclose === 'function') target.onclose(close);
    }
  }, 20);
  if (blocked.includes('websocket')) {
    const Real = window.WebSocket;
    class BlockedWebSocket extends EventTarget {
      static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
      constructor(url, protocols) {
        const address = new URL(url, location.href);
        if (!address.pathname.endsWith('/board/ws')) return new Real(url, protocols);
        super();
        this.url = address.href; this.readyState = 0; this.protocol = ''; this.extensions = '';
        this.binaryType = 'blob'; this.bufferedAmount = 0;
        this.onopen = null; this.onmessage = null; this.onerror = null; this.onclose = null;
        window.__blockedSockets = (window.__blockedSockets || 0) + 1;
        fail(this);
      }
      send() { throw new DOMException('WebSocket is not open', 'InvalidStateError'); }
      close() { this.readyState = 3; }
    }
    window.__BlockedWebSocket = BlockedWebSocket;
    window.WebSocket = BlockedWebSocket;
  } else {
    window.__BlockedWebSocket = class {};
  }
  if (blocked.includes('eventsource')) {
    class BlockedEventSource extends EventTarget {
      static CONNECTING = 0; static OPEN = 1; static CLOSED = 2;
      constructor(url) {
        super();
        this.url = new URL(url, location.href).href; this.readyState = 0;
        this.withCredentials = false;
        this.onopen = null; this.onmessage = null; this.onerror = null;
        window.__blockedEventSources = (window.__blockedEventSources || 0) + 1;
        fail(this);
      }
      close() { this.readyState = 2; }
    }
    window.EventSource = BlockedEventSource;
  }
})();
"""
