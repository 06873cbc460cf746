"""The ReadModelStore contract against SQLite, plus what only a file-backed engine can show."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcburger.adapters.readmodels.sqlite import SQLiteReadModelStore
from mcburger.application.ports import Put, ReadModelStore
from tests.contract.readmodels_contract import ReadModelStoreContract


class TestSQLiteReadModelStore(ReadModelStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[ReadModelStore]:
        store = await SQLiteReadModelStore.open(tmp_path / "readmodels.db")
        yield store
        await store.close()

    async def test_documents_and_checkpoint_survive_reopen(self, tmp_path: Path) -> None:
        path = tmp_path / "readmodels.db"
        store = await SQLiteReadModelStore.open(path)
        await store.commit("board", 4, [Put("board", "o-1", 1, 4, {"status": "ready"})])
        await store.close()

        reopened = await SQLiteReadModelStore.open(path)
        try:
            assert await reopened.get("board", "o-1") == {"status": "ready"}
            assert await reopened.checkpoint("board") == 4
            await reopened.commit("board", 4, [Put("board", "o-1", 1, 9, {"status": "x"})])
            assert await reopened.get("board", "o-1") == {"status": "ready"}
        finally:
            await reopened.close()

    async def test_wait_notices_a_commit_from_another_connection(self, tmp_path: Path) -> None:
        # A second connection stands in for another process: it cannot notify our condition.
        path = tmp_path / "readmodels.db"
        waiter = await SQLiteReadModelStore.open(path)
        writer = await SQLiteReadModelStore.open(path)
        try:

            async def commit_soon() -> None:
                await asyncio.sleep(0.05)
                await writer.commit("board", 2, [])

            task = asyncio.create_task(commit_soon())
            started = time.monotonic()
            assert await waiter.wait_for_checkpoint("board", 2, timeout=5)
            assert time.monotonic() - started < 1.0
            await task
        finally:
            await waiter.close()
            await writer.close()

    async def test_a_follower_follows_the_file_when_its_writer_replaces_it(
            self, tmp_path: Path) -> None:
        # The restaurant's read models deleted and rebuilt while a board-feeds process reads
        # them: its open connection would show the deleted file's board for ever.
        path = tmp_path / "readmodels.db"
        writer = await SQLiteReadModelStore.open(path)
        follower = await SQLiteReadModelStore.open(path, follower=True)
        try:
            await writer.commit("views", 40, [Put("board", "1", 1, 40, {"status": "READY"})])
            assert await follower.checkpoint("views") == 40
            await writer.close()
            await asyncio.to_thread(_delete, tmp_path, "readmodels.db*")
            assert await follower.checkpoint("views") == 40  # no file yet: the old one stays
            writer = await SQLiteReadModelStore.open(path)
            await writer.commit("views", 3, [Put("board", "2", 1, 3, {"status": "REQUESTED"})])

            assert await follower.checkpoint("views") == 3
            assert await follower.find("board") == [{"status": "REQUESTED"}]
            await writer.commit("views", 5, [])
            assert await follower.wait_for_checkpoint("views", 5, timeout=5)
        finally:
            await writer.close()
            await follower.close()

    async def test_in_memory_database(self) -> None:
        store = await SQLiteReadModelStore.open(":memory:")
        try:
            await store.commit("p", 1, [Put("orders", "a", 1, 1, {"ok": True})])
            assert await store.find("orders", {"ok": True}) == [{"ok": True}]
        finally:
            await store.close()


def _delete(directory: Path, pattern: str) -> None:
    for leftover in directory.glob(pattern):
        leftover.unlink()
