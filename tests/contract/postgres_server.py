"""A real PostgreSQL for contract tests: a throwaway cluster, or the one a URL names.

``postgres_server()`` yields an admin URL: ``MCBURGER_TEST_POSTGRES_URL`` when set (its role needs
CREATEDB), otherwise a cluster that it initdb's in a temporary directory from Debian's binaries
and starts on a free port of 127.0.0.1 (stopped and removed afterwards). Without either, the
tests that need it are skipped. ``fresh_database()`` gives each test a database of its own.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.servers import free_port, tail

URL_VARIABLE = "MCBURGER_TEST_POSTGRES_URL"
BINARIES = "/usr/lib/postgresql/*/bin"
HOW_TO_GET_ONE = (
    f"no PostgreSQL for the contract tests: run scripts/install-postgres (Debian's postgresql "
    f"package), or set {URL_VARIABLE} to a server where the role may CREATE DATABASE"
)

# Durability is worth nothing in a throwaway cluster; skipping fsyncs makes CREATE DATABASE fast.
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an admin URL; skip the calling test when no server can be had."""
    if url := os.environ.get(URL_VARIABLE):
        yield url
        return
    bin_dir = _newest_binaries()
    if bin_dir is None:
        pytest.skip(HOW_TO_GET_ONE)
    with _throwaway_cluster(bin_dir) as url:
        yield url


def fresh_database(admin_url: str) -> str:
    """Create an empty database with a unique name; return a conninfo string for it."""
    name = f"mcburger_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(admin_url, dbname=name)


def drop_database(admin_url: str, url: str) -> None:
    """Drop a database from ``fresh_database``, even if a test left connections open."""
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


def _newest_binaries() -> Path | None:
    found = [Path(d) for d in glob.glob(BINARIES) if (Path(d) / "initdb").exists()]
    if not found:
        return None
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)


@contextlib.contextmanager
def throwaway_cluster(durable: bool = False) -> Iterator[str]:
    """A cluster of Debian's binaries in a temporary directory, started on a free port of
    127.0.0.1, stopped and removed afterwards; ``durable`` keeps PostgreSQL's own fsync and
    commit settings (for benchmarks), else they are off (for tests)."""
    bin_dir = _newest_binaries()
    if bin_dir is None:
        raise RuntimeError(HOW_TO_GET_ONE)
    with _throwaway_cluster(bin_dir, {"listen_addresses": "127.0.0.1"} if durable
                            else _SETTINGS) as url:
        yield url


@contextlib.contextmanager
def _throwaway_cluster(bin_dir: Path, settings: dict[str, str] = _SETTINGS) -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="mcburger-pg-"))
    # initdb refuses to run as root: then the cluster belongs to Debian's `postgres` user.
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip(f"running as root without a `postgres` user; {HOW_TO_GET_ONE}")
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        _run([*as_user, *initdb, "--no-sync", "--encoding=UTF8", "--locale=C"])
        port = free_port()
        options = " ".join(
            [f"-p {port}", f"-k {shlex.quote(str(root))}"]
            + [f"-c {name}={value}" for name, value in settings.items()]
        )
        try:
            _run([*pg_ctl, "-l", str(log), "-o", options, "-w", "-t", "30", "start"])
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{tail(log)}") from None
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run([*pg_ctl, "-m", "immediate", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{done.stdout}{done.stderr}")


def url_of(conninfo: str) -> str:
    """A postgresql:// URL (what MCBURGER_EVENTSTORE_URL takes) from a conninfo string."""
    parts = conninfo_to_dict(conninfo)
    user = parts.get("user", "postgres")
    password = f":{parts['password']}" if parts.get("password") else ""
    return (f"postgresql://{user}{password}@{parts.get('host', '127.0.0.1')}:"
            f"{parts.get('port', 5432)}/{parts['dbname']}")
