"""End-to-end fixtures: real ``python -m mcburger run`` processes on 127.0.0.1.

``launch(...)`` (see ``processes.Launcher``) starts a process on a free port with its own data
directory and waits, bounded, until it is healthy; every process is stopped at teardown. When a
test fails, the tail of the log of every process it used is attached to its report.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import Launcher, Server

SERVERS = pytest.StashKey[list[Server]]()


@pytest.fixture
def show_log_on_failure(request: pytest.FixtureRequest) -> Callable[[Server], None]:
    """``show_log_on_failure(server)``: attach ``server``'s log if this test fails (for servers
    shared by several tests, which ``launch`` did not start for this one)."""
    def attach(server: Server) -> None:
        request.node.stash.setdefault(SERVERS, []).append(server)
    return attach


@pytest.fixture
def launch(tmp_path: Path, show_log_on_failure: Callable[[Server], None]) -> Iterator[Launcher]:
    """Factory: ``launch("--speed", "200", ...)`` -> a healthy ``Server``; stopped at teardown."""
    launcher = Launcher(tmp_path, on_start=show_log_on_failure)
    yield launcher
    launcher.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed:
        for server in item.stash.get(SERVERS, []):
            report.sections.append(
                (f"mcburger log {server.log_path.name} (pid {server.pid})", server.log_tail()))
    return report
