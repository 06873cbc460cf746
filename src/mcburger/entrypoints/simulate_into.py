"""``mcburger simulate --into DATA_DIR``: a simulated day written into an empty embedded data
directory as ``mcburger run`` would have written it, so that ``mcburger run --data-dir
DATA_DIR`` opens a restaurant with that history (for demos and the history benchmarks).

1. Refuse a directory that holds anything but the lock file; take the data directory's lock
   for the whole write, so a ``mcburger run`` on it and this exclude each other.
2. Run the day once without writing, to learn how long it lasts: it is then placed so that it
   ends a minute before now (a day that ended months ago would make the analytics of the
   restaurant that resumes it look idle). The simulation is deterministic and does not depend
   on when it starts, so the second run is the same day.
3. Run it again and write its decisions (``simulator.history``) into ``events.db``, one
   transaction per chunk of decisions (``SQLiteEventStore.append_in_one_transaction``), each
   append exactly as the live service's; then the newest snapshot of each stream.
4. Build ``readmodels.db`` by handing the log to the live read-model consumers (the views and
   analytics of ``Restaurant.consumers``), as their subscriptions would.

If anything fails, the databases written so far are removed again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from mcburger.adapters.clock import SystemClock
from mcburger.adapters.datadir import LOCK_FILE_NAME, DataDirectoryLock
from mcburger.adapters.eventstore.sqlite import Append, SQLiteEventStore
from mcburger.adapters.readmodels.sqlite import SQLiteReadModelStore
from mcburger.application import kitchen_service, ordering_service
from mcburger.application.ports import EventStore
from mcburger.application.simulator.history import Chunk, RecordedDay
from mcburger.application.simulator.mix import Arrival
from mcburger.application.simulator.simulation import SIMULATION_START
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.domain.events import category_of
from mcburger.domain.kitchen import KitchenSetup
from mcburger.restaurant import Restaurant

EVENTS_DB, READ_MODELS_DB = "events.db", "readmodels.db"
END_BEFORE_NOW = timedelta(minutes=1)
PROJECTION_BATCH = 1000  # events read from the log per batch handed to the read models

# The services' own consumers: what they decide is the log itself, already written.
DECIDING_CONSUMERS = (ordering_service.CONSUMER, kitchen_service.CONSUMER)

# (step, done, total): "simulate" (orders), "write" (events), "project" (log positions)
Progress = Callable[[str, int, int], None]


class NotEmpty(Exception):
    """The data directory already holds something: a history is only written into nothing."""


@dataclass(frozen=True)
class Written:
    """What went into the directory."""

    orders: int
    events: int
    start: datetime
    end: datetime


def refuse_unless_empty(data_dir: Path) -> None:
    """``NotEmpty`` unless ``data_dir`` is missing or holds at most a lock file."""
    if data_dir.exists() and not data_dir.is_dir():
        raise NotEmpty(f"{data_dir} is not a directory")
    if data_dir.exists() and any(p.name != LOCK_FILE_NAME for p in data_dir.iterdir()):
        raise NotEmpty(f"{data_dir} is not empty")


def write_day(data_dir: Path, settings: Settings, arrivals: Sequence[Arrival],
              setup: KitchenSetup, seed: int, progress: Progress) -> Written:
    """Write the day into ``data_dir`` (see the module docstring); ``DataDirectoryInUse`` if
    a ``mcburger run`` holds it, ``NotEmpty`` if it is not empty."""
    refuse_unless_empty(data_dir)
    with DataDirectoryLock.acquire(data_dir):
        refuse_unless_empty(data_dir)  # something may have started and stopped meanwhile
        try:
            return asyncio.run(_write(data_dir, settings, arrivals, setup, seed, progress))
        except BaseException:
            for written in data_dir.iterdir():
                if written.name.startswith((EVENTS_DB, READ_MODELS_DB)):
                    written.unlink()
            raise


async def _write(data_dir: Path, settings: Settings, arrivals: Sequence[Arrival],
                 setup: KitchenSetup, seed: int, progress: Progress) -> Written:
    menu, rid = settings.load_menu(), settings.restaurant_id

    def simulated(done: int, total: int) -> None:
        progress("simulate", done, total)

    trial = RecordedDay(menu, arrivals, setup, seed, rid, SIMULATION_START)
    total = sum(chunk.events for chunk in trial.chunks(simulated))
    start = _minute(SystemClock().now() - END_BEFORE_NOW - (trial.end - SIMULATION_START))
    events = await SQLiteEventStore.open(data_dir / EVENTS_DB)
    try:
        day = RecordedDay(menu, arrivals, setup, seed, rid, start,
                          first_position=await events.last_position() + 1)
        written = 0
        for chunk in day.chunks():
            await _write_chunk(events, chunk)
            written += chunk.events
            progress("write", written, total)
        if (written, day.end - start) != (total, trial.end - SIMULATION_START):
            raise RuntimeError("the day came out differently the second time")
        read_models = await SQLiteReadModelStore.open(data_dir / READ_MODELS_DB)
        try:
            await _handle_log(await bootstrap(_embedded(settings, data_dir), event_store=events,
                                           read_models=read_models), progress)
        finally:
            await read_models.close()
    finally:
        await events.close()
    return Written(len(arrivals), written, start, day.end)


async def _write_chunk(events: SQLiteEventStore, chunk: Chunk) -> None:
    recorded = await events.append_in_one_transaction(
        [Append(d.stream, d.events, d.expected_version, d.tracking) for d in chunk.decisions])
    for decision, records in zip(chunk.decisions, recorded, strict=True):
        # The tracking positions were computed from these: they must be where events landed.
        if records and records[0].position != decision.position:
            raise RuntimeError(f"{decision.stream}: events landed at {records[0].position}, "
                               f"not at {decision.position}")
    for snapshot in chunk.snapshots.values():
        await events.save_snapshot(snapshot)


async def _handle_log(restaurant: Restaurant, progress: Progress) -> None:
    """Hand the whole log to the read-model consumers, each the categories it follows."""
    consumers = [consumer for consumer in restaurant.consumers().values()
                 if consumer.declared.projection]
    for consumer in consumers:
        await consumer.checkpoint()  # analytics rebuilds its memory here (from nothing)
    log: EventStore = restaurant.event_store
    last, position = await log.last_position(), 0
    while batch := await log.read_all(position, PROJECTION_BATCH):
        for consumer in consumers:
            mine = [r for r in batch if category_of(r.stream) in consumer.declared.reads]
            if mine:
                await consumer.handle(mine)
        position = batch[-1].position
        progress("project", position, last)


def _embedded(settings: Settings, data_dir: Path) -> Settings:
    """The settings ``mcburger run --data-dir`` uses: no server engine, no bus."""
    return settings.model_copy(update={"data_dir": data_dir, "eventstore_url": None,
                                       "kafka_bootstrap": None, "mongo_url": None})


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)
