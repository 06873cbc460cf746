"""A MongoDB-compatible server for contract tests: a throwaway FerretDB, or the one a URL names.

``mongo_server()`` yields a MongoDB URL: ``MCBURGER_TEST_MONGO_URL`` when set (a real MongoDB
>= 4.4, say), otherwise a FerretDB (built by scripts/install-ferretdb) that it starts over SQLite
in a temporary directory on a free port of 127.0.0.1, stopped and removed afterwards. Without
either, the tests that need it are skipped. ``fresh_database()`` names a database of its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.contract.postgres_server import fresh_database as fresh_postgres_database
from tests.support.servers import free_port, tail

URL_VARIABLE = "MCBURGER_TEST_MONGO_URL"
BINARY_VARIABLE = "FERRETDB_BIN"
DEFAULT_BINARY = Path(__file__).resolve().parents[2] / ".cache" / "ferretdb" / "ferretdb"
HOW_TO_GET_ONE = (
    f"no MongoDB-compatible server for the contract tests: run scripts/install-ferretdb (builds "
    f"FerretDB into {BINARY_VARIABLE} or .cache/ferretdb/), or set {URL_VARIABLE} to a MongoDB"
)
STARTUP_TIMEOUT = 15.0


@contextlib.contextmanager
def mongo_server(postgres_admin_url: str | None = None) -> Iterator[str]:
    """Yield a MongoDB URL; skip the calling test when no server can be had. With
    ``postgres_admin_url``, a FerretDB storing in a new database of that PostgreSQL, as
    scripts/dev-up runs it, even when ``MCBURGER_TEST_MONGO_URL`` names a server."""
    if postgres_admin_url is None and (url := os.environ.get(URL_VARIABLE)):
        yield url
        return
    binary = Path(os.environ.get(BINARY_VARIABLE) or DEFAULT_BINARY)
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} not found; {HOW_TO_GET_ONE}")
    with throwaway_ferretdb(binary, postgres_admin_url) as url:
        yield url


def fresh_database() -> str:
    """A database name no other test uses (MongoDB creates databases on first write)."""
    return f"mcburger_test_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def throwaway_ferretdb(binary: Path, postgres_admin_url: str | None = None) -> Iterator[str]:
    """A FerretDB of ``binary`` on a free port of 127.0.0.1, yielding its MongoDB URL: over
    SQLite in a temporary directory, or, with ``postgres_admin_url``, over PostgreSQL in a new
    database of that server. Stopped and its directory removed afterwards."""
    postgresql_url = None if postgres_admin_url is None else _ferretdb_url(
        fresh_postgres_database(postgres_admin_url))
    root = Path(tempfile.mkdtemp(prefix="mcburger-ferretdb-"))
    port = free_port()
    log = root / "server.log"
    command = [
        str(binary),
        *(["--handler=sqlite", f"--sqlite-url=file:{root}/"] if postgresql_url is None
          else ["--handler=postgresql", f"--postgresql-url={postgresql_url}"]),
        f"--listen-addr=127.0.0.1:{port}",
        "--telemetry=disable",
        "--log-level=error",
    ]
    try:
        with log.open("wb") as output:
            server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_until_listening(server, port, log)
            yield f"mongodb://127.0.0.1:{port}/"
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_listening(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"FerretDB exited with {server.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"FerretDB did not listen within {STARTUP_TIMEOUT}s:\n{tail(log)}")


def _ferretdb_url(conninfo: str) -> str:
    """A psycopg conninfo as the URL FerretDB takes (it reads no key=value strings)."""
    found = conninfo_to_dict(conninfo)
    user = found.get("user") or ""
    if found.get("password"):
        user = f"{user}:{found['password']}"
    at = f"{user}@" if user else ""
    return f"postgres://{at}{found['host']}:{found.get('port', 5432)}/{found['dbname']}"
