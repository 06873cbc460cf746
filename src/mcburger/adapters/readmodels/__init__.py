"""Read-model store adapters, one per engine, and ``open_read_models``: the engine settings name.

The MongoDB driver is imported only when MongoDB is asked for.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mcburger.application.ports import ReadModelStore


async def open_read_models(mongo_url: str | None, mongo_database: str,
                           data_dir: Path, follower: bool = False) -> ReadModelStore:
    """MongoDB at ``mongo_url`` (``MCBURGER_MONGO_URL``), database ``mongo_database``; without
    one, SQLite as ``readmodels.db`` in ``data_dir``. ``follower``: another process writes these
    read models and this one waits for its commits (``board-feeds``): SQLite re-reads its
    checkpoints every ``FOLLOWER_RECHECK`` s instead of every 0.25 s and follows the file when
    it is replaced (MongoDB keeps its pace, 0.1 s: a round trip costs it more)."""
    if mongo_url:
        from mcburger.adapters.readmodels.mongo import MongoReadModelStore
        return await MongoReadModelStore.open(mongo_url, mongo_database)
    from mcburger.adapters.readmodels.sqlite import SQLiteReadModelStore
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    return await SQLiteReadModelStore.open(data_dir / "readmodels.db", follower)
