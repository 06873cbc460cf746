"""GET /orders a page at a time: a client follows ``next_after`` to the end and gets every order
once, oldest first, whatever the page size (in-process, virtual clock)."""

from __future__ import annotations

import httpx

from tests.unit.served import STAFF

COLA = {"items": [{"item": "cola", "quantity": 1}]}


async def test_following_next_after_lists_every_order_once(client: httpx.AsyncClient) -> None:
    placed = [(await client.post("/orders", json=COLA)).json()["number"] for _ in range(7)]

    listed: list[int] = []
    after: int | None = 0
    pages = 0
    while after is not None:
        answer = await client.get("/orders", params={"after": after, "limit": 3}, headers=STAFF)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["orders"]) <= 3
        listed += [order["number"] for order in body["orders"]]
        after, pages = body["next_after"], pages + 1
        assert pages <= 4, "pages must end"

    assert listed == placed and pages == 3
    first_page = (await client.get("/orders", headers=STAFF)).json()
    assert [o["number"] for o in first_page["orders"]] == placed
    assert first_page["next_after"] is None  # under the default page size: one page
