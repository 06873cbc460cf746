"""What a client gets for bad input and impossible requests: 422 naming the field (and nothing
written), JSON 404s, the collect rules (409 unless READY), and a board screen's oversized
message (closed with 1009, nobody else's board touched)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mcburger.entrypoints.api.board import MAX_CLIENT_MESSAGE_BYTES
from tests.e2e.helpers import place, wait_all_ready, wait_quiet
from tests.e2e.processes import Launcher, Server
from tests.support.servers import STAFF

pytestmark = pytest.mark.e2e

COLA = {"item": "cola", "quantity": 1}


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One fast restaurant for the whole module: these tests only need it quiet."""
    launcher = Launcher(tmp_path_factory.mktemp("api-errors"))
    yield launcher("--speed", "1000", "--workers", "3", "--seed", "5")
    launcher.stop_all()


@pytest.fixture
async def client(shared_server: Server,
                 show_log_on_failure: Callable[[Server], None]) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the shared restaurant, once its kitchen is quiet (nothing is being written)."""
    show_log_on_failure(shared_server)
    async with httpx.AsyncClient(headers=STAFF, base_url=shared_server.url, timeout=15.0) as client:
        await wait_quiet(client)
        yield client


async def _written(client: httpx.AsyncClient) -> tuple[int, int]:
    """The event store's head and how many orders there are."""
    health = (await client.get("/healthz")).json()
    orders = (await client.get("/orders")).json()["orders"]
    return health["event_store"]["last_position"], len(orders)


def _names(error: dict[str, Any], field: tuple[str | int, ...]) -> bool:
    """The error's ``loc`` is the field, or a parent of it with the field named in ``msg``."""
    loc = tuple(error["loc"])
    if loc[:1] != ("body",):
        return False
    rest = loc[1:]
    return rest == field or (field[: len(rest)] == rest and str(field[-1]) in error["msg"])


BAD_ORDERS: dict[str, tuple[Any, tuple[str | int, ...]]] = {
    "unknown item": ({"items": [{"item": "pizza", "quantity": 1}]}, ("items", 0, "item")),
    "quantity 0": ({"items": [{"item": "cola", "quantity": 0}]}, ("items", 0, "quantity")),
    "quantity 21": ({"items": [COLA, {"item": "fries", "quantity": 21}]},
                    ("items", 1, "quantity")),
    "no items": ({"items": []}, ("items",)),
    "51 units": ({"items": [{"item": i, "quantity": 17} for i in ("cola", "fries", "salad")]},
                 ("items",)),
    "quantity as a string": ({"items": [{"item": "cola", "quantity": "2"}]},
                             ("items", 0, "quantity")),
    "item as a number": ({"items": [{"item": 7, "quantity": 1}]}, ("items", 0, "item")),
    "unknown top-level field": ({"items": [COLA], "tip": 5}, ("tip",)),
    "unknown line field": ({"items": [{"item": "cola", "quantity": 1, "sauce": "bbq"}]},
                           ("items", 0, "sauce")),
    "duplicate item lines": ({"items": [COLA, {"item": "fries", "quantity": 1}, COLA]},
                             ("items", 2, "item")),
    "no items key": ({}, ("items",)),
}


