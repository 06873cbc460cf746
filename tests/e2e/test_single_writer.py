"""One writer per data directory: a second ``mcburger run`` on a directory in use is refused at
once, naming the directory and the holder's pid; after ``kill -9`` of the holder, no stale lock
keeps a new run out."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.e2e.processes import Launcher, Server
from tests.support.servers import free_port

pytestmark = pytest.mark.e2e

# Bounds Python start-up on a loaded machine; once started, the refusal is at once.
REFUSAL_TIMEOUT = 15.0


def _second_run(server: Server) -> subprocess.CompletedProcess[str]:
    """``mcburger run`` on ``server``'s data directory and another free port, to its exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCBURGER_")}
    command = [sys.executable, "-m", "mcburger", "run", "--host", "127.0.0.1",
               "--port", str(free_port()), "--data-dir", str(server.data_dir)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, env=env, text=True) as process:
        try:
            out, err = process.communicate(timeout=REFUSAL_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            raise AssertionError(f"a second mcburger run on {server.data_dir} still ran after "
                                 f"{REFUSAL_TIMEOUT}s:\n{err[-3000:]}") from None
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def test_a_second_run_is_refused_until_the_first_is_killed(launch: Launcher) -> None:
    first = launch("--speed", "100", name="holder")

    refused = _second_run(first)
    assert refused.returncode == 1, refused.stderr
    message = refused.stderr.strip()
    assert str(first.data_dir) in message
    assert f"process {first.pid}" in message
    assert "Traceback" not in message
    assert first.running(), "the refused run must leave the first one alone"

    first.kill_hard()
    third = launch("--speed", "100", data_dir=first.data_dir, name="after-kill")
    response = httpx.get(f"{third.url}/menu", timeout=15.0)
    assert response.status_code == 200
    assert response.json()["items"]
