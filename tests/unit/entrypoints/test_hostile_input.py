"""Hostile input, by kind: numbers out of range, text that cannot be rendered, bodies too large,
cursors from another life of the restaurant. Each gets a clear 4xx (or a resync), never a 5xx
or a hang, and writes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.entrypoints.api import board as board_routes
from mcburger.entrypoints.api.app import create_app
from mcburger.entrypoints.api.limits import MAX_BODY_BYTES
from mcburger.restaurant import Restaurant

TOKEN = "a-staff-token-for-this-test"
STAFF = {"Authorization": f"Bearer {TOKEN}"}
ORDER = {"items": [{"item": "hamburger", "quantity": 1}]}
HUGE = "9223372036854775808"  # 2**63: past SQLite's integers


@pytest.fixture
async def restaurant() -> AsyncIterator[Restaurant]:
    running = await bootstrap(Settings(workers=1, seed=1), clock=VirtualClock(),
                              event_store=InMemoryEventStore(),
                              read_models=InMemoryReadModelStore())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(restaurant: Restaurant) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(restaurant=restaurant, staff_token=TOKEN)
    app.state.restaurant = restaurant
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=STAFF,
                                 base_url="http://restaurant", timeout=10.0) as each:
        yield each


async def nothing_written(restaurant: Restaurant) -> bool:
    """No order and no change to one (the kitchen's own start-up events aside)."""
    return await restaurant.event_store.read_stream("ordering-main") == []


@pytest.mark.parametrize(("path", "field"), [
    (f"/board/poll?since={HUGE}", "since"), ("/board/poll?since=-1", "since"),
    (f"/orders/{HUGE}", "number"), ("/orders/0", "number"),
    (f"/orders/{HUGE}/collect", "number"),
    (f"/analytics/estimates?limit={HUGE}", "limit"),
    (f"/analytics/timeline?limit={HUGE}", "limit"),
    ("/orders?limit=0", "limit"), ("/orders?limit=1001", "limit"),
    ("/orders?after=-1", "after"), (f"/orders?after={HUGE}", "after"),
])
async def test_a_number_out_of_range_is_a_422_naming_the_parameter(
        client: httpx.AsyncClient, restaurant: Restaurant, path: str, field: str) -> None:
    method = "POST" if path.endswith("collect") else "GET"
    answer = await client.request(method, path)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][-1] == field
    assert await nothing_written(restaurant)


async def test_a_lone_surrogate_is_a_422_with_a_valid_json_body(
        client: httpx.AsyncClient, restaurant: Restaurant) -> None:
    body = '{"items":[{"item":"\\ud800","quantity":1}]}'
    answer = await client.post("/orders", content=body,
                               headers={"content-type": "application/json"})
    assert answer.status_code == 422
    json.loads(answer.content.decode("utf-8"))  # strict UTF-8: renders
    assert answer.json()["detail"][0]["loc"][:3] == ["body", "items", 0]
    assert await nothing_written(restaurant)


async def test_an_error_never_echoes_large_input(client: httpx.AsyncClient,
                                                 restaurant: Restaurant) -> None:
    answer = await client.post("/orders", json={**ORDER, "extra": "x" * 60_000})
    assert answer.status_code == 422
    assert len(answer.content) < 2_000 and "xxxxxxxxxx" not in answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "extra"]
    assert await nothing_written(restaurant)


async def test_a_body_over_the_limit_is_413_whatever_its_type(
        client: httpx.AsyncClient, restaurant: Restaurant) -> None:
    big = b"x" * (MAX_BODY_BYTES + 1)
    for content_type in ("application/json", "text/plain", "application/octet-stream"):
        answer = await client.post("/orders", content=big, headers={"content-type": content_type})
        assert answer.status_code == 413, (content_type, answer.text)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: a chunked upload
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    chunked = await client.post("/orders", content=chunks(),
                                headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert await nothing_written(restaurant)
    assert (await client.post("/orders", json=ORDER)).status_code == 201  # still serving


async def test_a_board_cursor_ahead_of_the_board_resyncs_at_once(
        client: httpx.AsyncClient) -> None:
    await client.post("/orders", json=ORDER)
    board = (await client.get("/board")).json()
    # a client that followed an earlier life of the restaurant (its data directory replaced)
    stale = await client.get("/board/poll", params={"since": 1137, "timeout": 30})
    assert stale.status_code == 409
    assert stale.json()["version"] == board["version"]
    current = await client.get("/board/poll", params={"since": 0, "timeout": 0})
    assert [change["version"] for change in current.json()][-1] <= board["version"]


@pytest.mark.parametrize("last_event_id", ["1137", "not-a-version", HUGE, "\u0661"])
async def test_an_sse_client_with_an_unusable_last_event_id_starts_from_a_snapshot(
        client: httpx.AsyncClient, restaurant: Restaurant, last_event_id: str) -> None:
    # What GET /board/events streams (ASGITransport cannot stream an endless response)
    await client.post("/orders", json=ORDER)
    stream = board_routes.event_stream(restaurant.board, last_event_id)
    try:
        first = await anext(stream)
    finally:
        await stream.aclose()
    assert first.startswith(b"event: snapshot\n")


async def test_a_method_a_path_does_not_take_is_a_405_listing_every_method_it_does(
        client: httpx.AsyncClient) -> None:
    answer = await client.delete("/orders")
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) == {"GET", "POST"}


async def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(
        client: httpx.AsyncClient, restaurant: Restaurant) -> None:
    answer = await client.post("/orders", content=b'xC"S\xff\xfe',
                               headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body"]
    assert await nothing_written(restaurant)
