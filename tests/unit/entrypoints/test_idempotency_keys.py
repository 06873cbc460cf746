"""Orders placed once: an Idempotency-Key answers the order it placed, for a day, and costs
memory for a day's keys at most (domain, service and API over ASGI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from mcburger.config import Settings
from mcburger.domain.errors import IdempotencyKeyReused
from mcburger.domain.events import OrderPlaced
from mcburger.domain.ordering import KEY_LIFETIME, Ordering, OrderStatus
from tests.unit.builders import T0, fixed_menu, lines
from tests.unit.served import client_of


def ordering() -> Ordering:
    return Ordering("main", fixed_menu())


def saved(o: Ordering) -> None:
    o.mark_saved()


def test_a_retry_with_the_same_key_and_items_answers_the_same_order_and_records_nothing() -> None:
    o = ordering()
    first = o.place("id-1", lines(burger=2), T0, idempotency_key="k1")
    saved(o)
    again = o.place("id-2", lines(burger=2), T0 + timedelta(minutes=5), idempotency_key="k1")
    assert (again.order_id, again.number) == (first.order_id, 1) == ("id-1", 1)
    assert o.pending == []
    other = o.place("id-3", lines(burger=2), T0, idempotency_key="k2")
    assert other.number == 2


def test_the_same_key_with_other_items_is_refused_naming_the_order() -> None:
    o = ordering()
    o.place("id-1", lines(burger=2), T0, idempotency_key="k1")
    saved(o)
    with pytest.raises(IdempotencyKeyReused) as refused:
        o.place("id-2", lines(burger=3), T0, idempotency_key="k1")
    assert refused.value.number == 1 and o.pending == []


def test_a_collected_order_is_still_answered_as_collected() -> None:
    o = ordering()
    for index in range(2):
        o.receive_unit("burger", f"u{index}", T0)
    placed = o.place("id-1", lines(burger=2), T0, idempotency_key="k1")
    o.collect(placed.number, T0)
    saved(o)
    again = o.place("id-2", lines(burger=2), T0, idempotency_key="k1")
    assert (again.number, again.status, again.order_id) == (1, OrderStatus.COLLECTED, "id-1")


def test_a_key_is_forgotten_after_a_day_and_memory_holds_a_days_keys_at_most() -> None:
    o = ordering()
    o.place("id-0", lines(burger=1), T0, idempotency_key="k0")
    for hour in range(1, 49):  # two days, an order an hour, each with a key of its own
        o.place(f"id-{hour}", lines(burger=1), T0 + timedelta(hours=hour),
                idempotency_key=f"k{hour}")
    assert len(o.keys) <= KEY_LIFETIME / timedelta(hours=1) + 1
    later = o.place("id-new", lines(burger=1), T0 + timedelta(hours=49), idempotency_key="k0")
    assert later.number == 50, "k0 expired: a new order"


def test_keys_survive_a_snapshot_and_a_snapshot_without_keys_still_opens() -> None:
    o = ordering()
    o.place("id-1", lines(burger=1), T0, idempotency_key="k1")
    saved(o)
    restored = ordering()
    restored.restore(o.snapshot_state(), o.version)
    assert restored.place("id-9", lines(burger=1), T0, idempotency_key="k1").number == 1
    older = o.snapshot_state()
    del older["keys"]  # as written before keys existed
    earlier_release = ordering()
    earlier_release.restore(older, o.version)
    assert earlier_release.keys == {}


def test_an_order_placed_before_keys_existed_reads_back_without_one() -> None:
    from mcburger.adapters.serialization import EventSerializer

    serializer = EventSerializer()
    event = OrderPlaced(restaurant_id="main", occurred_at=T0, order_id="a", number=1,
                        lines=tuple(lines(burger=1)), idempotency_key="k")
    type_name, version, data = serializer.serialize(event)
    old = data.replace(',"idempotency_key":"k"', "")
    assert "idempotency_key" not in old
    read = serializer.deserialize(type_name, version, old)
    assert isinstance(read, OrderPlaced) and read.idempotency_key is None


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for each in client_of(Settings(workers=1, seed=1),
                                staff_token="a-staff-token-for-this-test"):
        yield each


ORDER = {"items": [{"item": "hamburger", "quantity": 1}]}


async def test_a_retried_post_is_one_order(client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "basket-7f3a"}
    first = await client.post("/orders", json=ORDER, headers=key)
    again = await client.post("/orders", json=ORDER, headers=key)
    assert first.status_code == again.status_code == 201
    assert (again.json()["id"], again.json()["number"]) == (first.json()["id"],
                                                            first.json()["number"])
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    board = (await client.get("/board")).json()
    assert board["requested"] + board["in_progress"] + board["ready"] == [first.json()["number"]]


async def test_a_key_reused_with_other_items_is_a_422_naming_the_key(
        client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "basket-1"}
    await client.post("/orders", json=ORDER, headers=key)
    other = await client.post("/orders", json={"items": [{"item": "cola", "quantity": 2}]},
                              headers=key)
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert "order 1" in other.json()["detail"][0]["msg"]


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "caf\u00e9"])
async def test_an_unusable_key_is_a_422_naming_the_header(client: httpx.AsyncClient,
                                                          key: str) -> None:
    answer = await client.post("/orders", json=ORDER,
                               headers=[(b"idempotency-key", key.encode())])
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert (await client.get("/board")).json()["requested"] == []
