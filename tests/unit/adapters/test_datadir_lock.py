"""The data directory's lock, held by a real second process: refused while held, free again
after that process releases it or is killed with SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcburger.adapters.datadir import LOCK_FILE_NAME, DataDirectoryInUse, DataDirectoryLock

HOLDER_TIMEOUT = 15.0  # bounds every wait on the holder process

# Locks the directory, says so, releases it when told to, then waits to be killed.
HOLDER = """
import sys
from pathlib import Path
from mcburger.adapters.datadir import DataDirectoryLock
lock = DataDirectoryLock.acquire(Path(sys.argv[1]))
print("locked", flush=True)
if sys.stdin.readline().strip() == "release":
    lock.release()
    print("released", flush=True)
sys.stdin.readline()
"""


class Holder:
    def __init__(self, data_dir: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.expect("locked")

    def expect(self, line: str) -> None:
        assert self.process.stdout is not None
        got = self.process.stdout.readline().strip()  # "" if the holder died
        assert got == line, f"holder said {got!r}, exit code {self.process.poll()}"

    def tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Holder]:
    """Another process holding ``tmp_path / "data"`` (which it creates); killed at teardown."""
    started = Holder(tmp_path / "data")
    yield started
    started.process.kill()
    started.process.wait(HOLDER_TIMEOUT)


def test_a_second_process_is_refused_with_the_directory_and_the_holders_pid(
        tmp_path: Path, holder: Holder) -> None:
    data_dir = tmp_path / "data"
    with pytest.raises(DataDirectoryInUse) as refused:
        DataDirectoryLock.acquire(data_dir)
    assert refused.value.path == data_dir
    assert refused.value.pid == holder.process.pid
    assert str(data_dir) in str(refused.value)
    assert f"process {holder.process.pid}" in str(refused.value)
    assert (data_dir / LOCK_FILE_NAME).read_text().strip() == str(holder.process.pid), (
        "a refused process must not overwrite the holder's pid")


def test_the_lock_dies_with_a_holder_killed_by_sigkill(tmp_path: Path, holder: Holder) -> None:
    holder.process.kill()
    assert holder.process.wait(HOLDER_TIMEOUT) == -9
    with DataDirectoryLock.acquire(tmp_path / "data") as lock:
        assert lock.path == tmp_path / "data"


def test_a_released_lock_can_be_taken_again(tmp_path: Path, holder: Holder) -> None:
    holder.tell("release")
    holder.expect("released")
    assert holder.process.poll() is None, "the holder still runs: only the release freed it"
    with DataDirectoryLock.acquire(tmp_path / "data"):
        with pytest.raises(DataDirectoryInUse) as refused:
            DataDirectoryLock.acquire(tmp_path / "data")
        assert refused.value.pid == os.getpid()
    with DataDirectoryLock.acquire(tmp_path / "data"):
        pass


def test_a_missing_data_directory_is_created(tmp_path: Path) -> None:
    with DataDirectoryLock.acquire(tmp_path / "new" / "data"):
        assert (tmp_path / "new" / "data" / LOCK_FILE_NAME).is_file()
