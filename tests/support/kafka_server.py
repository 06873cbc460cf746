"""A real Apache Kafka broker for tests: a throwaway single-node KRaft broker, or the one named.

``kafka_broker()`` yields a started ``KafkaBroker``: the external broker that
``MCBURGER_TEST_KAFKA_BOOTSTRAP`` names (``host:port``) when set, otherwise a broker of its own,
run from the jars scripts/install-kafka fetches into ``.cache/kafka/libs``, with its data in a
temporary directory and on free ports of 127.0.0.1 (killed and removed afterwards). Without
either, the calling test is skipped.

The broker is ``scripts/kafka run``, which writes the configuration, formats the storage the first
time and then ``exec``s the JVM: the process started here *is* the broker, so ``kill()`` is a real
SIGKILL of Kafka, and ``restart()`` brings it back on the same ports and data, keeping topics,
messages and committed offsets. An external broker can do neither: those tests are skipped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.servers import free_port, tail

BOOTSTRAP_VARIABLE = "MCBURGER_TEST_KAFKA_BOOTSTRAP"
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "kafka"
LIBS = Path(os.environ.get("KAFKA_LIBS") or ROOT / ".cache" / "kafka" / "libs")
HOW_TO_GET_ONE = (
    f"no Kafka broker for these tests: run scripts/install-kafka (fetches Kafka's jars into "
    f".cache/kafka/libs; needs Java 17+ and Maven), or set {BOOTSTRAP_VARIABLE} to the host:port "
    f"of a broker"
)
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

T = TypeVar("T")


class KafkaBroker:
    """One broker: started by ``start()``, or external when ``directory`` is None."""

    def __init__(
        self,
        directory: Path | None,
        port: int,
        controller_port: int | None = None,
        *,
        host: str = "127.0.0.1",
    ) -> None:
        self.directory = directory
        self.host = host
        self.port = port
        self.controller_port = controller_port if controller_port is not None else port + 1
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def external(cls, bootstrap: str) -> KafkaBroker:
        host, _, port = bootstrap.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{BOOTSTRAP_VARIABLE} must be host:port, not {bootstrap!r}")
        return cls(None, int(port), host=host)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_external(self) -> bool:
        return self.directory is None

    @property
    def log(self) -> Path | None:
        return None if self.directory is None else self.directory / "kafka.log"

    @property
    def pid(self) -> int | None:
        """The JVM's process id while this object runs one."""
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the broker (a no-op for an external one) and wait until it serves requests."""
        if self.directory is None:
            _wait_until_ready(self.bootstrap, None, None, timeout)
            return
        if self._process is not None and self._process.poll() is None:
            raise RuntimeError(f"the Kafka broker in {self.directory} is already running")
        assert self.log is not None
        ports = [str(self.port), str(self.controller_port)]
        command = [str(SCRIPT), "run", str(self.directory), *ports]
        with self.log.open("ab") as output:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # scripts/kafka kills the broker when this process dies without cleaning up.
                env={**os.environ, "KAFKA_LIBS": str(LIBS), "KAFKA_WATCH_PID": str(os.getpid())},
            )
        try:
            _wait_until_ready(self.bootstrap, self._process, self.log, timeout)
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Shut down cleanly (SIGTERM), or SIGKILL if it takes longer than ``timeout``."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL the JVM: no controlled shutdown, no flush beyond what the OS already has."""
        self._require_own("kill")
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self._process = None

    def restart(self, *, hard: bool = False, timeout: float = STARTUP_TIMEOUT) -> None:
        """Stop (SIGTERM; with ``hard``, SIGKILL), then start again on the same ports and data."""
        self._require_own("restart")
        if hard:
            self.kill()
        else:
            self.stop()
        self.start(timeout=timeout)

    def _require_own(self, what: str) -> None:
        if self.directory is None:
            pytest.skip(f"cannot {what} the external Kafka broker that {BOOTSTRAP_VARIABLE} names")


@contextlib.contextmanager
def kafka_broker() -> Iterator[KafkaBroker]:
    """Yield a started broker; skip the calling test when none can be had."""
    if bootstrap := os.environ.get(BOOTSTRAP_VARIABLE):
        broker = KafkaBroker.external(bootstrap)
        broker.start()
        yield broker
        return
    if not any(LIBS.glob("kafka_2.13-*.jar")):
        pytest.skip(f"no Kafka jars in {LIBS}; {HOW_TO_GET_ONE}")
    if shutil.which("java") is None:
        pytest.skip(f"no `java` on PATH; {HOW_TO_GET_ONE}")
    root = Path(tempfile.mkdtemp(prefix="mcburger-kafka-"))
    port = free_port()
    controller_port = free_port()
    while controller_port == port:
        controller_port = free_port()
    broker = KafkaBroker(root, port, controller_port)
    try:
        broker.start()
        yield broker
    finally:
        # The data is thrown away: no need for the broker's controlled shutdown.
        broker.kill()
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_ready(
    bootstrap: str, process: subprocess.Popen[bytes] | None, log: Path | None, timeout: float
) -> None:
    """Wait until a metadata request lists a broker (so it is registered and unfenced)."""
    host, _, port = bootstrap.rpartition(":")
    deadline = time.monotonic() + timeout
    last_error = "the port never accepted a connection"
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"the Kafka broker exited with status {process.returncode} during start-up:\n"
                f"{_log_tail(log)}"
            )
        if _accepts(host, int(port)):
            try:
                if _run_async(_brokers_listed(bootstrap)):
                    return
                last_error = "the metadata lists no broker yet"
            except Exception as error:
                last_error = f"{type(error).__name__}: {error}"
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"the Kafka broker at {bootstrap} was not ready after {timeout:.0f} s "
                f"({last_error}):\n{_log_tail(log)}"
            )
        time.sleep(0.1)


async def _brokers_listed(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    finally:
        await admin.close()


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own in another thread: callers may be inside a loop."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-probe") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _accepts(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _log_tail(log: Path | None) -> str:
    return "(an external broker: no log here)" if log is None else tail(log, 30)
