"""The Clock port's contract: every clock adapter subclasses this suite.

A subclass provides ``clock`` and ``let_time_pass(clock, seconds)``: real time for the system
clock, ``advance`` for the virtual one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta

import pytest

from mcburger.application.ports import Clock

Advance = Callable[[Clock, float], Awaitable[None]]


class ClockContract:
    @pytest.fixture
    def clock(self) -> Clock:
        raise NotImplementedError

    @pytest.fixture
    def let_time_pass(self) -> Advance:
        raise NotImplementedError

    def test_now_is_timezone_aware_utc(self, clock: Clock) -> None:
        now = clock.now()
        assert now.tzinfo is not None
        assert now.utcoffset() == timedelta(0)
        assert now.astimezone(UTC) == now

    async def test_now_never_goes_backwards(self, clock: Clock, let_time_pass: Advance) -> None:
        first = clock.now()
        await let_time_pass(clock, 0.02)
        assert clock.now() >= first

    async def test_a_past_deadline_returns_at_once(self, clock: Clock) -> None:
        await asyncio.wait_for(clock.sleep_until(clock.now() - timedelta(seconds=5)), timeout=1)

    async def test_sleep_until_returns_at_the_deadline_not_before(
            self, clock: Clock, let_time_pass: Advance) -> None:
        deadline = clock.now() + timedelta(seconds=0.05)
        sleeper = asyncio.create_task(clock.sleep_until(deadline))
        await asyncio.sleep(0)
        assert not sleeper.done(), "woke before its deadline"
        await let_time_pass(clock, 0.08)
        await asyncio.wait_for(sleeper, timeout=1)
        assert clock.now() >= deadline

    async def test_sleepers_wake_in_deadline_order(
            self, clock: Clock, let_time_pass: Advance) -> None:
        woke: list[int] = []
        start = clock.now()

        async def sleep(index: int, seconds: float) -> None:
            await clock.sleep_until(start + timedelta(seconds=seconds))
            woke.append(index)

        tasks = [asyncio.create_task(sleep(i, s)) for i, s in ((0, 0.06), (1, 0.02), (2, 0.04))]
        await asyncio.sleep(0)
        await let_time_pass(clock, 0.1)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=1)
        assert woke == [1, 2, 0]
