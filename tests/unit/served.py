"""A restaurant on in-memory adapters and a virtual clock, served over ASGI to one client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.entrypoints.api.app import create_app

# The staff token of the in-process API tests, and the headers that send it.
STAFF_TOKEN = "the-staff-token-of-these-tests"
STAFF = {"Authorization": f"Bearer {STAFF_TOKEN}"}


async def client_of(settings: Settings, clock: VirtualClock | None = None,
                    **app_options: object) -> AsyncIterator[httpx.AsyncClient]:
    """Yields a client of the running restaurant (``app_options`` go to ``create_app``, e.g.
    ``staff_token``); the restaurant stops when the generator is closed."""
    restaurant = await bootstrap(settings, clock=clock or VirtualClock(),
                                 event_store=InMemoryEventStore(),
                                 read_models=InMemoryReadModelStore())
    app = create_app(restaurant=restaurant, **app_options)  # type: ignore[arg-type]
    app.state.restaurant = restaurant  # what the lifespan does
    await restaurant.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://restaurant") as client:
            yield client
    finally:
        await restaurant.stop()
