"""Ports: the abstract classes the application needs from the outside world.

Each has one adapter per engine (``adapters/eventstore/sqlite.py``, ...) and one abstract contract
test suite (``tests/contract/``) that every adapter's test class subclasses. One module on
purpose, though over 300 lines (most of them the contracts' docstrings): it is the application's
whole contract with the outside, read as one.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mcburger.domain.events import Event

JSON = dict[str, Any]


# --- event store ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: its place in the global log and in its stream."""

    position: int  # global, strictly increasing in commit order; gaps allowed, reordering never
    stream: str
    version: int  # 1-based index within the stream
    event: Event


# What a consumer's feed calls with each batch of its events, in log order; it stores its effects
# with the batch's last position (tracking record or checkpoint), so redelivery changes nothing.
BatchHandler = Callable[[Sequence[RecordedEvent]], Awaitable[None]]


@dataclass(frozen=True)
class Tracking:
    """A follower's checkpoint: it has consumed the global log up to ``position``.

    ``previous``, when given, is the checkpoint the follower's decision was made after: the
    append then also requires the stored checkpoint to be exactly that (else
    ``WrongExpectedVersion``), so two writers handling overlapping batches never both decide
    the same event.
    """

    consumer: str
    position: int
    previous: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """An aggregate's live state at ``version`` of its stream, so a rebuild reads the snapshot
    plus the events after it instead of the whole stream.

    ``position`` is, for an aggregate whose state also depends on the log it follows (the
    kitchen observes ordering's events), the tracking position that state includes; 0
    otherwise. ``schema`` is the format of ``state`` (plain JSON data): a reader that does not
    know it replays the stream instead. Snapshots are a cache: losing one costs time, never
    correctness, so it is written after the events it reflects and outside their transaction.
    """

    stream: str
    version: int
    position: int
    schema: int
    state: JSON


class WrongExpectedVersion(Exception):
    """Optimistic concurrency: the stream moved on since the writer read it."""


class AlreadyProcessed(Exception):
    """The tracking position is not after the consumer's recorded one: a redelivery."""


