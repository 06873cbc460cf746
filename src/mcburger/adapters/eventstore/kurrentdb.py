"""The KurrentDB (formerly EventStoreDB) ``EventStore``, through kurrentdbclient's asyncio client.

How the port maps onto KurrentDB (streams, versions, the global log, tracking, snapshots, waiting,
namespaces) is described in ``kurrentdb_mapping.py``, beside the pure functions of that mapping.
What is left here (over 300 lines) is the store: its methods share one client and one set of
server calls.

What this adapter cannot do exactly as the SQL adapters do (the contract points it misses):

* Appends that carry events AND a tracking record need KurrentDB 25.1 or later (multi-stream
  append). Against an older EventStoreDB they fail (the server does not know the call);
  everything else uses the classic API (the client supports EventStoreDB 23.10 and 24.10).
* In a tracking-only append, ``expected_version`` is checked by a read of the stream just before
  the checkpoint is written, not atomically with it: nothing is written to that stream, and
  only KurrentDB 26.1's ``append_records`` documents a check of a stream it does not write to.
  A command appended to the stream in that short window does not stop the checkpoint move.
* Event ids are not unique store-wide: KurrentDB does not refuse an event id that another append
  already used (it only makes a resend at the same expected version a no-op). This adapter
  refuses a duplicate id within one append; the contract's "reused event id fails the append"
  test is replaced in this adapter's test module by one with an oversized event.
* ``last_position()`` and ``read_all()`` of a namespace with few events scan much of ``$all``
  (the server filters): cheap on a dedicated database, slower on a large shared one.
* Tracking streams keep every ``TrackingMoved``; a ``$maxCount`` on them (stream metadata, set by
  an operator) would bound them, the newest is all that is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Collection, Sequence

from kurrentdbclient import AsyncKurrentDBClient, ContentType, NewEvent, NewEvents, StreamState
from kurrentdbclient import RecordedEvent as StoredEvent
from kurrentdbclient.exceptions import (
    InvalidCommitPositionError,
    NotFoundError,
    ProgrammingError,
    WrongCurrentVersionError,
)

from mcburger.adapters.eventstore.kurrentdb_mapping import (
    SNAPSHOT_CATEGORY,
    SNAPSHOT_EVENT_TYPE,
    TRACKING_CATEGORY,
    TRACKING_EVENT_TYPE,
    client_url,
    current_version_for,
    event_uuid,
    log_stream_pattern,
    version_of,
    wrong_version,
)
from mcburger.adapters.serialization import EventSerializer, UnknownEventType
from mcburger.application.ports import (
    AlreadyProcessed,
    EventStore,
    RecordedEvent,
    Snapshot,
    Tracking,
    WrongExpectedVersion,
)
from mcburger.domain.events import Event, category_of

CONTENT_TYPE: ContentType = "application/json"

# A stream nobody writes: ``open`` reads it once to fail fast on a bad URL or a down server.
PROBE_STREAM = "mcburger_probe"

# How often an append re-reads a checkpoint that another writer moved under it.
TRACKING_ATTEMPTS = 5

# Events per backwards page when looking for the head of the log.
HEAD_PAGE = 32


class KurrentDBEventStore(EventStore):
    """Streams and ``$all`` of one KurrentDB database (or of one namespace in it)."""

    def __init__(
        self,
        client: AsyncKurrentDBClient,
        serializer: EventSerializer | None = None,
        *,
        namespace: str = "",
    ) -> None:
        if namespace.startswith("$"):
            raise ValueError(f"namespace {namespace!r}: '$' streams belong to the server")
        self._client = client
        self._serializer = serializer or EventSerializer()
        self._namespace = namespace
        self._log_filter = (log_stream_pattern(namespace),)

    @classmethod
    async def open(
        cls, url: str, serializer: EventSerializer | None = None, *, namespace: str = ""
    ) -> KurrentDBEventStore:
        """Connect to ``url``, passed to the client as it is.

        ``kurrentdb://host:2113?tls=false`` for an insecure server; with TLS (the default) the
        client wants credentials: ``kurrentdb://user:password@host:2113``. ``esdb://``, ``kdb://``
        and the ``+discover`` forms work too.
        """
        store = cls(AsyncKurrentDBClient(uri=client_url(url)), serializer, namespace=namespace)
        try:
            await store._client.connect()
            # The client opens its channel lazily: one read makes a bad URL, a down server or
            # bad credentials fail here, as the other adapters' open does.
            await store._client.get_current_version(namespace + PROBE_STREAM)
        except BaseException:
            await store.close()
            raise
        return store

    # --- writing -------------------------------------------------------------------------

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        expected_version: int,
        tracking: Tracking | None = None,
    ) -> list[RecordedEvent]:
        name = self._writable(stream)
        current = current_version_for(expected_version)
        new_events = self._new_events(events)  # before any I/O: a bad event fails alone
        if not new_events:
            # Nothing to write to the stream, but the version is checked as the SQL stores do.
            actual = await self._client.get_current_version(name)
            if actual != current:
                at = version_of(actual) if isinstance(actual, int) else 0
                raise WrongExpectedVersion(f"{stream}: at {at}, expected {expected_version}")
            if tracking is not None:
                await self._append_tracked(stream, expected_version, None, tracking)
            return []
        if tracking is None:
            try:
                await self._client.append_to_stream(
                    name, events=new_events, current_version=current
                )
            except WrongCurrentVersionError as error:
                raise wrong_version(stream, expected_version, error) from error
        else:
            batch = NewEvents(stream_name=name, events=new_events, current_version=current)
            await self._append_tracked(stream, expected_version, batch, tracking)
        return await self._read_back(stream, expected_version, new_events, events)

    async def _append_tracked(
        self,
        stream: str,
        expected_version: int,
        batch: NewEvents | None,
        tracking: Tracking,
    ) -> None:
        """Write ``batch`` (if any) and move the checkpoint, in one atomic call."""
        tracking_stream = self._tracking_stream(tracking.consumer)
        for _ in range(TRACKING_ATTEMPTS):
            recorded, tracking_version = await self._checkpoint(tracking_stream)
            if tracking.position <= recorded:
                raise AlreadyProcessed(f"{tracking.consumer}: {tracking.position} <= {recorded}")
            if tracking.previous is not None and recorded != tracking.previous:
                raise WrongExpectedVersion(
                    f"{tracking.consumer}: tracking at {recorded}, expected {tracking.previous}")
            moved = NewEvents(
                stream_name=tracking_stream,
                events=[self._tracking_event(tracking)],
                current_version=tracking_version,
            )
            try:
                if batch is None:
                    await self._client.append_to_stream(
                        tracking_stream, events=moved.events, current_version=tracking_version
                    )
                else:
                    await self._client.multi_append_to_stream([batch, moved])
                return
            except WrongCurrentVersionError as error:
                if batch is not None and error.stream_name != tracking_stream:
                    raise wrong_version(stream, expected_version, error) from error
                # Another writer moved this consumer's checkpoint since we read it: read again.
        raise WrongExpectedVersion(f"{tracking_stream}: moved {TRACKING_ATTEMPTS} times under us")

    async def _read_back(
        self,
        stream: str,
        expected_version: int,
        new_events: list[NewEvent],
        events: Sequence[Event],
    ) -> list[RecordedEvent]:
        """Our events as stored: an append returns only the last commit position."""
        found = await self._client.get_stream(
            self._namespace + stream, stream_position=expected_version, limit=len(new_events)
        )
        if [stored.id for stored in found] != [new.id for new in new_events]:
            raise RuntimeError(
                f"{stream}: appended after version {expected_version} but read back other "
                "events (is the client reading from a follower? use NodePreference=leader)"
            )
        positions = [stored.commit_position for stored in found]
        if any(later <= earlier for earlier, later in itertools.pairwise(positions)):
            raise RuntimeError(f"{stream}: commit positions {positions} are not increasing")
        return [
            RecordedEvent(stored.commit_position, stream, version_of(stored.stream_position), event)
            for stored, event in zip(found, events, strict=True)
        ]

    def _writable(self, stream: str) -> str:
        if stream.startswith("$") or category_of(stream) == TRACKING_CATEGORY:
            raise ValueError(f"{stream!r}: not a stream this store may append to")
        return self._namespace + stream

    def _new_events(self, events: Sequence[Event]) -> list[NewEvent]:
        ids = [event_uuid(event.event_id) for event in events]
        if len(set(ids)) != len(ids):
            # KurrentDB would store both: it does not check event ids for uniqueness.
            raise ValueError(f"duplicate event_id in one append: {[e.event_id for e in events]}")
        new_events: list[NewEvent] = []
        for event, event_id in zip(events, ids, strict=True):
            body = self._serializer.to_dict(event)
            data = json.dumps(body, separators=(",", ":")).encode()
            new_events.append(
                NewEvent(type=body["type"], data=data, content_type=CONTENT_TYPE, id=event_id)
            )
        return new_events

    def _tracking_event(self, tracking: Tracking) -> NewEvent:
        data = {"consumer": tracking.consumer, "position": tracking.position}
        return NewEvent(
            type=TRACKING_EVENT_TYPE,
            data=json.dumps(data, separators=(",", ":")).encode(),
            content_type=CONTENT_TYPE,
        )

    # --- reading -------------------------------------------------------------------------

    async def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        try:
            found = await self._client.get_stream(
                self._namespace + stream, stream_position=max(after_version, 0)
            )
        except NotFoundError:
            return []
        return [self._recorded(stored) for stored in found]

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        stream = f"{self._namespace}{SNAPSHOT_CATEGORY}-{snapshot.stream}"
        kept = await self._newest_snapshot(stream)
        if kept is not None and kept[0].version > snapshot.version:
            return
        data = {"version": snapshot.version, "position": snapshot.position,
                "schema": snapshot.schema, "state": snapshot.state}
        event = NewEvent(type=SNAPSHOT_EVENT_TYPE, content_type=CONTENT_TYPE,
                         data=json.dumps(data, separators=(",", ":")).encode())
        current = StreamState.NO_STREAM if kept is None else kept[1]
        try:
            await self._client.append_to_stream(stream, events=[event], current_version=current)
        except WrongCurrentVersionError:
            return  # another writer saved one meanwhile: a snapshot is a cache, keep theirs
        if kept is None:
            await self._client.set_stream_metadata(stream, metadata={"$maxCount": 1})

    async def load_snapshot(self, stream: str) -> Snapshot | None:
        kept = await self._newest_snapshot(f"{self._namespace}{SNAPSHOT_CATEGORY}-{stream}")
        return None if kept is None else kept[0]

    async def _newest_snapshot(self, stream: str) -> tuple[Snapshot, int] | None:
        try:
            newest = await self._client.get_stream(stream, backwards=True, limit=1)
        except NotFoundError:
            return None
        if not newest:
            return None
        data = json.loads(newest[0].data)
        name = stream[len(self._namespace) + len(SNAPSHOT_CATEGORY) + 1:]
        snapshot = Snapshot(name, int(data["version"]), int(data["position"]),
                            int(data["schema"]), data["state"])
        return snapshot, newest[0].stream_position

    async def read_all(
        self,
        after_position: int = 0,
        limit: int = 500,
        categories: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        wanted = None if categories is None else frozenset(categories)
        if limit <= 0 or wanted == frozenset():
            return []
        include: tuple[str, ...]
        if wanted is None:
            include, by_prefix = self._log_filter, False
        else:
            include = tuple(f"{self._namespace}{category}-" for category in sorted(wanted))
            by_prefix = True
        found: list[RecordedEvent] = []
        seen = after_position  # nothing at or before it is returned
        # Reading forwards from a position returns the event AT it too (it matched the filter
        # when it was returned before): hence one more than wanted, and the ``seen`` check.
        start: int | None = after_position if after_position > 0 else None
        while len(found) < limit:
            count = limit - len(found) + (0 if start is None else 1)
            try:
                page = await self._read_all_page(start, count, include, by_prefix)
            except InvalidCommitPositionError:
                if start is None or start != after_position:
                    raise
                # Not the position of an event (every position this store hands out is one):
                # scan from the beginning instead; slow, but it skips nothing.
                start = None
                continue
            for stored in page:
                if stored.commit_position <= seen:
                    continue
                seen = stored.commit_position
                if self._in_log(stored, wanted):
                    found.append(self._recorded(stored))
                    if len(found) == limit:
                        break
            if len(page) < count:
                break  # the end of $all
            start = page[-1].commit_position
        return found

    async def last_position(self) -> int:
        start: int | None = None
        while True:
            # Backwards from a position leaves out the event at it.
            page = await self._read_all_page(
                start, HEAD_PAGE, self._log_filter, False, backwards=True
            )
            for stored in page:
                if self._in_log(stored, None):
                    return stored.commit_position
            if len(page) < HEAD_PAGE:
                return 0
            start = page[-1].commit_position

    async def tracked_position(self, consumer: str) -> int:
        position, _ = await self._checkpoint(self._tracking_stream(consumer))
        return position

    async def _checkpoint(self, tracking_stream: str) -> tuple[int, int | StreamState]:
        """The recorded position and the tracking stream's current version (to append after)."""
        try:
            newest = await self._client.get_stream(tracking_stream, backwards=True, limit=1)
        except NotFoundError:
            return 0, StreamState.NO_STREAM
        if not newest:
            # Only if an operator truncated every event away: appending with NO_STREAM then
            # fails on the version, loudly, rather than guessing.
            return 0, StreamState.NO_STREAM
        moved = json.loads(newest[0].data)
        return int(moved["position"]), newest[0].stream_position

    async def _read_all_page(
        self,
        start: int | None,
        count: int,
        include: tuple[str, ...],
        by_prefix: bool,
        *,
        backwards: bool = False,
    ) -> list[StoredEvent]:
        response = await self._client.read_all(
            commit_position=start,
            backwards=backwards,
            filter_include=include,
            filter_by_stream_name=True,
            filter_by_prefix=by_prefix,
            limit=count,
        )
        return [stored async for stored in response]

    def _in_log(self, stored: StoredEvent, categories: frozenset[str] | None) -> bool:
        """The server filtered by stream name already; this drops what a filter cannot say."""
        if stored.type.startswith("$") or not stored.stream_name.startswith(self._namespace):
            return False
        stream = stored.stream_name[len(self._namespace) :]
        category = category_of(stream)
        if stream.startswith("$") or category in (TRACKING_CATEGORY, SNAPSHOT_CATEGORY):
            return False
        return categories is None or category in categories

    def _recorded(self, stored: StoredEvent) -> RecordedEvent:
        payload = json.loads(stored.data)
        type_version = payload.get("version") if isinstance(payload, dict) else None
        if not isinstance(type_version, int):
            raise UnknownEventType(f"{stored.type}: no version in the stored data")
        return RecordedEvent(
            stored.commit_position,
            stored.stream_name[len(self._namespace) :],
            version_of(stored.stream_position),
            self._serializer.deserialize(stored.type, type_version, payload),
        )

    def _tracking_stream(self, consumer: str) -> str:
        return f"{self._namespace}{TRACKING_CATEGORY}-{consumer}"

    # --- waiting -------------------------------------------------------------------------

    # ASYNC109 prefers asyncio.timeout at the call site, but the port fixes this signature.
    async def wait_for_append(self, after_position: int, timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        # Outside the timeout, as the SQL stores read first: a log already past is True at once.
        head = await self.last_position()
        if head > after_position:
            return True
        try:
            async with asyncio.timeout_at(deadline):
                return await self._wait_past(head, after_position)
        except TimeoutError:
            return False

    async def _wait_past(self, head: int, after_position: int) -> bool:
        # From the head we just read, the subscription delivers every later event of the log:
        # nothing appended between that read and the subscription's start is missed. An empty
        # log has no position to start from: subscribe from the end, then look once more.
        subscription = await self._client.subscribe_to_all(
            commit_position=head or None,
            from_end=head == 0,
            filter_include=self._log_filter,
            filter_by_stream_name=True,
        )
        try:
            if head == 0 and await self.last_position() > after_position:
                return True
            async for stored in subscription:
                if stored.commit_position > after_position and self._in_log(stored, None):
                    return True
        finally:
            await subscription.stop()
        # The server ended the subscription: answer from the log as it is now.
        return await self.last_position() > after_position

    async def close(self) -> None:
        with contextlib.suppress(ProgrammingError):  # raised when it never connected
            await self._client.close()
