"""How each service reacts to the other's events: pure decisions, shared by the running services
and the simulator so both exercise exactly the same rules."""

from __future__ import annotations

from datetime import datetime

from mcburger.domain.events import (
    Event,
    KitchenUnitsRequested,
    PreparationStarted,
    UnitPrepared,
    UnitsCovered,
)
from mcburger.domain.kitchen import Kitchen
from mcburger.domain.ordering import Ordering


def ordering_reacts(ordering: Ordering, event: Event, now: datetime) -> None:
    """Ordering follows the kitchen: started work moves orders on, prepared units are handed on."""
    match event:
        case PreparationStarted(order_id=str() as order_id):
            ordering.note_work_started(order_id, now)
        case UnitsCovered():
            ordering.note_work_started(event.order_id, now)
        case UnitPrepared():
            ordering.receive_unit(event.item, event.preparation_id, now)


def kitchen_reacts(kitchen: Kitchen, event: Event, now: datetime) -> None:
    """The kitchen follows ordering: requests join the queue; stock and hand-overs are tracked.

    The request is decided before it is observed, so coverage is judged on the units that were
    spare before this request's units became owed.
    """
    if isinstance(event, KitchenUnitsRequested):
        kitchen.accept_request(event, now)
    kitchen.observe(event)
