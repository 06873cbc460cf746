"""A batch of read-model changes, committed with the batch's checkpoint."""

from __future__ import annotations

import copy

from mcburger.application.ports import JSON, Put, ReadModelStore


class DocumentBatch:
    """Reads documents through a write-back cache so one batch writes each document once."""

    def __init__(self, store: ReadModelStore) -> None:
        self._store = store
        self._changed: dict[tuple[str, str], Put] = {}
        self._cache: dict[tuple[str, str], JSON | None] = {}

    async def get(self, collection: str, key: str) -> JSON | None:
        slot = (collection, key)
        if slot not in self._cache:
            self._cache[slot] = await self._store.get(collection, key)
        found = self._cache[slot]
        return copy.deepcopy(found) if found is not None else None

    def put(self, collection: str, key: str, seq: int, position: int, document: JSON) -> None:
        self._cache[(collection, key)] = copy.deepcopy(document)
        self._changed[(collection, key)] = Put(collection, key, seq, position, document)

    async def commit(self, consumer: str, position: int) -> list[Put]:
        puts = list(self._changed.values())
        await self._store.commit(consumer, position, puts)
        return puts
