"""A batch of read-model changes, committed with the batch's checkpoint."""

from __future__ import annotations

from collections.abc import Collection

from mcburger.application.ports import JSON, Put, ReadModelStore


class DocumentBatch:
    """Reads documents through a write-back cache so one batch writes each document once.

    A document ``get`` returns is the batch's working copy, not a copy of it (copying every
    document twice per event was most of a rebuild's time): change it only to ``put`` it back
    in the same batch. ``put`` keeps the document it is given; don't change it afterwards
    except through another ``get``.
    """

    def __init__(self, store: ReadModelStore) -> None:
        self._read_models = store
        # (seq, position, document) per slot: a document changes several times a batch, and
        # only its last version becomes a Put (at commit)
        self._changed: dict[tuple[str, str], tuple[int, int, JSON]] = {}
        self._cache: dict[tuple[str, str], JSON | None] = {}
        self._stored_at: dict[tuple[str, str], int] = {}

    async def get(self, collection: str, key: str) -> JSON | None:
        slot = (collection, key)
        if slot not in self._cache:
            found = await self._read_models.get_versioned(collection, key)
            self._cache[slot] = None if found is None else found[0]
            self._stored_at[slot] = 0 if found is None else found[1]
        return self._cache[slot]

    async def prefetch(self, collection: str, keys: Collection[str]) -> None:
        """Read the documents of ``keys`` not read yet, in one round trip."""
        wanted = [key for key in set(keys) if (collection, key) not in self._cache]
        if not wanted:
            return
        found = await self._read_models.get_versioned_many(collection, wanted)
        for key in wanted:
            slot = (collection, key)
            document, position = found.get(key, (None, 0))
            self._cache[slot], self._stored_at[slot] = document, position

    async def reflects(self, collection: str, key: str, position: int) -> bool:
        """Whether the STORED document already includes the event at ``position``.

        Such an event is a redelivery (a broker may cut it into a different batch than the
        first time): applying it again to the document would count it twice.
        """
        return await self.stored_at(collection, key) >= position

    async def stored_at(self, collection: str, key: str) -> int:
        """The position of the newest event the STORED document reflects (0: none stored)."""
        await self.get(collection, key)
        return self._stored_at[(collection, key)]

    def put(self, collection: str, key: str, seq: int, position: int, document: JSON) -> None:
        self._cache[(collection, key)] = document
        self._changed[(collection, key)] = (seq, position, document)

    async def commit(self, consumer: str, position: int) -> list[Put]:
        puts = [Put(collection, key, *change) for (collection, key), change
                in self._changed.items()]
        await self._read_models.commit(consumer, position, puts)
        return puts