class EventStore(abc.ABC):
    """Streams per aggregate with optimistic concurrency, plus one global ordered log.

    Followers read the global log from a checkpoint. A follower that writes events records its
    ``Tracking`` in the SAME transaction as those events, so a redelivered event changes nothing.
    """

    @abc.abstractmethod
    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        expected_version: int,
        tracking: Tracking | None = None,
    ) -> list[RecordedEvent]:
        """Append atomically: every event and the tracking record, or nothing.

        ``expected_version`` is the stream's current version (0: the stream must not exist yet);
        otherwise ``WrongExpectedVersion``. A ``tracking`` position that is not greater than the
        consumer's recorded one raises ``AlreadyProcessed``; a recorded one other than
        ``tracking.previous`` (when given) raises ``WrongExpectedVersion``. ``events`` may be
        empty when only the checkpoint moves.
        """

    @contextlib.asynccontextmanager
    async def writer_turn(self, stream: str) -> AsyncIterator[None]:
        """Hold ``stream``'s write turn while a command reads, decides and appends, so writers
        of one stream in several processes take turns instead of racing.

        Optimistic concurrency (``expected_version``) stays the guarantee; the turn only keeps a
        writer from losing race after race to a busier one (the ``api`` placing orders while the
        ``ordering`` service reacts to the kitchen, both on ``ordering-<restaurant>``). Waiters
        are served in arrival order. Default: nothing to hold (one process writes each stream:
        the in-memory and SQLite stores; KurrentDB has no lock to offer).
        """
        yield

    @abc.abstractmethod
    async def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        """The stream's events with version > ``after_version``, oldest first."""

    @abc.abstractmethod
    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` as its stream's newest, unless a newer version is kept already.

        Atomic: a crash leaves the previous snapshot or this one, never a part of one.
        """

    @abc.abstractmethod
    async def load_snapshot(self, stream: str) -> Snapshot | None:
        """The stream's newest snapshot, or None."""

    @abc.abstractmethod
    async def read_all(
        self,
        after_position: int = 0,
        limit: int = 500,
        categories: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        """Global log after ``after_position``, oldest first, at most ``limit`` events.

        ``categories`` keeps only streams named ``<category>-...``. A follower must never skip an
        event that commits late: every event returned here has a position greater than all the
        events an earlier call could still be missing.
        """

    @abc.abstractmethod
    async def last_position(self) -> int:
        """Position of the newest committed event (0 when empty)."""

    @abc.abstractmethod
    async def tracked_position(self, consumer: str) -> int:
        """The consumer's recorded checkpoint (0 when none)."""

    @abc.abstractmethod
    async def wait_for_append(self, after_position: int, timeout: float) -> bool:
        """Return True as soon as the log goes past ``after_position``, False after ``timeout``.

        Woken by appends, not by busy polling, where the engine allows.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""


# --- read models ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Put:
    """Write one read-model document (insert or replace).

    ``seq`` orders documents in ``find``; ``position`` is the global position of the newest event
    that shaped it: a Put whose position is not greater than the stored one is ignored, which
    keeps replays harmless even on engines without transactions.
    """

    collection: str
    key: str
    seq: int
    position: int
    document: JSON


class ReadModelStore(abc.ABC):
    """Documents that projections keep (orders, board, stock, kitchen, estimates)."""

    @abc.abstractmethod
    async def get(self, collection: str, key: str) -> JSON | None:
        """The document, or None."""

    @abc.abstractmethod
    async def get_versioned(self, collection: str, key: str) -> tuple[JSON, int] | None:
        """The document and the position of the newest event that shaped it, or None.

        A projection that reads, changes and writes a document skips an event whose position
        the stored document already reflects: then a redelivery that is cut into different
        batches (a broker does that) still changes nothing.
        """

    @abc.abstractmethod
    async def get_versioned_many(
        self, collection: str, keys: Collection[str]
    ) -> dict[str, tuple[JSON, int]]:
        """``get_versioned`` of several keys in one round trip; missing keys are left out.

        A projection reads every document a batch will touch at once (a rebuild otherwise
        spends its time waiting on one read per document).
        """

    @abc.abstractmethod
    async def find(
        self,
        collection: str,
        where: Mapping[str, str | int | float | bool | None] | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[JSON]:
        """Documents whose top-level fields equal ``where``, with seq > ``after_seq``, by seq."""

    @abc.abstractmethod
    async def checkpoint(self, consumer: str) -> int:
        """The consumer's last committed position (0 when none)."""

    @abc.abstractmethod
    async def commit(self, consumer: str, position: int, puts: Sequence[Put]) -> None:
        """Apply ``puts`` and move the consumer's checkpoint to ``position``.

        Atomic where the engine has transactions. A ``position`` not greater than the current
        checkpoint is a redelivery: nothing changes.
        """

    @abc.abstractmethod
    async def wait_for_checkpoint(self, consumer: str, position: int, timeout: float) -> bool:
        """Return True once the consumer's checkpoint is >= ``position``; False after timeout."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""


# --- message bus ----------------------------------------------------------------------------

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Message:
    """A message to publish: ``key`` picks the partition, so one key's messages stay in order."""

    topic: str
    key: str
    value: bytes
    headers: Headers = ()


@dataclass(frozen=True)
class Delivery:
    """A message as a consumer receives it, with where it sits in its partition."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: Headers = ()

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", "replace")
        return None


class Bus(abc.ABC):
    """A partitioned, durable log of messages with consumer groups (Kafka, or in memory).

    Delivery is at least once: a consumer that stops before committing gets the same messages
    again, so handlers must be idempotent.
    """

    @abc.abstractmethod
    async def create_topics(self, topics: Collection[str], partitions: int) -> None:
        """Create the topics that do not exist yet (existing ones are left as they are)."""

    @abc.abstractmethod
    async def publish(self, messages: Sequence[Message]) -> None:
        """Return once every message is durably stored; one key's messages keep their order."""

    @abc.abstractmethod
    def consumer(self, group: str, topics: Sequence[str]) -> BusConsumer:
        """A member of consumer group ``group`` reading ``topics`` from the group's offsets.

        A group's partitions are shared out among its members, each owned by one member at a
        time; a partition with the same number in each topic goes to the same member (so one
        key's messages in every topic reach one member). A new group starts at the beginning.
        """

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the bus cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""


class CommitFailed(Exception):
    """The partition went to another member: its messages will be delivered there again."""


class BusConsumer(abc.ABC):
    """One member of a consumer group."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Join the group."""

    @abc.abstractmethod
    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        """The next messages of the owned partitions (in order per partition), waiting up to
        ``timeout`` seconds for the first one; [] when none came."""

    @abc.abstractmethod
    async def commit(self, deliveries: Sequence[Delivery]) -> None:
        """Record ``deliveries`` (and everything before them in their partitions) as done.

        ``CommitFailed`` when a partition has gone to another member meanwhile.
        """

    @abc.abstractmethod
    def owned(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs this member owns now."""

    @abc.abstractmethod
    async def lag(self) -> int:
        """Messages in the owned partitions not yet committed by the group."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Leave the group (uncommitted messages go to the next owner)."""


@dataclass(frozen=True)
class Envelope:
    """What a bus message carries: a recorded event and the position of the previous event of
    the same restaurant in the global log (0: none). A consumer of several topics uses
    ``previous`` to put the restaurant's events back in log order."""

    record: RecordedEvent
    previous: int


class UndecodableMessage(Exception):
    """A message that is not a readable event. ``position`` is its log position and
    ``previous`` the position before it on its topic, each when at least that could be read (so
    an ordered consumer can step over it), else None."""

    def __init__(self, message: str, position: int | None, previous: int | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.previous = previous


class EventCodec(abc.ABC):
    """Events to bus messages and back (serialization is an adapter's business)."""

    @abc.abstractmethod
    def topic_for(self, record: RecordedEvent) -> str:
        """The topic of the event's category."""

    @abc.abstractmethod
    def encode(self, envelope: Envelope) -> Message:
        """The message for ``envelope``, keyed by the event's restaurant."""

    @abc.abstractmethod
    def decode(self, delivery: Delivery) -> Envelope:
        """The envelope in ``delivery``, or ``UndecodableMessage``."""


# --- time ----------------------------------------------------------------------------------


class Clock(abc.ABC):
    """Wall time, as a port so tests run a whole day on a virtual clock without sleeping."""

    @abc.abstractmethod
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    @abc.abstractmethod
    async def sleep_until(self, deadline: datetime) -> None:
        """Return at ``deadline`` (at once if it has passed)."""