@pytest.mark.parametrize(("body", "field"), BAD_ORDERS.values(), ids=BAD_ORDERS.keys())
async def test_a_bad_order_is_422_naming_the_field_and_writes_nothing(
        client: httpx.AsyncClient, body: Any, field: tuple[str | int, ...]) -> None:
    before = await _written(client)
    response = await client.post("/orders", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(_names(error, field) for error in detail), f"{field} not named in {detail}"
    assert await _written(client) == before, "a rejected order was written"


async def test_malformed_json_is_422_and_writes_nothing(client: httpx.AsyncClient) -> None:
    before = await _written(client)
    response = await client.post("/orders", content=b'{"items": [{"item": "co',
                                 headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][0] == "body" and error["type"] == "json_invalid", error
    assert await _written(client) == before


@pytest.mark.parametrize(("path", "field"), [
    ("/orders?status=LOST", "status"),
    ("/board/poll?since=-1&timeout=0", "since"),
    ("/board/poll?since=0&timeout=61", "timeout"),
    ("/orders/seven", "number"),
])
async def test_a_bad_query_or_path_is_422_naming_it(client: httpx.AsyncClient, path: str,
                                                   field: str) -> None:
    response = await client.get(path)
    assert response.status_code == 422, response.text
    assert any(error["loc"][-1] == field for error in response.json()["detail"]), response.text


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/no-such-page"),
    ("GET", "/orders/9999"),
    ("POST", "/orders/9999/collect"),
])
async def test_unknown_things_are_json_404(client: httpx.AsyncClient, method: str,
                                           path: str) -> None:
    before = await _written(client)
    response = await client.request(method, path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["detail"]
    assert await _written(client) == before


async def test_collecting_a_ready_order_once(client: httpx.AsyncClient) -> None:
    order = await place(client, {"items": [COLA, {"item": "salad", "quantity": 2}]})
    number = order["number"]
    await wait_all_ready(client, [number], timeout=30.0)
    assert number in (await client.get("/board")).json()["ready"]

    collected = await client.post(f"/orders/{number}/collect")
    assert collected.status_code == 200, collected.text
    assert collected.json()["status"] == "COLLECTED"
    assert collected.json()["collected_at"] is not None

    again = await client.post(f"/orders/{number}/collect")
    assert again.status_code == 409, again.text
    assert (await client.get(f"/orders/{number}")).json()["status"] == "COLLECTED"

    board = (await client.get("/board")).json()
    on_board = board["requested"] + board["in_progress"] + board["ready"]
    assert number not in on_board, f"collected order {number} still on the board {board}"
    collected_list = (await client.get("/orders", params={"status": "COLLECTED"})).json()
    assert number in [o["number"] for o in collected_list["orders"]]
    ready_list = (await client.get("/orders", params={"status": "READY"})).json()
    assert number not in [o["number"] for o in ready_list["orders"]]


async def test_collecting_an_order_that_is_not_ready_is_409(launch: Launcher) -> None:
    # At real speed a chicken wrap takes minutes: the order cannot be READY during this test.
    server = launch("--speed", "1", "--workers", "2", "--seed", "9")
    async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:
        order = await place(client, {"items": [{"item": "chicken-wrap", "quantity": 1}]})
        response = await client.post(f"/orders/{order['number']}/collect")
        assert response.status_code == 409, response.text
        assert response.json()["detail"]
        status = (await client.get(f"/orders/{order['number']}")).json()["status"]
        assert status in {"REQUESTED", "IN_PROGRESS"}, f"a refused collect changed it: {status}"


async def test_a_board_screen_sending_a_big_message_is_closed_and_others_keep_their_board(
        client: httpx.AsyncClient, shared_server: Server) -> None:
    url = f"{shared_server.ws_url}/board/ws"
    async with connect(url) as watcher, connect(url, max_size=None) as hostile:
        await watcher.recv()
        await hostile.recv()
        await hostile.send("x" * 100)  # a screen's small message is read and dropped
        number = (await place(client, {"items": [COLA]}))["number"]
        while (change := json.loads(await asyncio.wait_for(hostile.recv(), 15.0)))["number"] \
                != number:
            pass

        # 16 MiB was uvicorn's default: each such screen held a message that size in the server
        await hostile.send("x" * (MAX_CLIENT_MESSAGE_BYTES + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(hostile.recv(), 15.0)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value

        number = (await place(client, {"items": [COLA]}))["number"]
        while (change := json.loads(await asyncio.wait_for(watcher.recv(), 15.0)))["number"] \
                != number:
            pass
        assert change["status"] == "REQUESTED", change
