"""Kitchen time: wall time multiplied by the speed factor in force, and back.

Analytics measures durations in *kitchen seconds*, so a run at ``--speed 60`` reports the same
preparation times as one in real time.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ClockSetup:
    """One ``KitchenConfigured``: from when, at which kitchen time, how fast, how many workers."""

    wall: datetime  # when this set-up took effect
    kitchen: float  # kitchen seconds since the first set-up, at ``wall``
    speed: float
    workers: int


class KitchenTime:
    """Kitchen seconds since the kitchen was first configured: wall time multiplied by the
    speed factor in force, piece by piece (each ``KitchenConfigured`` starts a piece).

    A preparation that started at ``--speed 60`` and is recorded after a restart at
    ``--speed 120`` is still measured at 60: its wall times fall in the first piece.
    """

    def __init__(self) -> None:
        self.setups: list[ClockSetup] = []

    def configure(self, at: datetime, speed: float, workers: int) -> None:
        """Start a piece at ``at`` (a ``KitchenConfigured``)."""
        if self.setups:
            last = self.setups[-1]
            at = max(at, last.wall)  # another process's clock may lag a little
            self.setups.append(ClockSetup(at, self.at(at), speed, workers))
        else:
            self.setups.append(ClockSetup(at, 0.0, speed, workers))

    @property
    def speed(self) -> float:
        return self.setups[-1].speed if self.setups else 1.0

    @property
    def workers(self) -> int:
        return self.setups[-1].workers if self.setups else 0

    def at(self, wall: datetime) -> float:
        """Kitchen seconds at ``wall`` (negative before the first set-up; 0 without one)."""
        if not self.setups:
            return 0.0
        setup = self.setups[-1]
        if wall < setup.wall:  # rare: a time before the newest set-up (events come in order)
            index = max(0, bisect.bisect_right(self.setups, wall, key=lambda s: s.wall) - 1)
            setup = self.setups[index]
        return setup.kitchen + (wall - setup.wall).total_seconds() * setup.speed

    def between(self, start: datetime, end: datetime) -> float:
        """Kitchen seconds from ``start`` to ``end`` (wall times)."""
        return self.at(end) - self.at(start)

    def setup_at(self, kitchen: float) -> ClockSetup | None:
        """The set-up in force at a kitchen time (the first one before it)."""
        if not self.setups:
            return None
        return self.setups[max(0, bisect.bisect_right(
            self.setups, kitchen, key=lambda s: s.kitchen) - 1)]

    def wall_at(self, kitchen: float) -> datetime | None:
        """The wall time of a kitchen time (None before the kitchen was configured)."""
        setup = self.setup_at(kitchen)
        if setup is None:
            return None
        return setup.wall + timedelta(seconds=(kitchen - setup.kitchen) / setup.speed)

    def worker_seconds(self, start: float, end: float, worker: int | None = None) -> float:
        """Worker time available between two kitchen times (one worker's, or everyone's)."""
        total = 0.0
        for index, setup in enumerate(self.setups):
            until = self.setups[index + 1].kitchen if index + 1 < len(self.setups) else end
            overlap = min(end, until) - max(start, setup.kitchen)
            if overlap > 0:
                workers = setup.workers if worker is None else int(setup.workers >= worker)
                total += overlap * workers
        return total
