"""The composition root: opens the engines the settings name and wires one restaurant's
services, stores, queries and health into a ``Restaurant`` (``restaurant.py``), which runs them.
Nothing is created at import time."""

from __future__ import annotations

import os
import secrets

from mcburger.adapters.clock import SystemClock
from mcburger.adapters.eventstore import open_event_store
from mcburger.adapters.metrics import PrometheusMetrics
from mcburger.adapters.readmodels import open_read_models
from mcburger.adapters.serialization import JsonEventCodec
from mcburger.application.analytics import Analytics
from mcburger.application.board_hub import BoardHub
from mcburger.application.kitchen_service import KitchenService
from mcburger.application.ordering_service import OrderingService
from mcburger.application.ports import Bus, Clock, EventStore, ReadModelStore
from mcburger.application.queries import Queries
from mcburger.application.relay import Relay
from mcburger.application.views import ViewsProjection
from mcburger.config import Settings
from mcburger.domain.kitchen import KitchenSetup
from mcburger.entrypoints.api.schemas import board_message
from mcburger.health import Health
from mcburger.restaurant import BOARD_FEEDS, EMBEDDED_ROLES, ROLES, Restaurant
from mcburger.supervisor import Supervisor


async def bootstrap(settings: Settings, clock: Clock | None = None,
                    event_store: EventStore | None = None,
                    read_models: ReadModelStore | None = None,
                    bus: Bus | None = None,
                    roles: frozenset[str] = EMBEDDED_ROLES) -> Restaurant:
    """Wire a restaurant: adapters given, else chosen by the settings' URLs, else embedded
    (SQLite files in the data directory). ``roles``: the services this process runs."""
    unknown = roles - {*ROLES, BOARD_FEEDS}
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; choose from "
                         f"{', '.join((*ROLES, BOARD_FEEDS))}")
    menu = settings.load_menu()
    clock = clock or SystemClock()
    opened_events, opened_read_models = event_store is None, read_models is None
    events = event_store or await open_event_store(settings.eventstore_url, settings.data_dir)
    read_models = read_models or await open_read_models(
        settings.mongo_url, settings.mongo_database, settings.data_dir,
        follower=roles == {BOARD_FEEDS})
    if bus is None and settings.kafka_bootstrap and roles != {BOARD_FEEDS}:  # it reads no topic
        from mcburger.adapters.bus.kafka import KafkaBus
        bus = KafkaBus(settings.kafka_bootstrap, client_id="mcburger-" + "-".join(sorted(roles)))
    rid = settings.restaurant_id
    seed = settings.seed if settings.seed is not None else secrets.randbits(32)
    setup = KitchenSetup(settings.workers, settings.favorites_first, settings.stock_target,
                         settings.speed)
    metrics = PrometheusMetrics()
    queries = Queries(read_models, menu)
    codec = JsonEventCodec()
    board = BoardHub(queries, shape=board_message)
    supervisor = Supervisor()
    own_stores = opened_events and opened_read_models and bus is None
    rebuild_processes = (settings.rebuild_processes if settings.rebuild_processes is not None
                         else max(0, (os.cpu_count() or 1) - 1)) if own_stores else 0
    return Restaurant(
        settings=settings, menu=menu, clock=clock, event_store=events, read_models=read_models,
        ordering=OrderingService(events, clock, menu, rid),
        kitchen=KitchenService(events, clock, menu, rid, setup, seed),
        views=ViewsProjection(read_models, menu, metrics),
        analytics=Analytics(events, read_models, menu, rid),
        queries=queries, metrics=metrics, board=board, supervisor=supervisor,
        health=Health(rid, roles, events, read_models, bus, board, metrics, supervisor),
        roles=roles, bus=bus, relay=None if bus is None else Relay(events, bus, codec),
        codec=codec, rebuild_processes=rebuild_processes,
    )

