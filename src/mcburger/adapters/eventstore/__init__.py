"""Event store adapters, one per engine, and ``open_event_store``: the engine a URL names.

Server drivers are imported only when their engine is asked for, so an embedded install needs
none of them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mcburger.application.ports import EventStore


async def open_event_store(url: str | None, data_dir: Path) -> EventStore:
    """The event store ``url`` names (``MCBURGER_EVENTSTORE_URL``): ``sqlite:///path``,
    ``postgresql://...`` or ``kurrentdb://...``; without one, SQLite as ``events.db`` in
    ``data_dir``. ValueError for another scheme or a malformed SQLite URL."""
    from mcburger.adapters.eventstore.sqlite import SQLiteEventStore
    if url is None:
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        return await SQLiteEventStore.open(data_dir / "events.db")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        # sqlite:///relative/events.db, sqlite:////absolute/events.db (as SQLAlchemy has it)
        if not url.startswith("sqlite:///"):
            raise ValueError("MCBURGER_EVENTSTORE_URL: write sqlite:///path/to/events.db")
        return await SQLiteEventStore.open(url.removeprefix("sqlite:///"))
    if scheme in ("postgresql", "postgres"):
        from mcburger.adapters.eventstore.postgres import PostgresEventStore
        return await PostgresEventStore.open(url)
    if scheme in ("kurrentdb", "esdb", "kdb", "esdb+discover", "kurrentdb+discover"):
        from mcburger.adapters.eventstore.kurrentdb import KurrentDBEventStore
        return await KurrentDBEventStore.open(url)
    raise ValueError(f"MCBURGER_EVENTSTORE_URL: unknown scheme {scheme!r} "
                     "(sqlite:///path, postgresql://..., kurrentdb://...)")
