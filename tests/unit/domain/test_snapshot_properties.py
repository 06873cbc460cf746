"""Snapshots: state restored from a snapshot plus the events after it equals state replayed
from the start (and the live state), over random days, with and without FF.1, with the kitchen
and ordering lagging behind each other at the moment the snapshot is taken."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import given, settings

from mcburger.application.simulator.simulation import Simulation
from mcburger.domain.aggregate import Aggregate
from mcburger.domain.events import Event, KitchenEvent, OrderEvent
from mcburger.domain.kitchen import Kitchen
from mcburger.domain.ordering import Ordering
from tests.unit.domain.test_properties import MENU, Day, days, live


class SnapshottingSimulation(Simulation):
    """Takes snapshots at random saves, mid-delivery: the other side may not have seen the
    events just saved, or may have events of its own still on the way (one side lagging)."""

    def __init__(self, day: Day) -> None:
        self.rng = random.Random(day.seed)
        self.ordering_snapshot: tuple[int, str] | None = None
        self.kitchen_snapshot: tuple[int, int, str] | None = None  # + ordering events observed
        interleave = None if day.interleave is None else random.Random(day.interleave)
        super().__init__(MENU, day.setup, day.seed, interleave=interleave)

    def _save_ordering(self) -> None:
        super()._save_ordering()
        if self.rng.random() < 0.2:
            self.ordering_snapshot = (self.ordering.version,
                                      json.dumps(self.ordering.snapshot_state()))

    def _save_kitchen(self) -> None:
        super()._save_kitchen()
        if self.rng.random() < 0.2:
            self.kitchen_snapshot = (self.kitchen.version, self.observed(),
                                     json.dumps(self.kitchen.snapshot_state()))

    def observed(self) -> int:
        """How many of ordering's events the kitchen has taken in (they reach it in log order)."""
        return sum(isinstance(e, OrderEvent) for e in self.log) - len(self._to_kitchen)


def state(aggregate: Aggregate) -> Any:
    # Dict order may differ between a live aggregate and a replayed one; the content may not.
    return json.loads(json.dumps(aggregate.snapshot_state(), sort_keys=True))


def ordering_events(log: list[Event]) -> list[Event]:
    return [e for e in log if isinstance(e, OrderEvent)]


def kitchen_events(log: list[Event]) -> list[Event]:
    return [e for e in log if isinstance(e, KitchenEvent)]


def replayed_ordering(events: list[Event], start: Ordering | None = None) -> Ordering:
    ordering = start or Ordering("main", MENU)
    for event in events:
        ordering.replay(event)
    return ordering


def replayed_kitchen(own: list[Event], observed: list[Event], seed: int,
                     start: Kitchen | None = None) -> Kitchen:
    """As ``KitchenService`` rebuilds: its own events, then ordering's up to its checkpoint."""
    kitchen = start or Kitchen("main", MENU, seed)
    for event in own:
        kitchen.replay(event)
    for event in observed:
        kitchen.observe(event)
    return kitchen


def play(day: Day, settle: bool) -> SnapshottingSimulation:
    sim = SnapshottingSimulation(day)
    live(day, sim)
    if settle:
        sim.run_until_quiet()
    return sim


@settings(max_examples=120, deadline=None)
@given(day=days)
def test_ordering_from_snapshot_plus_tail_equals_replay_from_the_start(day: Day) -> None:
    sim = play(day, settle=day.seed % 2 == 0)
    events = ordering_events(sim.log)
    full = replayed_ordering(events)
    assert state(full) == state(sim.ordering)
    if sim.ordering_snapshot is None:
        return
    version, saved = sim.ordering_snapshot
    restored = Ordering("main", MENU)
    restored.restore(json.loads(saved), version)
    replayed_ordering(events[version:], restored)
    assert state(restored) == state(full)
    assert restored.version == full.version == len(events)
    # Collected orders are not held, live or rebuilt; their numbers stay taken.
    collected = sum(e.TYPE == "OrderCollected" for e in events)
    assert len(restored.orders) == restored.last_number - collected


@settings(max_examples=120, deadline=None)
@given(day=days)
def test_kitchen_from_snapshot_plus_tail_equals_replay_from_the_start(day: Day) -> None:
    sim = play(day, settle=day.seed % 2 == 0)
    own, observed = kitchen_events(sim.log), ordering_events(sim.log)[:sim.observed()]
    full = replayed_kitchen(own, observed, day.seed)
    assert state(full) == state(sim.kitchen)
    if day.seed % 2 == 0:  # settled: every order READY, so nothing of them is held any more
        assert state(sim.kitchen)["requests_seen"] == {}
        assert state(sim.kitchen)["queue"] == []
    if sim.kitchen_snapshot is None:
        return
    version, seen, saved = sim.kitchen_snapshot
    restored = Kitchen("main", MENU, day.seed)
    restored.restore(json.loads(saved), version)
    replayed_kitchen(own[version:], observed[seen:], day.seed, restored)
    assert state(restored) == state(full)
    # And it decides as the live kitchen does from here on.
    now = sim.now
    for kitchen in (restored, sim.kitchen):
        kitchen.finish_due(now)
        kitchen.assign_work(now)
    assert [e.TYPE for e in restored.pending] == [e.TYPE for e in sim.kitchen.pending]
