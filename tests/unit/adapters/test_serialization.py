"""Every event survives the trip to JSON and back, keyed by its stable type name and version."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcburger.adapters.serialization import EventSerializer, UnknownEventType
from mcburger.domain.events import (
    EVENT_TYPES,
    Event,
    KitchenConfigured,
    KitchenUnitsRequested,
    OrderCollected,
    OrderLine,
    OrderPlaced,
    OrderReady,
    OrderStarted,
    PreparationStarted,
    UnitAllocated,
    UnitPrepared,
    UnitQueued,
    UnitsCovered,
    UnitStocked,
)
from tests.unit.builders import T0

ENVELOPE: dict[str, Any] = {"restaurant_id": "main", "occurred_at": T0 + timedelta(microseconds=7),
                            "event_id": "e-1"}
EXAMPLES: dict[type[Event], Event] = {
    OrderPlaced: OrderPlaced(**ENVELOPE, order_id="o1", number=1,
                             lines=(OrderLine("hamburger", 2), OrderLine("cola", 1))),
    UnitAllocated: UnitAllocated(**ENVELOPE, order_id="o1", number=1, item="cola",
                                 source="kitchen", unit_id="p3"),
    KitchenUnitsRequested: KitchenUnitsRequested(**ENVELOPE, order_id="o1", number=1,
                                                 item="cola", quantity=1),
    OrderStarted: OrderStarted(**ENVELOPE, order_id="o1", number=1),
    OrderReady: OrderReady(**ENVELOPE, order_id="o1", number=1),
    OrderCollected: OrderCollected(**ENVELOPE, order_id="o1", number=1),
    UnitStocked: UnitStocked(**ENVELOPE, item="fries", unit_id="p9"),
    KitchenConfigured: KitchenConfigured(**ENVELOPE, workers=3, favorites_first=True,
                                         stock_target=3, speed=60.0),
    UnitQueued: UnitQueued(**ENVELOPE, request_id="o1:cola:0", order_id="o1", number=1,
                           item="cola"),
    UnitsCovered: UnitsCovered(**ENVELOPE, order_id="o1", number=1, item="fries", quantity=2),
    PreparationStarted: PreparationStarted(**ENVELOPE, preparation_id="p1", worker=2,
                                           item="cola", duration_seconds=0.5,
                                           request_id="o1:cola:0", order_id="o1", number=1),
    UnitPrepared: UnitPrepared(**ENVELOPE, preparation_id="p1", worker=2, item="cola"),
}


def test_every_event_type_has_an_example_here() -> None:
    assert set(EXAMPLES) == set(EVENT_TYPES)
    assert len({t.TYPE for t in EVENT_TYPES}) == len(EVENT_TYPES), "type names are unique"


@pytest.mark.parametrize("event", EXAMPLES.values(), ids=lambda e: e.TYPE)
def test_an_event_comes_back_equal_from_its_json_text(event: Event) -> None:
    serializer = EventSerializer()

    type_name, version, text = serializer.serialize(event)

    assert (type_name, version) == (event.TYPE, event.VERSION)
    assert serializer.deserialize(type_name, version, text) == event
    assert json.loads(text)["occurred_at"].startswith("2026-01-01T11:00:00.000007")


@pytest.mark.parametrize("event", EXAMPLES.values(), ids=lambda e: e.TYPE)
def test_an_event_comes_back_equal_from_its_dict_form(event: Event) -> None:
    serializer = EventSerializer()

    body = serializer.to_dict(event)

    assert body["type"] == event.TYPE and body["version"] == event.VERSION
    assert serializer.deserialize(body["type"], body["version"], body) == event


def test_a_refill_keeps_its_missing_order_as_null() -> None:
    refill = PreparationStarted(**ENVELOPE, preparation_id="p1", worker=1, item="fries",
                                duration_seconds=2.0)
    serializer = EventSerializer()

    body = serializer.to_dict(refill)

    assert body["request_id"] is body["order_id"] is body["number"] is None
    assert serializer.deserialize(*serializer.serialize(refill)) == refill


def test_an_unknown_type_name_is_refused() -> None:
    with pytest.raises(UnknownEventType, match="PizzaBaked"):
        EventSerializer().deserialize("PizzaBaked", 1, "{}")


def test_a_version_newer_than_the_code_is_refused() -> None:
    with pytest.raises(UnknownEventType):
        EventSerializer().deserialize("OrderReady", 2, EventSerializer().serialize(
            EXAMPLES[OrderReady])[2])


def test_an_old_version_is_upcast_before_loading() -> None:
    def add_quantity(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "quantity": 1}

    class UnitsCoveredV2(UnitsCovered):
        VERSION = 2

    serializer = EventSerializer([UnitsCoveredV2], {("UnitsCovered", 1): add_quantity})
    old_text = json.dumps({"restaurant_id": "main", "occurred_at": T0.isoformat(),
                           "event_id": "e-1", "order_id": "o1", "number": 1, "item": "fries"})

    loaded = serializer.deserialize("UnitsCovered", 1, old_text)

    assert loaded == UnitsCoveredV2(restaurant_id="main", occurred_at=T0, event_id="e-1",
                                    order_id="o1", number=1, item="fries", quantity=1)


def test_serializing_a_type_the_serializer_does_not_know_is_refused() -> None:
    with pytest.raises(UnknownEventType):
        EventSerializer([OrderReady]).serialize(EXAMPLES[OrderPlaced])


# --- any values of every field --------------------------------------------------------------

texts = st.text(max_size=20)
finite = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
envelope = {"restaurant_id": texts, "event_id": texts,
            "occurred_at": st.datetimes(timezones=st.just(UTC))}
overrides: dict[type[Event], dict[str, st.SearchStrategy[Any]]] = {
    KitchenConfigured: {"speed": finite},
    PreparationStarted: {"duration_seconds": finite},
    OrderPlaced: {"lines": st.lists(st.builds(OrderLine, texts, st.integers())).map(tuple)},
}
any_event = st.one_of([st.builds(kind, **envelope, **overrides.get(kind, {}))
                       for kind in EVENT_TYPES])


SERIALIZER = EventSerializer()


@settings(max_examples=300, deadline=None)
@given(event=any_event)
def test_any_event_of_any_type_round_trips(event: Event) -> None:
    assert SERIALIZER.deserialize(*SERIALIZER.serialize(event)) == event
