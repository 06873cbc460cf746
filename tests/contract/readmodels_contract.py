"""The ReadModelStore contract: each adapter's test class subclasses it and provides ``store``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcburger.application.ports import JSON, Put, ReadModelStore

NESTED: JSON = {
    "id": "o-1",
    "lines": [{"item": "Big Mc", "qty": 2, "extras": ["cheese", None]}, {"item": "Fries"}],
    "totals": {"net": 12.5, "tax": 0.1, "paid": True, "voided": False},
    "note": None,
    "customer": "Zoë 🍔 — 東京",
    "tags": [],
    "meta": {},
    "big": 2**53 + 1,
    "negative": -3,
}


def put(key: str, seq: int, position: int, collection: str = "orders", **fields: Any) -> Put:
    return Put(collection, key, seq, position, {"key": key, **fields})


def keys(documents: list[JSON]) -> list[str]:
    return [document["key"] for document in documents]


class ReadModelStoreContract:
    """Behaviour every ReadModelStore adapter must share; subclasses override ``store``."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[ReadModelStore]:
        raise NotImplementedError("an adapter's test class provides the store")
        yield  # pragma: no cover - makes this an async generator like the overrides

    # --- get / put ---------------------------------------------------------------------------

    async def test_get_missing_document_is_none(self, store: ReadModelStore) -> None:
        await store.commit("p", 1, [put("a", 1, 1)])
        assert await store.get("orders", "b") is None
        assert await store.get("kitchen", "a") is None

    async def test_put_then_get_round_trips_json(self, store: ReadModelStore) -> None:
        await store.commit("p", 1, [Put("orders", "o-1", 1, 1, NESTED)])
        assert await store.get("orders", "o-1") == NESTED

    async def test_newer_put_replaces_document(self, store: ReadModelStore) -> None:
        await store.commit("p", 1, [put("a", 1, 1, status="new")])
        await store.commit("p", 2, [put("a", 1, 2, status="ready")])
        assert await store.get("orders", "a") == {"key": "a", "status": "ready"}

    async def test_get_versioned_tells_the_position_that_shaped_the_document(
        self, store: ReadModelStore
    ) -> None:
        assert await store.get_versioned("orders", "a") is None
        await store.commit("p", 4, [put("a", 1, 3, status="new")])
        assert await store.get_versioned("orders", "a") == ({"key": "a", "status": "new"}, 3)
        await store.commit("q", 9, [put("a", 1, 2, status="stale")])  # older: ignored
        await store.commit("p", 7, [put("a", 1, 7, status="ready")])
        assert await store.get_versioned("orders", "a") == ({"key": "a", "status": "ready"}, 7)

    async def test_get_versioned_many_reads_several_keys_at_once(
        self, store: ReadModelStore
    ) -> None:
        assert await store.get_versioned_many("orders", ["a", "b"]) == {}
        await store.commit("p", 4, [put("a", 1, 3, status="new"), put("b", 2, 4, status="x"),
                                    put("a", 1, 3, "stock", status="other collection")])
        assert await store.get_versioned_many("orders", ["b", "a", "missing", "a"]) == {
            "a": ({"key": "a", "status": "new"}, 3), "b": ({"key": "b", "status": "x"}, 4)}
        assert await store.get_versioned_many("orders", []) == {}
        many = [put(f"k{n}", n, 10 + n) for n in range(1200)]  # more than one statement's worth
        await store.commit("p", 5000, many)
        found = await store.get_versioned_many("orders", [f"k{n}" for n in range(1200)])
        assert len(found) == 1200 and found["k1199"] == ({"key": "k1199"}, 1209)

    async def test_non_json_document_fails_and_commits_nothing(self, store: ReadModelStore) -> None:
        with pytest.raises((TypeError, ValueError)):
            await store.commit("p", 1, [put("a", 1, 1), put("b", 2, 1, when={1, 2})])
        with pytest.raises(ValueError):
            await store.commit("p", 1, [put("c", 3, 1, price=float("nan"))])
        assert await store.get("orders", "a") is None
        assert await store.checkpoint("p") == 0

    # --- find --------------------------------------------------------------------------------

    async def test_find_orders_by_seq_then_key(self, store: ReadModelStore) -> None:
        await store.commit("p", 1, [put("c", 3, 1), put("a", 1, 1), put("z", 2, 1)])
        await store.commit("p", 2, [put("b", 2, 2)])
        assert keys(await store.find("orders")) == ["a", "b", "z", "c"]

    async def test_find_where_str_int_float(self, store: ReadModelStore) -> None:
        await store.commit(
            "p",
            1,
            [
                put("a", 1, 1, status="ready", lane=1, total=9.5),
                put("b", 2, 1, status="new", lane=2, total=9.5),
                put("c", 3, 1, status="ready", lane=2, total=3.0),
                put("d", 4, 1, status="1", lane="2", total="9.5"),
            ],
        )
        assert keys(await store.find("orders", {"status": "ready"})) == ["a", "c"]
        assert keys(await store.find("orders", {"lane": 2})) == ["b", "c"]
        assert keys(await store.find("orders", {"total": 9.5})) == ["a", "b"]
        assert keys(await store.find("orders", {"total": 3})) == ["c"]  # 3 == 3.0 in JSON
        assert keys(await store.find("orders", {"status": "ready", "lane": 2})) == ["c"]
        assert await store.find("orders", {"status": "gone"}) == []
        assert await store.find("orders", {"status": 1}) == []  # "1" is a string, not 1

    async def test_find_where_bool_is_not_an_int(self, store: ReadModelStore) -> None:
        await store.commit(
            "p",
            1,
            [
                put("a", 1, 1, paid=True),
                put("b", 2, 1, paid=False),
                put("c", 3, 1, paid=1),
                put("d", 4, 1, paid=0),
            ],
        )
        assert keys(await store.find("orders", {"paid": True})) == ["a"]
        assert keys(await store.find("orders", {"paid": False})) == ["b"]
        assert keys(await store.find("orders", {"paid": 1})) == ["c"]
        assert keys(await store.find("orders", {"paid": 0})) == ["d"]

    async def test_find_where_none_matches_null_and_missing(self, store: ReadModelStore) -> None:
        await store.commit(
            "p",
            1,
            [put("a", 1, 1, done_at=None), put("b", 2, 1), put("c", 3, 1, done_at="12:00")],
        )
        assert keys(await store.find("orders", {"done_at": None})) == ["a", "b"]

    async def test_find_where_does_not_match_nested_values(self, store: ReadModelStore) -> None:
        await store.commit("p", 1, [put("a", 1, 1, items=["x"], total={"net": 1})])
        assert await store.find("orders", {"items": '["x"]'}) == []
        assert await store.find("orders", {"total": '{"net":1}'}) == []
        assert await store.find("orders", {"total": 1}) == []

    @pytest.mark.parametrize("field", ["a.b", "lines[0]", "x') OR 1=1 --", "", "1st", "$.key"])
    async def test_find_rejects_field_names_that_are_not_identifiers(
        self, store: ReadModelStore, field: str
    ) -> None:
        await store.commit("p", 1, [put("a", 1, 1)])
        with pytest.raises(ValueError):
            await store.find("orders", {field: "a"})

    async def test_find_after_seq_and_limit_page_through(self, store: ReadModelStore) -> None:
        await store.commit(
            "p", 1, [put(k, seq, 1, order=seq) for seq, k in [(5, "e"), (1, "a"), (3, "c")]]
        )
        await store.commit("p", 2, [put(k, seq, 2, order=seq) for seq, k in [(4, "d"), (2, "b")]])
        assert keys(await store.find("orders", after_seq=2)) == ["c", "d", "e"]
        assert keys(await store.find("orders", after_seq=5)) == []
        assert keys(await store.find("orders", limit=2)) == ["a", "b"]
        assert await store.find("orders", limit=0) == []
        pages, after = [], 0
        while page := await store.find("orders", after_seq=after, limit=2):
            pages.append(keys(page))
            after = page[-1]["order"]
        assert pages == [["a", "b"], ["c", "d"], ["e"]]

    async def test_find_limit_applies_after_where(self, store: ReadModelStore) -> None:
        await store.commit(
            "p",
            1,
            [put(k, seq, 1, ready=seq % 2 == 0) for seq, k in enumerate("abcdefg", start=1)],
        )
        assert keys(await store.find("orders", {"ready": True}, after_seq=2, limit=2)) == ["d", "f"]

    async def test_collections_do_not_mix(self, store: ReadModelStore) -> None:
        await store.commit(
            "p",
            1,
            [
                put("a", 1, 1, "orders", status="ready"),
                put("a", 2, 1, "board", status="ready", lane=3),
                put("b", 3, 1, "board", status="ready"),
            ],
        )
        assert await store.get("orders", "a") == {"key": "a", "status": "ready"}
        assert await store.get("board", "a") == {"key": "a", "status": "ready", "lane": 3}
        assert keys(await store.find("orders", {"status": "ready"})) == ["a"]
        assert keys(await store.find("board")) == ["a", "b"]
        assert await store.find("stock") == []

    # --- checkpoints and idempotence ---------------------------------------------------------

    async def test_checkpoint_starts_at_zero_and_moves_on_commit(
        self, store: ReadModelStore
    ) -> None:
        assert await store.checkpoint("board") == 0
        await store.commit("board", 7, [])
        await store.commit("kitchen", 3, [put("a", 1, 3)])
        assert await store.checkpoint("board") == 7
        assert await store.checkpoint("kitchen") == 3
        await store.commit("board", 12, [])
        assert await store.checkpoint("board") == 12

    async def test_redelivered_commit_changes_nothing(self, store: ReadModelStore) -> None:
        await store.commit("p", 5, [put("a", 1, 5, status="new")])
        # Puts newer than the stored documents, so only the checkpoint can stop them.
        await store.commit("p", 5, [put("a", 1, 9, status="replayed"), put("b", 2, 9)])
        await store.commit("p", 4, [put("a", 1, 9, status="older"), put("c", 3, 9)])
        assert await store.get("orders", "a") == {"key": "a", "status": "new"}
        assert await store.get("orders", "b") is None
        assert await store.get("orders", "c") is None
        assert await store.checkpoint("p") == 5

    async def test_stale_put_is_ignored_while_others_apply(self, store: ReadModelStore) -> None:
        await store.commit("p", 5, [put("a", 1, 5, status="cooking")])
        await store.commit(
            "q",
            6,
            [put("a", 1, 4, status="older"), put("a", 9, 5, status="same"), put("b", 2, 6)],
        )
        assert await store.get("orders", "a") == {"key": "a", "status": "cooking"}
        assert await store.get("orders", "b") == {"key": "b"}
        assert keys(await store.find("orders")) == ["a", "b"]  # a's seq stayed 1
        assert await store.checkpoint("q") == 6

    async def test_arrays_inside_arrays_round_trip(self, store: ReadModelStore) -> None:
        # The analytics snapshot holds some: [[time, busy, speed, workers]], digests' centroids
        document = {"clock": [["2026-12-01T03:30:15+00:00", 0.0, 1e4, 3]], "empty": [[], [[]]],
                    "objects": [{"pairs": [[1, 2], [3, 4]]}], "array": {"~arrayish": [1]}}
        await store.commit("p", 1, [Put("snapshots", "s", 1, 1, document)])
        assert await store.get("snapshots", "s") == document
        assert await store.find("snapshots") == [document]

    async def test_one_commit_replaces_hundreds_of_stored_documents(
        self, store: ReadModelStore
    ) -> None:
        # An analytics batch rewrites a timeline bucket per kitchen minute: hundreds of
        # documents already stored. FerretDB v1 once deadlocked on such a command (see
        # MongoReadModelStore._apply); the bound turns that hang into a failure.
        many = 250
        await store.commit("p", 1, [put(f"k{i:03}", i, 1, round=1) for i in range(many)])
        async with asyncio.timeout(60):
            await store.commit("p", 2, [put(f"k{i:03}", i, 2, round=2) for i in range(many)])
        assert [doc["round"] for doc in await store.find("orders")] == [2] * many
        assert await store.checkpoint("p") == 2

    # --- waiting -----------------------------------------------------------------------------

    async def test_wait_for_checkpoint_wakes_on_commit(self, store: ReadModelStore) -> None:
        async def commit_soon() -> None:
            await asyncio.sleep(0.02)
            await store.commit("other", 10, [])  # another consumer must not wake us for good
            await store.commit("p", 10, [])

        started = time.monotonic()
        task = asyncio.create_task(commit_soon())
        assert await store.wait_for_checkpoint("p", 10, timeout=5)
        assert time.monotonic() - started < 0.2
        await task

    async def test_wait_for_checkpoint_already_reached(self, store: ReadModelStore) -> None:
        await store.commit("p", 10, [])
        started = time.monotonic()
        assert await store.wait_for_checkpoint("p", 8, timeout=5)
        assert await store.wait_for_checkpoint("p", 10, timeout=0)
        assert time.monotonic() - started < 0.1

    async def test_wait_for_checkpoint_times_out(self, store: ReadModelStore) -> None:
        await store.commit("p", 3, [])
        task = asyncio.create_task(store.commit("other", 50, []))
        started = time.monotonic()
        assert not await store.wait_for_checkpoint("p", 4, timeout=0.2)
        elapsed = time.monotonic() - started
        assert 0.15 <= elapsed < 0.6
        await task

    # --- isolation of returned and given documents -------------------------------------------

    async def test_documents_are_copies(self, store: ReadModelStore) -> None:
        document: JSON = {"key": "a", "lines": [{"qty": 1}], "status": "new"}
        await store.commit("p", 1, [Put("orders", "a", 1, 1, document)])
        document["status"] = "mutated-after-put"
        got = await store.get("orders", "a")
        assert got is not None
        got["lines"][0]["qty"] = 99
        found = await store.find("orders")
        found[0]["lines"].append("extra")
        found[0]["status"] = "mutated-after-find"
        expected = {"key": "a", "lines": [{"qty": 1}], "status": "new"}
        assert await store.get("orders", "a") == expected
        assert await store.find("orders", {"status": "new"}) == [expected]
