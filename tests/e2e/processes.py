"""Real ``python -m mcburger run`` processes on 127.0.0.1, for the end-to-end tests.

A ``Launcher`` starts each process on a free port with its own data directory, waits (bounded)
for ``/healthz``, and stops every process it started: SIGTERM, then SIGKILL after a bound. Each
process writes stdout and stderr to a log file, which conftest attaches to a failing test's report.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tests.support.servers import STAFF, STAFF_TOKEN, free_port

# Generous for a loaded 2-core CI machine; every wait below is a multiple of these.
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 25.0  # above the board feeds' 15 s wait, which can delay a stop (see test_shutdown)
POLL_INTERVAL = 0.05
LOG_TAIL_CHARS = 6000


@dataclass
class Server:
    """One running ``mcburger run`` process and where it keeps its things."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    _log_file: IO[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def events_db(self) -> Path:
        return self.data_dir / "events.db"

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM; SIGKILL if it has not exited after ``timeout``. Returns the exit code."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self._log_file.close()
        return self.process.returncode

    def kill_hard(self) -> None:
        """``kill -9``: no shutdown code of the product runs."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)

    def log_tail(self) -> str:
        """The end of the log, without the successful GETs that tests poll with."""
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        lines = [line for line in text.splitlines() if not _POLLED_OK.search(line)]
        return "\n".join(lines)[-LOG_TAIL_CHARS:]


_POLLED_OK = re.compile(r'"GET [^"]*" 200 OK$')
# uvicorn re-raises SIGTERM after a graceful shutdown, so that is a clean exit too.
CLEAN_EXIT = {0, -signal.SIGTERM}

class Launcher:
    """Starts servers under ``root`` and stops every one it started."""

    def __init__(self, root: Path, on_start: Callable[[Server], None] | None = None) -> None:
        self._root = root
        self._on_start = on_start
        self._servers: list[Server] = []

    def __call__(self, *flags: str, data_dir: Path | None = None,
                 env: dict[str, str] | None = None, name: str = "server") -> Server:
        """Start ``mcburger run <flags>``; ``data_dir`` defaults to a fresh directory.

        Only host, port and data dir are given here: everything else comes from ``flags`` or
        ``env`` (merged over this process's environment minus any ``MCBURGER_*``).
        """
        return self.start(["run", *flags], data_dir=data_dir, env=env, name=name)

    def serve(self, role: str, *flags: str, env: dict[str, str] | None = None,
              port: int | None = None) -> Server:
        """Start ``mcburger serve <role> <flags>`` (a distributed service)."""
        return self.start(["serve", role, *flags], env=env, name=role, port=port)

    def start(self, arguments: list[str], data_dir: Path | None = None,
              env: dict[str, str] | None = None, name: str = "server",
              port: int | None = None) -> Server:
        """Start ``mcburger <arguments>`` with host, port and data dir, and wait until healthy."""
        index = len(self._servers)
        data_dir = data_dir or self._root / f"{name}-{index}-data"
        log_path = self._root / f"{name}-{index}.log"
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("MCBURGER_")}
        base_env["MCBURGER_STAFF_TOKEN"] = STAFF_TOKEN
        base_env.update(env or {})
        # a test of the token file leaves the variable out: env={"MCBURGER_STAFF_TOKEN": ""}
        if not base_env["MCBURGER_STAFF_TOKEN"]:
            del base_env["MCBURGER_STAFF_TOKEN"]
        port = port or free_port()
        command = [sys.executable, "-m", "mcburger", *arguments, "--host", "127.0.0.1",
                   "--port", str(port), "--data-dir", str(data_dir)]
        log_file = log_path.open("ab")
        log_file.write(f"$ {' '.join(command)}\n".encode())
        log_file.flush()
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=base_env)
        server = Server(process, port, data_dir, log_path, log_file)
        self._servers.append(server)
        if self._on_start is not None:
            self._on_start(server)
        _wait_healthy(server)
        return server

    def stop_all(self) -> None:
        for server in self._servers:
            server.stop()


def _wait_healthy(server: Server) -> None:
    # Synchronous on purpose: nothing else runs while a server starts, and it lets
    # module-scoped (event-loop-free) fixtures share a server.
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last: object = None
    with httpx.Client(headers=STAFF, base_url=server.url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not server.running():
                raise AssertionError(f"mcburger exited with {server.process.returncode} "
                                     f"before it was healthy:\n{server.log_tail()}")
            try:
                response = client.get("/healthz")
                if response.status_code == 200:
                    return
                last = response.status_code
            except httpx.TransportError as error:
                last = error
            time.sleep(POLL_INTERVAL)
    raise AssertionError(f"mcburger not healthy after {STARTUP_TIMEOUT}s (last: {last!r}):\n"
                         f"{server.log_tail()}")
