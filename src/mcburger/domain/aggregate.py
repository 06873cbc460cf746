"""The aggregate base: decide by recording events, evolve by applying them, and hand over a
snapshot of what is live so a rebuild need not replay the whole stream."""

from __future__ import annotations

from typing import Any, ClassVar

from mcburger.domain.events import Event

State = dict[str, Any]  # a snapshot's state: str/int/float/bool/None, lists and dicts only


class SnapshotUnreadable(Exception):
    """A snapshot's state is not one this code can restore: rebuild by replaying instead."""


class Aggregate:
    """Holds state rebuilt from its own stream and the events it decided but has not saved.

    Commands mutate state through ``_record`` (apply + remember); the application saves
    ``pending`` with optimistic concurrency on ``version`` and then calls ``mark_saved``. A failed
    save means the instance is stale: the application rebuilds it from the store.

    Snapshots (a memento, as the ``eventsourcing`` library takes them): ``snapshot_state``
    gives the live state as plain data, ``restore`` takes it back. ``SNAPSHOT_SCHEMA`` names
    the format; bump it when the state's shape changes, and a stored snapshot of another
    schema is ignored (the stream is replayed instead). ``changes`` counts the events applied
    or observed since the instance was made, so the application can snapshot every so often.
    """

    SNAPSHOT_SCHEMA: ClassVar[int] = 1

    def __init__(self) -> None:
        self.version = 0
        self.changes = 0
        self._pending: list[Event] = []

    @property
    def pending(self) -> list[Event]:
        return list(self._pending)

    def mark_saved(self) -> None:
        self.version += len(self._pending)
        self._pending.clear()

    def _record(self, event: Event) -> None:
        self.apply(event)
        self.changes += 1
        self._pending.append(event)

    def replay(self, event: Event) -> None:
        """Apply an event loaded from this aggregate's own stream."""
        self.apply(event)
        self.changes += 1
        self.version += 1

    def apply(self, event: Event) -> None:
        raise NotImplementedError

    @property
    def live_size(self) -> int:
        """How many live things the state holds (open orders, queued units, ...): what a
        snapshot costs to write, so it is written no more often than that many changes."""
        raise NotImplementedError

    def snapshot_state(self) -> State:
        """The state as plain data (see ``State``); saved with ``version`` by the caller."""
        raise NotImplementedError

    def restore(self, state: State, version: int) -> None:
        """Take back a ``snapshot_state`` at ``version``; ``SnapshotUnreadable`` if it is not
        one this code reads (the caller then replays the stream from the start)."""
        try:
            self._restore(state)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise SnapshotUnreadable(f"{type(error).__name__}: {error}") from error
        self.version = version

    def _restore(self, state: State) -> None:
        raise NotImplementedError
