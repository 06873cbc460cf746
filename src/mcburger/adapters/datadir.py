"""One writer per data directory: an OS lock on ``DATA_DIR/lock``.

What it guards: the SQLite event store and read models assume one writer process per
directory. Two ``mcburger run`` on one directory would both run the consumers and the kitchen
timers and decide the same events twice (one unit handed to two orders).

Why an OS lock (``flock``) and not a pid file: the kernel drops the lock when its process dies,
however it dies, so ``kill -9`` never leaves a stale lock for someone to delete by hand. The
holder writes its pid into the file only so that a refused process can say who holds it. The
file is never deleted: unlinking a lock file lets two processes lock two different files.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_FILE_NAME = "lock"


class DataDirectoryInUse(Exception):
    """Another process holds the data directory's lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"data directory {path} is in use by {holder}")
        self.path = path
        self.pid = pid  # None if the holder had not written its pid yet


class DataDirectoryLock:
    """The held lock of one data directory; ``release()`` (or leaving ``with``) frees it.

    Keep it for the whole life of the process: closing its file releases the lock.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirectoryLock:
        """Create ``data_dir`` if needed and lock it, or raise ``DataDirectoryInUse`` at once."""
        path = data_dir.absolute()
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DataDirectoryInUse(path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # still held here, so no new holder's pid is erased
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None

    def __enter__(self) -> DataDirectoryLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    except ValueError:
        return None
