"""Feeding a service's batch handler from bus topics (distributed mode)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from mcburger.application.ports import (
    BatchHandler,
    Bus,
    BusConsumer,
    CommitFailed,
    Delivery,
    EventCodec,
    Message,
    RecordedEvent,
    UndecodableMessage,
)
from mcburger.domain.errors import DomainError

log = logging.getLogger(__name__)


# Errors that say "this event cannot be handled", as opposed to "the store is unreachable":
# only these send an event to the dead letters. Anything else stops the subscription and its
# supervisor restarts it, so the uncommitted messages come again: nothing is dropped because a
# database was down for a minute.
POISON = (DomainError, LookupError, ValueError, TypeError)


class DeadLetters:
    """The dead-letter topic: the message as it came, plus why and where from, in headers."""

    def __init__(self, bus: Bus, topic: str) -> None:
        self._bus = bus
        self.topic = topic

    async def send(self, delivery: Delivery, consumer: str, error: str) -> None:
        headers = (*delivery.headers, ("error", error[:2000].encode()),
                   ("consumer", consumer.encode()), ("source-topic", delivery.topic.encode()),
                   ("source-partition", str(delivery.partition).encode()),
                   ("source-offset", str(delivery.offset).encode()))
        await self._bus.publish([Message(self.topic, delivery.key or "", delivery.value,
                                         headers)])
        log.error("%s: %s[%s]@%s sent to %s: %s", consumer, delivery.topic, delivery.partition,
                  delivery.offset, self.topic, error)


@dataclass
class _Pending:
    delivery: Delivery
    record: RecordedEvent | None  # None: nothing to handle (undecodable, or not ours)
    previous: int
    position: int
    done: bool = False


class BusSubscription:
    """One restaurant's events from bus topics to a batch handler, at least once.

    - Messages of other restaurants are skipped. A message that cannot be decoded, or whose
      handling keeps failing with a ``POISON`` error after ``max_attempts`` tries, goes to the
      dead letters and the subscription moves on.
    - The handler stores its effects with the batch's last position (tracking record or
      checkpoint), so a redelivered message changes nothing; one already at or below the
      handler's position is not even handed over.
    - Offsets are committed only once what they cover is handled, and only as a gap-free
      prefix of each partition.
    - ``in_log_order``: for a consumer of several topics, events are handed over in the global
      log's order, restored from each message's ``previous`` (the restaurant's previous event);
      a message waits until its predecessor has been handled.
    """

    def __init__(self, name: str, consumer: BusConsumer, codec: EventCodec,
                 handle: BatchHandler, restaurant_id: str, dead_letters: DeadLetters,
                 in_log_order: bool = False, max_attempts: int = 3,
                 batch_size: int = 200, retry_delay: float = 0.2) -> None:
        self.name = name
        self.consumer = consumer
        self._codec = codec
        self._handle = handle
        self._restaurant_id = restaurant_id
        self._dead_letters = dead_letters
        self._in_log_order = in_log_order
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._retry_delay = retry_delay
        self.position = 0  # the newest event handed over (or stepped over)
        self._pending: dict[tuple[str, int], deque[_Pending]] = {}
        self._waiting: dict[str, deque[_Pending]] = {}  # in_log_order: by topic

    async def run(self, after: int) -> None:
        self.position = after
        self._pending.clear()  # a restart after a failure: the group delivers them again
        self._waiting.clear()
        await self.consumer.start()
        try:
            while True:
                await self.poll_once(timeout=1.0)
        finally:
            await self.consumer.stop()

    async def poll_once(self, timeout: float) -> int:
        """Fetch, hand over and commit what is ready; return how many events were handled."""
        deliveries = await self.consumer.fetch(self._batch_size, timeout)
        for delivery in deliveries:
            entry = await self._admit(delivery)
            self._pending.setdefault((delivery.topic, delivery.partition), deque()).append(entry)
            if entry.record is not None or not entry.done:
                self._waiting.setdefault(delivery.topic, deque()).append(entry)
        handled = await self._hand_over(self._ready())
        await self._commit()
        return handled

    async def _admit(self, delivery: Delivery) -> _Pending:
        if delivery.key != self._restaurant_id:
            return _Pending(delivery, None, 0, 0, done=True)
        try:
            envelope = self._codec.decode(delivery)
        except UndecodableMessage as error:
            await self._dead_letters.send(delivery, self.name, f"undecodable: {error}")
            if error.position is None or error.previous is None or not self._in_log_order:
                return _Pending(delivery, None, 0, 0, done=True)
            # Keep its place in the order: it is stepped over when its turn comes.
            return _Pending(delivery, None, error.previous, error.position)
        return _Pending(delivery, envelope.record, envelope.previous, envelope.record.position)

    def _ready(self) -> list[_Pending]:
        """The waiting entries that can go now, in order; the rest keep waiting."""
        ready: list[_Pending] = []
        if not self._in_log_order:
            for queue in self._waiting.values():
                ready.extend(queue)
                queue.clear()
            ready.sort(key=lambda entry: entry.position)
            return ready
        at = self.position
        while True:
            heads = [queue[0] for queue in self._waiting.values() if queue]
            duplicate = next((e for e in heads if e.position <= at), None)
            following = next((e for e in heads if e.previous <= at < e.position), None)
            chosen = duplicate or following
            if chosen is None:
                return ready
            self._waiting[chosen.delivery.topic].popleft()
            if chosen is following:
                ready.append(chosen)
                at = chosen.position
            else:
                chosen.done = True

    async def _hand_over(self, ready: list[_Pending]) -> int:
        handled = 0
        fresh = [e for e in ready if e.record is not None and e.position > self.position]
        for entry in ready:
            if entry not in fresh:
                entry.done = True
        if fresh:
            handled = await self._handle_with_retries(fresh)
        if ready:
            self.position = max(self.position, max(e.position for e in ready))
        return handled

    async def _handle_with_retries(self, entries: list[_Pending]) -> int:
        if len(entries) == 1:  # its full tries; if they fail, it is in the dead letters
            return 1 if await self._try(entries, self._max_attempts) else 0
        if await self._try(entries, 1):
            return len(entries)
        # Find the culprit: one by one, each with its full tries; the poison ones are dropped.
        handled = 0
        for entry in entries:
            if await self._try([entry], self._max_attempts):
                handled += 1
        return handled

    async def _try(self, entries: list[_Pending], attempts: int) -> bool:
        records = [e.record for e in entries if e.record is not None]
        for attempt in range(1, attempts + 1):
            try:
                await self._handle(records)
            except POISON as error:
                if attempt < attempts:
                    await asyncio.sleep(self._retry_delay * attempt)
                    continue
                if len(entries) == 1:
                    await self._dead_letters.send(entries[0].delivery, self.name,
                                                  f"{type(error).__name__}: {error}")
                    entries[0].done = True
                return False
            for entry in entries:
                entry.done = True
            return True
        return False

    async def _commit(self) -> None:
        done: list[Delivery] = []
        for queue in self._pending.values():
            last = None
            while queue and queue[0].done:
                last = queue.popleft().delivery
            if last is not None:
                done.append(last)
        if not done:
            return
        try:
            await self.consumer.commit(done)
        except CommitFailed as error:
            # The partitions were handed to another member (or back to us, from the committed
            # offsets): what is held here will be delivered again.
            log.warning("%s: commit refused (%s); dropping what is held", self.name, error)
            self._pending.clear()
            self._waiting.clear()

    async def lag(self, head: int | None = None) -> int:
        """Messages of its topics not taken in yet, as the broker counts them (``head``, the
        log's last position, says nothing about the bus: ignored)."""
        return await self.consumer.lag()
