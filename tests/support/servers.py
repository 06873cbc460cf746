"""Small helpers for tests that start real servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

# Every test server runs with this staff token (MCBURGER_STAFF_TOKEN), and test clients send it:
# a test about customers without a token says so by leaving the header out
STAFF_TOKEN = "test-staff-token-0123456789abcdef"
STAFF = {"Authorization": f"Bearer {STAFF_TOKEN}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tail(log: Path, lines: int = 20) -> str:
    """The last lines of a server's log, for an error message."""
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no server log)"
