"""One instance per single-owner role of a restaurant, held in the event store's engine.

What it guards: ``ordering``, ``kitchen``, ``analytics`` and the ``relay`` keep state in memory
(an aggregate, the kitchen's timers and queue, the analytics mirror, the relay's checkpoint) that
a second instance would not share. Kafka gives a restaurant's partition to one member of a
consumer group at a time, but a hand-over between two members is not safe yet (see
docs/architecture.md, "One instance per single-owner role"). So ``mcburger serve ROLE`` takes
this lock before it starts and a second instance is refused at once, naming the holder.

Why a lock in the event store's engine: every instance of a restaurant shares that store, and
the lock dies with its holder however it dies, as the data directory's ``flock`` does embedded.

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection of its own,
  held for the life of the process; the server drops it when the connection closes, also after
  ``kill -9`` (the kernel closes the socket). The holder names itself in ``application_name``.
- SQLite: ``flock`` on ``<events.db>.<restaurant>.<role>.lock`` beside the database (all
  instances share the file, so they share the machine).
- KurrentDB has no such lock: nothing is held, and the caller warns that a second instance
  would not be noticed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import TracebackType

SINGLE_OWNER_ROLES = frozenset({"ordering", "kitchen", "analytics", "relay"})


class RoleInUse(Exception):
    """Another process holds this restaurant's role."""


class RoleLock:
    """A held role lock; ``release()`` (or leaving ``with``) frees it. Keep it for the whole life
    of the process."""

    def __init__(self, what: str, release: Callable[[], None]) -> None:
        self.what = what  # how it is held
        self._release: Callable[[], None] | None = release

    @classmethod
    def acquire(cls, eventstore_url: str | None, data_dir: Path, restaurant_id: str,
                role: str) -> RoleLock | None:
        """Hold ``role`` of ``restaurant_id`` where the event store of ``eventstore_url`` lives
        (None: SQLite in ``data_dir``). Raises ``RoleInUse`` at once if another process holds
        it; returns None where the engine has no lock (KurrentDB)."""
        scheme = (eventstore_url or "sqlite").split(":", 1)[0].lower()
        what = f"{role} of restaurant {restaurant_id}"
        if eventstore_url and scheme in ("postgresql", "postgres"):
            return _postgres(eventstore_url, f"mcburger:{restaurant_id}:{role}", what)
        if scheme == "sqlite":
            database = (Path(eventstore_url.removeprefix("sqlite:///")) if eventstore_url
                        else data_dir / "events.db")
            return _flock(database.parent / f"{database.name}.{restaurant_id}.{role}.lock",
                          what)
        return None

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None

    def __enter__(self) -> RoleLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def _postgres(url: str, name: str, what: str) -> RoleLock:
    # A signed 64-bit key from the name: stable across processes and releases (not hash()).
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    import psycopg  # the server driver only where it is asked for

    me = f"mcburger pid {os.getpid()} {what}"
    connection = psycopg.connect(url, autocommit=True, application_name=me[:63])
    try:
        got = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not (got and got[0]):
            holder = connection.execute(
                "SELECT a.application_name, a.client_addr FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
                (key,)).fetchone()
            who = f"{holder[0] or 'a session'} from {holder[1] or 'this host'}" if holder else (
                "another session")
            raise RoleInUse(f"{what} is already running ({who}; PostgreSQL advisory lock "
                            f"{key})")
    except BaseException:
        connection.close()
        raise

    def release() -> None:
        # Unlock before closing: the server drops a closed session's locks only once its
        # backend has noticed the close, so a new holder trying at once could still find it
        # held (seen under load in the contract test).
        try:
            connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except psycopg.Error:
            pass  # the connection is gone: the server dropped the lock with it
        finally:
            connection.close()

    return RoleLock(f"PostgreSQL advisory lock {key}", release)


def _flock(path: Path, what: str) -> RoleLock:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise RoleInUse(f"{what} is already running (process {holder}; lock {path})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return RoleLock(f"lock {path}", partial(os.close, fd))
