"""Keeps a process's long-running components (feeds, timers, the board hub) running.

A component that crashes is logged, remembered for ``/healthz`` (``recent_failures``) and
started again after ``RESTART_DELAY_SECONDS``; ``stop`` cancels them all within a bound, so a
stop always reaches closing the stores.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("mcburger")

RESTART_DELAY_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 5.0
FAILURES_SHOWN_SECONDS = 300.0  # how long /healthz reports a crash (and says "degraded")


class Supervisor:
    """The tasks of one process, each restarted when it fails."""

    def __init__(self) -> None:
        self.failures: dict[str, str] = {}  # component -> its last error
        self.failed_at: dict[str, float] = {}  # component -> loop time of that error
        self._tasks: list[asyncio.Task[None]] = []

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` as task ``name``, again after each failure, until ``stop``."""
        self._tasks.append(asyncio.create_task(self._supervise(name, run), name=name))

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # stopping: an error raised while unwinding is no reason to restart
                log.exception("%s failed; restarting", name)
                self.failures[name] = f"{type(error).__name__}: {error}"
                self.failed_at[name] = asyncio.get_running_loop().time()
                await asyncio.sleep(RESTART_DELAY_SECONDS)

    def recent_failures(self, within_seconds: float = FAILURES_SHOWN_SECONDS) -> dict[str, str]:
        """Components that crashed (and were restarted) in the last ``within_seconds``."""
        now = asyncio.get_running_loop().time()
        return {name: self.failures[name] for name, at in self.failed_at.items()
                if now - at <= within_seconds}

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Cancel every task, waiting at most ``timeout`` seconds; log the stack of any task
        that did not stop, and the error of any that had ended with one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        running = set(self._tasks)
        while running and loop.time() < deadline:
            # Cancel again each round: a cancellation that races an expiring timeout can be
            # absorbed by the task, which must not keep the process from stopping.
            for task in running:
                task.cancel()
            _, running = await asyncio.wait(running, timeout=0.2)
        for task in running:
            stack = io.StringIO()
            task.print_stack(file=stack)
            log.error("%s did not stop within %s s:\n%s", task.get_name(), timeout,
                      stack.getvalue())
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("%s ended with %r", task.get_name(), task.exception())
        self._tasks.clear()
