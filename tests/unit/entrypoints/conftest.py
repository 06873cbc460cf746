"""The API in-process: a restaurant on a virtual clock, behind a client that knows the staff
token (``tests.unit.served.STAFF_TOKEN``, sent as its ``STAFF`` headers)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from mcburger.adapters.clock import VirtualClock
from mcburger.config import Settings
from tests.unit.served import STAFF_TOKEN, client_of


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def client(clock: VirtualClock) -> AsyncIterator[httpx.AsyncClient]:
    """One worker, seed 1, the staff token ``STAFF_TOKEN``."""
    async for each in client_of(Settings(workers=1, seed=1), clock, staff_token=STAFF_TOKEN):
        yield each
