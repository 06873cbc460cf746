from __future__ import annotations

import asyncio

import pytest

from mcburger.adapters.clock import SystemClock, VirtualClock
from mcburger.application.ports import Clock
from tests.contract.clock_contract import Advance, ClockContract


class TestSystemClock(ClockContract):
    @pytest.fixture
    def clock(self) -> Clock:
        return SystemClock()

    @pytest.fixture
    def let_time_pass(self) -> Advance:
        async def wait(clock: Clock, seconds: float) -> None:
            await asyncio.sleep(seconds)
        return wait


class TestVirtualClock(ClockContract):
    @pytest.fixture
    def clock(self) -> Clock:
        return VirtualClock()

    @pytest.fixture
    def let_time_pass(self) -> Advance:
        async def advance(clock: Clock, seconds: float) -> None:
            assert isinstance(clock, VirtualClock)
            # step through, letting woken sleepers run between steps as real time would
            for _ in range(10):
                clock.advance(seconds / 10)
                for _ in range(3):
                    await asyncio.sleep(0)
        return advance
