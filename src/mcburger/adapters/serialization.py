"""Event <-> JSON, keyed by the stable event-type name and version (never by Python class path)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import TypeAdapter

from mcburger.domain.events import EVENT_TYPES, Event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(Exception):
    """The stored type name or version is not one this code can read."""


class EventSerializer:
    """Turns events into ``(type, version, json text)`` and back.

    When an event's shape changes, bump its ``VERSION`` and register an upcaster from the old
    version so stored events keep loading.
    """

    def __init__(
        self,
        types: Iterable[type[Event]] = EVENT_TYPES,
        upcasters: dict[tuple[str, int], Upcaster] | None = None,
    ) -> None:
        self._types = {t.TYPE: t for t in types}
        self._adapters: dict[str, TypeAdapter[Any]] = {
            name: TypeAdapter(cls) for name, cls in self._types.items()
        }
        self._upcasters = dict(upcasters or {})

    def serialize(self, event: Event) -> tuple[str, int, str]:
        adapter = self._adapters.get(event.TYPE)
        if adapter is None:
            raise UnknownEventType(event.TYPE)
        payload = adapter.dump_python(event, mode="json")
        return event.TYPE, event.VERSION, json.dumps(payload, separators=(",", ":"))

    def to_dict(self, event: Event) -> dict[str, Any]:
        """The JSON-ready body plus ``type`` and ``version``, as the bus and the docs show it."""
        type_name, version, text = self.serialize(event)
        return {"type": type_name, "version": version, **json.loads(text)}

    def deserialize(self, type_name: str, version: int, data: str | dict[str, Any]) -> Event:
        cls = self._types.get(type_name)
        if cls is None:
            raise UnknownEventType(type_name)
        payload = json.loads(data) if isinstance(data, str) else dict(data)
        payload.pop("type", None)
        payload.pop("version", None)
        while version < cls.VERSION:
            upcast = self._upcasters.get((type_name, version))
            if upcast is None:
                raise UnknownEventType(f"{type_name} v{version} (no upcaster)")
            payload, version = upcast(payload), version + 1
        if version != cls.VERSION:
            raise UnknownEventType(f"{type_name} v{version}")
        event: Event = self._adapters[type_name].validate_python(payload)
        return event
