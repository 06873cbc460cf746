"""Waiting for a read-model checkpoint: woken by this process's commits, re-reading on a timer
for commits made by other processes (no engine here pushes them to us)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class CommitSignal:
    def __init__(self, recheck_seconds: float) -> None:
        self._recheck_seconds = recheck_seconds
        self._condition = asyncio.Condition()
        self._commits = 0  # bumped on every in-process commit, so a waiter never misses one

    async def notify(self) -> None:
        """Call after each commit of this process."""
        async with self._condition:
            self._commits += 1
            self._condition.notify_all()

    async def wait_until(self, reached: Callable[[], Awaitable[bool]], timeout: float) -> bool:
        """Return True once ``reached()`` is true, False after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            seen = self._commits  # read before checking, so a commit in between still wakes us
            if await reached():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await self._next_commit(seen, min(remaining, self._recheck_seconds))

    async def _next_commit(self, seen: int, at_most: float) -> None:
        """Sleep until an in-process commit after ``seen``, or ``at_most`` seconds."""
        async with self._condition:
            try:
                async with asyncio.timeout(at_most):
                    await self._condition.wait_for(lambda: self._commits != seen)
            except TimeoutError:
                pass  # time to re-read: the commit may have come from another process
