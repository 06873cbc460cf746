"""The event flow table: what docs/architecture.md shows is what runs."""

from __future__ import annotations

from pathlib import Path

from mcburger.adapters.bus.memory import InMemoryBus
from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.flow import FLOW, markdown_table, wired
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.restaurant import ROLES
from tests.unit.driver import Driver

ARCHITECTURE = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"
BEGIN = "<!-- flow table: generated from application/flow.py -->\n"
END = "<!-- end of the flow table -->"


def test_the_architecture_doc_shows_the_flow_table_as_declared() -> None:
    text = ARCHITECTURE.read_text("utf-8")
    shown = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    assert shown == markdown_table(), "run: python -m mcburger.application.flow"


def test_consumer_names_are_unique_and_roles_exist() -> None:
    assert len({consumer.name for consumer in FLOW}) == len(FLOW)
    assert {consumer.role for consumer in FLOW} <= set(ROLES)


async def test_every_row_resolves_in_the_distributed_wiring() -> None:
    restaurant = await bootstrap(Settings(), clock=VirtualClock(), event_store=InMemoryEventStore(),
                                 read_models=InMemoryReadModelStore(), bus=InMemoryBus(),
                                 roles=frozenset(ROLES))
    try:
        for consumer in FLOW:
            found = wired(consumer, restaurant)
            assert callable(found.handle) and callable(found.checkpoint)
            assert await found.checkpoint() == 0
    finally:
        await restaurant.stop()


async def test_the_unit_test_driver_polls_every_row_that_runs_embedded() -> None:
    driver = await Driver.open()
    try:
        assert set(driver.feeds) == {consumer.name for consumer in FLOW
                                     if consumer.role != "relay"}
    finally:
        await driver.restaurant.stop()
