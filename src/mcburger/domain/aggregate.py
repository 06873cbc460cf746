"""The aggregate base: decide by recording events, evolve by applying them."""

from __future__ import annotations

from mcburger.domain.events import Event


class Aggregate:
    """Holds state rebuilt from its own stream and the events it decided but has not saved.

    Commands mutate state through ``_record`` (apply + remember); the application saves
    ``pending`` with optimistic concurrency on ``version`` and then calls ``mark_saved``. A failed
    save means the instance is stale: the application rebuilds it from the store.
    """

    def __init__(self) -> None:
        self.version = 0
        self._pending: list[Event] = []

    @property
    def pending(self) -> list[Event]:
        return list(self._pending)

    def mark_saved(self) -> None:
        self.version += len(self._pending)
        self._pending.clear()

    def _record(self, event: Event) -> None:
        self.apply(event)
        self._pending.append(event)

    def replay(self, event: Event) -> None:
        """Apply an event loaded from this aggregate's own stream."""
        self.apply(event)
        self.version += 1

    def apply(self, event: Event) -> None:
        raise NotImplementedError
