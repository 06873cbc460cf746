"""MongoDB read-model store: one collection per read model, no transactions, no change streams.

Production target: MongoDB >= 4.4. The tests run against FerretDB v1 (scripts/install-ferretdb),
so this module uses nothing that FerretDB v1 lacks: no transactions, no change streams, no
aggregation beyond what ``find`` needs. Documents live in ``rm_<collection>`` as
``{_id: key, seq, position, body}``; checkpoints in ``checkpoints`` as
``{_id: consumer, position}``.

Without a transaction a commit is several writes (one bulk write per collection, then the
checkpoint), and a crash can stop it half-way. That is made
harmless by the port's two guards rather than by atomicity: each Put only replaces a document
whose stored position is lower, and the checkpoint moves last. See ``commit``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import bson
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, OperationFailure

from mcburger.adapters.readmodels.commit_signal import CommitSignal
from mcburger.application.ports import JSON, Put, ReadModelStore

# Field names become a dotted path ("body.<field>"); anything but a plain identifier could reach
# into nested objects or array items ("a.b", "lines.0") or be an operator ("$where").
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Read-model names become collection names; keep them to characters every MongoDB accepts.
_COLLECTION = re.compile(r"[A-Za-z0-9_-]{1,100}")
_PREFIX = "rm_"
_CHECKPOINTS = "checkpoints"
_DUPLICATE_KEY = 11000

# How often a waiter re-reads the checkpoint: commits made by another process cannot notify our
# in-process condition (and change streams are not used), so this bounds how late they are seen.
_CROSS_PROCESS_RECHECK = 0.1

Scalar = str | int | float | bool | None
Document = dict[str, Any]


class MongoReadModelStore(ReadModelStore):
    """One ``AsyncMongoClient`` (it pools connections) and one database."""

    def __init__(self, client: AsyncMongoClient[Document], database: str) -> None:
        self._client = client
        self._db = client[database]
        self._indexed: set[str] = set()
        self._committed = CommitSignal(_CROSS_PROCESS_RECHECK)

    @classmethod
    async def open(cls, url: str, database: str = "mcburger") -> MongoReadModelStore:
        """Connect to ``url`` and use ``database``; fails fast when the server is unreachable."""
        client: AsyncMongoClient[Document] = AsyncMongoClient(url, serverSelectionTimeoutMS=5000)
        try:
            await client.admin.command("ping")
        except BaseException:
            await client.close()
            raise
        return cls(client, database)

    async def get(self, collection: str, key: str) -> JSON | None:
        found = await self._documents(collection).find_one({"_id": key}, {"body": 1})
        return None if found is None else _body(found)

    async def get_versioned(self, collection: str, key: str) -> tuple[JSON, int] | None:
        found = await self._documents(collection).find_one({"_id": key},
                                                           {"body": 1, "position": 1})
        return None if found is None else (_body(found), int(found["position"]))

    async def get_versioned_many(
        self, collection: str, keys: Collection[str]
    ) -> dict[str, tuple[JSON, int]]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        # Closed on the way out, cancelled or not: a cursor left open on the server holds one
        # of FerretDB's SQLite connections for its 10-minute timeout, and enough of them (reads
        # cut short by a timeout or a stop) left every command of the database waiting for one
        async with self._documents(collection).find({"_id": {"$in": wanted}},
                                                    {"body": 1, "position": 1}) as cursor:
            return {str(found["_id"]): (_body(found), int(found["position"]))
                    async for found in cursor}

    async def find(
        self,
        collection: str,
        where: Mapping[str, Scalar] | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[JSON]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        query: Document = {
            f"body.{field}": _condition(field, value) for field, value in (where or {}).items()
        }
        if after_seq is not None:
            query["seq"] = {"$gt": after_seq}
        if limit == 0:
            return []  # to the driver, limit 0 means no limit at all
        cursor = self._documents(collection).find(query, {"body": 1})
        async with cursor.sort([("seq", ASCENDING), ("_id", ASCENDING)]).limit(limit or 0):
            return [_body(found) async for found in cursor]  # closed as above

    async def checkpoint(self, consumer: str) -> int:
        found = await self._db[_CHECKPOINTS].find_one({"_id": consumer})
        return 0 if found is None else int(found["position"])

    async def commit(self, consumer: str, position: int, puts: Sequence[Put]) -> None:
        # Validate every document before the first write: there is no transaction to roll back.
        rows = {(put.collection, put.key): (put, _to_json(put.document)) for put in puts}
        if position <= await self.checkpoint(consumer):
            return  # redelivery
        by_collection: dict[str, list[tuple[Put, JSON]]] = {}
        for put, body in rows.values():  # the last put of a key wins, as in one transaction
            by_collection.setdefault(put.collection, []).append((put, body))
        # One round trip a collection, not one (or two) a document: on a server far away, or
        # FerretDB here, a batch's documents one at a time were what made a consumer fall behind.
        for collection, changes in by_collection.items():
            await self._apply(collection, changes)
        # The checkpoint moves last. A crash before this line leaves Puts applied and the
        # checkpoint behind: the event is redelivered, and each of its Puts then finds a stored
        # position equal to its own and changes nothing, so the outcome is as if it ran once.
        # $max keeps the checkpoint monotonic even if two instances race on the same consumer.
        await self._move_checkpoint(consumer, position)
        await self._committed.notify()

    # The port fixes the signature, hence a timeout argument rather than asyncio.timeout().
    async def wait_for_checkpoint(self, consumer: str, position: int, timeout: float) -> bool:
        async def reached() -> bool:
            return await self.checkpoint(consumer) >= position

        return await self._committed.wait_until(reached, timeout)

    async def close(self) -> None:
        await self._client.close()

    async def _apply(self, collection: str, changes: Sequence[tuple[Put, JSON]]) -> None:
        """Replace each document only if the stored one is older than its put, or insert it:
        one unordered command of conditional upserts.

        An upsert whose filter does not match because the stored document is as new or newer
        tries to insert the key and fails with a duplicate key (E11000): nothing to do. The
        same error also comes from losing a race with another writer inserting the key between
        our filter and our insert, and does not say whose position is newer; so the failed ones
        run once more as conditional updates: the document exists from now on (read models are
        never deleted), so that update alone decides, with the same position guard.
        """
        documents = await self._indexed_documents(collection)

        # "multi": the filter names one _id, so it matches one document at most and multi
        # changes nothing on MongoDB; on FerretDB v1 it decides whether a statement's query is
        # read to its end (and its SQLite connection given back) or, as a single-document
        # update, stopped at the first match and held until the whole command ends. A command
        # replacing 100 stored documents then holds all 100 connections of the database's pool
        # and waits for a 101st forever, and with it every command of that database (the
        # distributed benchmark hung so; tests/contract's large-batch test hangs without it).
        def updates(upsert: bool, chosen: Sequence[tuple[Put, JSON]]) -> list[Document]:
            return [{"q": {"_id": put.key, "position": {"$lt": put.position}},
                     "u": {"$set": {"seq": put.seq, "position": put.position, "body": body}},
                     "upsert": upsert, "multi": True} for put, body in chosen]

        # Upserts, until each one has run: a server may stop an "unordered" command at its
        # first error (FerretDB v1 does), so what came after the last error runs again
        # (harmless when it did run: its stored position then equals its own).
        pending, lost = list(changes), []
        while pending:
            reply = await self._db.command({"update": documents.name, "ordered": False,
                                            "updates": updates(True, pending)})
            errors = reply.get("writeErrors") or []
            if any(error.get("code") != _DUPLICATE_KEY for error in errors):
                raise OperationFailure(f"read-model update failed: {errors[:3]}",
                                       details=reply)
            if not errors:
                break
            lost += [pending[int(error["index"])] for error in errors]
            if int(reply.get("n", 0)) + len(errors) >= len(pending):
                break  # every statement ran
            pending = pending[max(int(error["index"]) for error in errors) + 1:]
        if lost:  # as conditional updates (the documents exist now), never as inserts
            await self._db.command({"update": documents.name, "ordered": False,
                                    "updates": updates(False, lost)})

    async def _move_checkpoint(self, consumer: str, position: int) -> None:
        checkpoints = self._db[_CHECKPOINTS]
        try:
            await checkpoints.update_one(
                {"_id": consumer}, {"$max": {"position": position}}, upsert=True
            )
        except DuplicateKeyError:
            # Two first commits of one consumer raced to insert; now it exists, so just $max it.
            await checkpoints.update_one({"_id": consumer}, {"$max": {"position": position}})

    def _documents(self, collection: str) -> AsyncCollection[Document]:
        if not _COLLECTION.fullmatch(collection):
            raise ValueError(f"not a read-model collection name: {collection!r}")
        return self._db[_PREFIX + collection]

    async def _indexed_documents(self, collection: str) -> AsyncCollection[Document]:
        documents = self._documents(collection)
        if collection not in self._indexed:
            # Idempotent on the server: a second create_index with the same spec is a no-op.
            await documents.create_index([("seq", ASCENDING), ("_id", ASCENDING)], name="by_seq")
            self._indexed.add(collection)
        return documents


def _condition(field: str, value: Scalar) -> Document:
    """A filter matching one top-level field by JSON equality, as the SQLite adapter does.

    MongoDB already keeps true apart from 1 and "1" apart from 1, and equates 3 with 3.0, and
    ``None`` matches a null or missing field. What it adds is matching an array's elements
    ({"f": "x"} matches f: ["x"]; None matches [null]), which JSON equality does not: hence the
    "not an array" clause.
    """
    if not _FIELD.fullmatch(field):
        raise ValueError(f"not a top-level field name: {field!r}")
    if value is not None and not isinstance(value, str | int | float | bool):
        raise TypeError(f"can only match scalars, got {type(value)} for {field!r}")
    return {"$eq": value, "$not": {"$type": "array"}}


def _to_json(document: JSON) -> JSON:
    """A copy to store: only JSON values, each array inside an array held as ``{_NESTED: [...]}``,
    checked to fit in BSON (64-bit integers)."""
    if not isinstance(document, dict):
        raise TypeError(f"a read-model document must be a JSON object, got {type(document)}")
    body: JSON = _stored(json.loads(json.dumps(document, allow_nan=False)))
    try:
        bson.encode(body)
    except OverflowError as error:
        raise ValueError(f"a read-model document does not fit in BSON: {error}") from None
    return body


def _body(found: Document) -> JSON:
    body: JSON = _loaded(found["body"])
    return body


# FerretDB v1 refuses an array inside an array ("nested arrays are not supported"), which JSON
# and MongoDB allow and the analytics snapshot holds (so, before this, a distributed analytics
# failed each time it put its snapshot, and started over from the log). Each such inner array is
# stored as {_NESTED: [...]} and read back as the array. A document a MongoDB stored before this
# holds plain nested arrays, and reads back as it is. Queries match top-level scalar fields
# only, which this never changes.
_NESTED = "~array"


def _stored(value: Any, in_array: bool = False) -> Any:
    if isinstance(value, dict):
        if _NESTED in value:  # would read back as an array: refuse rather than corrupt
            raise ValueError(f"a read-model document may not use the key {_NESTED!r}")
        return {key: _stored(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_stored(item, in_array=True) for item in value]
        return {_NESTED: items} if in_array else items
    return value


def _loaded(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(_NESTED), list):
            return [_loaded(item) for item in value[_NESTED]]
        return {key: _loaded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_loaded(item) for item in value]
    return value
