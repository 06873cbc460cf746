"""In-memory read-model store: the fake that unit tests wire in place of SQLite or MongoDB."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from mcburger.application.ports import JSON, Put, ReadModelStore

# Same rule as the SQLite adapter, so a query that works in unit tests works in production.
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class _Stored:
    seq: int
    position: int
    body: str  # JSON text: every read decodes a fresh copy, so callers never share stored state


class InMemoryReadModelStore(ReadModelStore):
    """Keeps documents as JSON text in dicts; same semantics as the SQLite adapter.

    Documents go through ``json`` on the way in and out, so a caller mutating what it put or got
    never changes the store, and a document a real engine could not store fails here too.
    """

    def __init__(self) -> None:
        self._collections: dict[str, dict[str, _Stored]] = {}
        self._checkpoints: dict[str, int] = {}
        self._committed = asyncio.Condition()

    async def get(self, collection: str, key: str) -> JSON | None:
        stored = self._collections.get(collection, {}).get(key)
        return None if stored is None else _decode(stored.body)

    async def get_versioned(self, collection: str, key: str) -> tuple[JSON, int] | None:
        stored = self._collections.get(collection, {}).get(key)
        return None if stored is None else (_decode(stored.body), stored.position)

    async def get_versioned_many(
        self, collection: str, keys: Collection[str]
    ) -> dict[str, tuple[JSON, int]]:
        documents = self._collections.get(collection, {})
        return {key: (_decode(documents[key].body), documents[key].position)
                for key in keys if key in documents}

    async def find(
        self,
        collection: str,
        where: Mapping[str, Scalar] | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[JSON]:
        conditions = list((where or {}).items())
        for field, value in conditions:
            _check_condition(field, value)
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        rows = sorted(self._collections.get(collection, {}).items(), key=lambda r: (r[1].seq, r[0]))
        found: list[JSON] = []
        for _, stored in rows:
            if limit is not None and len(found) >= limit:
                break
            if after_seq is not None and stored.seq <= after_seq:
                continue
            document = _decode(stored.body)
            if all(_equals(document.get(field), value) for field, value in conditions):
                found.append(document)
        return found

    async def checkpoint(self, consumer: str) -> int:
        return self._checkpoints.get(consumer, 0)

    async def commit(self, consumer: str, position: int, puts: Sequence[Put]) -> None:
        if position <= self._checkpoints.get(consumer, 0):
            return  # redelivery
        # Encode everything before touching state: a bad document leaves the commit unapplied.
        encoded = [(put, _encode(put.document)) for put in puts]
        for put, body in encoded:
            documents = self._collections.setdefault(put.collection, {})
            current = documents.get(put.key)
            if current is None or current.position < put.position:
                documents[put.key] = _Stored(put.seq, put.position, body)
        self._checkpoints[consumer] = position
        async with self._committed:
            self._committed.notify_all()

    # The port fixes the signature, hence a timeout argument rather than asyncio.timeout().
    async def wait_for_checkpoint(
        self,
        consumer: str,
        position: int,
        timeout: float,
    ) -> bool:
        def reached() -> bool:
            return self._checkpoints.get(consumer, 0) >= position

        async with self._committed:
            try:
                async with asyncio.timeout(timeout):
                    await self._committed.wait_for(reached)
            except TimeoutError:
                pass
            return reached()

    async def close(self) -> None:
        return None


def _encode(document: JSON) -> str:
    if not isinstance(document, dict):
        raise TypeError(f"a read-model document must be a JSON object, got {type(document)}")
    return json.dumps(document, allow_nan=False)


def _decode(body: str) -> JSON:
    document: JSON = json.loads(body)
    return document


def _check_condition(field: str, value: object) -> None:
    if not _FIELD.fullmatch(field):
        raise ValueError(f"not a top-level field name: {field!r}")
    if value is not None and not isinstance(value, str | int | float):
        raise TypeError(f"can only match scalars, got {type(value)} for {field!r}")


def _equals(actual: object, wanted: Scalar) -> bool:
    """JSON equality: unlike Python, true is not 1 and "1" is not 1; a missing field is null."""
    if wanted is None or isinstance(wanted, bool | str):
        return type(actual) is type(wanted) and actual == wanted
    return isinstance(actual, int | float) and not isinstance(actual, bool) and actual == wanted
