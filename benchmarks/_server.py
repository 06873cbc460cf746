"""Shared by the benchmark scripts: one `mcburger run` of our own on 127.0.0.1, the machine it
runs on, and the median/min/max of repeated runs.

Every server is started on a free port of 127.0.0.1 with its own log file, and stopped (SIGTERM,
then SIGKILL after a bound) by the process id we started, never by name.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STOP_SECONDS = 30.0
COMMIT_ENV = "MCBURGER_BENCHMARK_COMMIT"  # set by use_commit: the code measured is that commit
NUMBER_LIST = re.compile(r"\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]")
POLL_SECONDS = 0.02  # between /healthz polls while waiting: fine enough for second-scale waits

Health = dict[str, Any]


def use_commit(revision: str, cache: Path) -> str:
    """Run every `mcburger` of this process from a clean export of `revision`'s src/, not from
    the working tree the editable install points at (someone may be editing it meanwhile).

    The export is kept in `cache`/src-SHA and put first on PYTHONPATH, which the children
    inherit; returns the full commit id.
    """
    sha = _git("rev-parse", "--verify", f"{revision}^{{commit}}")
    if not sha:
        raise SystemExit(f"unknown revision {revision!r}")
    export = cache / f"src-{sha}"
    if not (export / "src" / "mcburger").exists():
        partial = cache / f"src-{sha}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", sha, "src"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        partial.rename(export)
    os.environ["PYTHONPATH"] = str(export / "src")
    os.environ[COMMIT_ENV] = sha
    return sha


def mcburger_command() -> list[str]:
    """The `mcburger` of this interpreter's environment (the project's .venv)."""
    script = Path(sys.executable).with_name("mcburger")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mcburger"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running `mcburger run`; `launched` is the monotonic time just before it was spawned."""

    process: subprocess.Popen[bytes]
    url: str
    launched: float
    log_path: Path
    data_dir: Path

    @classmethod
    def start(cls, data_dir: Path, log_path: Path, *options: str) -> Server:
        port = free_port()
        command = [*mcburger_command(), "run", "--host", HOST, "--port", str(port),
                   "--data-dir", str(data_dir), *options]
        log = log_path.open("wb")
        launched = time.monotonic()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        log.close()  # the child keeps its own descriptor
        return cls(process, f"http://{HOST}:{port}", launched, log_path, data_dir)

    @classmethod
    def start_caught_up(cls, work: Path, timeout: float, *options: str) -> Server:
        """``start`` in ``work`` (data/ and server.log), then wait until every consumer's lag
        is 0; stopped again if that does not come within ``timeout`` seconds."""
        server = cls.start(work / "data", work / "server.log", *options)
        try:
            with server.client() as client:
                server.wait_for(client, lag_is_zero(), timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def client(self, timeout: float = 60.0) -> httpx.Client:
        """A client of this server, as staff: with the token the server made in its data
        directory at first start (none before staff access existed, or before it has started)."""
        token_file = self.data_dir / "staff-token"

        def as_staff(request: httpx.Request) -> httpx.Request:
            if token_file.exists():
                request.headers["Authorization"] = f"Bearer {token_file.read_text().strip()}"
            return request

        return httpx.Client(base_url=self.url, timeout=timeout, auth=as_staff)

    def wait_for(self, client: httpx.Client, done: Callable[[Health], bool],
                 timeout: float, poll: float = POLL_SECONDS) -> tuple[float, Health]:
        """Poll /healthz every `poll` seconds until `done(health)`; seconds since launch and
        the health seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mcburger exited with {self.process.returncode}; "
                                   f"see {self.log_path}")
            health = self._health(client)
            if health is not None and done(health):
                return time.monotonic() - self.launched, health
            time.sleep(poll)
        raise TimeoutError(f"not done after {timeout:.0f} s; see {self.log_path}")

    @staticmethod
    def _health(client: httpx.Client) -> Health | None:
        try:
            response = client.get("/healthz")
        except httpx.TransportError:
            return None
        return response.json() if response.status_code == 200 else None

    def rss_mib(self) -> float:
        """Resident memory of the server process (VmRSS), in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc status")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def lag_is_zero(consumers: Sequence[str] | None = None) -> Callable[[Health], bool]:
    """A /healthz predicate: the named consumers (all if None) report lag 0."""
    def done(health: Health) -> bool:
        lag: dict[str, int] = health.get("consumer_lag") or {}
        names = lag.keys() if consumers is None else consumers
        return bool(lag) and all(lag.get(name) == 0 for name in names)
    return done


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of repeated runs."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def machine() -> dict[str, Any]:
    """What the figures were measured on, and with which code."""
    exported = os.environ.get(COMMIT_ENV)
    return {"nproc": os.cpu_count(), "cpu": _cpu_model(), "ram_gib": round(_ram_gib(), 1),
            "os": platform.platform(), "python": platform.python_version(),
            "commit": exported or _git("rev-parse", "HEAD"),
            "code": "clean export of the commit" if exported else "working tree",
            "src_changed_since_commit": not exported and bool(
                _git("status", "--porcelain", "--", "src")),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def command_line() -> str:
    """How this benchmark was started, relative to the repository."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join([".venv/bin/python", str(shown), *sys.argv[1:]])


def print_machine(info: dict[str, Any]) -> None:
    changed = " + uncommitted changes in src/" if info["src_changed_since_commit"] else ""
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, {info['ram_gib']} GiB RAM, "
          f"{info['os']}, Python {info['python']}")
    print(f"code: {info['code']}, commit {info['commit']}{changed}; load average at start: "
          f"{info['load_average_at_start']}")
    print(f"command: {command_line()}")


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Indented JSON, with each list of plain numbers on one line (per-request latencies)."""
    text = json.dumps(report, indent=1, ensure_ascii=False)
    text = NUMBER_LIST.sub(lambda found: "[" + " ".join(found[1].split()) + "]", text)
    path.write_text(text + "\n")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def errorbar(ax: Any, xs: list[int], figures: list[dict[str, float]], label: str,
             **style: Any) -> None:
    """A line of medians with min-max bars (figures from `spread`) on a matplotlib axis."""
    medians = [f["median"] for f in figures]
    below = [f["median"] - f["min"] for f in figures]
    above = [f["max"] - f["median"] for f in figures]
    ax.errorbar(xs, medians, yerr=[below, above], capsize=4, label=label,
                **{"marker": "o", **style})


def free_port_block(size: int) -> int:
    """The first of `size` consecutive free ports of 127.0.0.1 below the kernel's ephemeral
    range (for a program that takes a base port and counts up from it, such as scripts/dev-up):
    a port from bind(0) lies inside that range, where any outgoing connection may take it (or the
    port after it) before the program binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    upper = low - size if low - size > 20_000 else 30_000  # (a range starting low: any will do)
    for _ in range(100):
        first = random.randrange(20_000, upper)
        try:
            with contextlib.ExitStack() as held:
                for port in range(first, first + size):
                    probe = held.enter_context(socket.socket())
                    probe.bind((HOST, port))
            return first
        except OSError:
            continue
    raise RuntimeError(f"no {size} consecutive free ports between 20000 and {upper}")


def bars(ax: Any, xs: Sequence[float], figures: Sequence[dict[str, float]], label: str,
         width: float = 0.35, **style: Any) -> None:
    """Bars of medians with min-max error bars (figures from `spread`) on a matplotlib axis."""
    medians = [f["median"] for f in figures]
    below = [f["median"] - f["min"] for f in figures]
    above = [f["max"] - f["median"] for f in figures]
    ax.bar(xs, medians, width, yerr=[below, above], capsize=4, label=label, **style)


# --- load processes and CPU time from /proc ---------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


class LoadProcess:
    """A load-generator process of a benchmark: started with ``command``, its stderr to
    ``log_path``, driven over its stdin ("go") and read as one JSON message a line."""

    def __init__(self, command: list[str], log_path: Path) -> None:
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=log, text=True)
        self.log_path = log_path
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.messages.put(json.loads(line))
            except ValueError:
                continue
        self.messages.put(None)  # end of output: the process is gone

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()


def read_stat(pid: int) -> tuple[str, int, int, int] | None:
    """State, parent, CPU ticks (utime + stime + cutime + cstime) and start time of a process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
    return fields[0], int(fields[1]), sum(int(x) for x in fields[11:15]), int(fields[19])


def alive(pid: int, started: int | None = None) -> bool:
    """Running (not a zombie), and the same process if its start time is given."""
    stat = read_stat(pid)
    return stat is not None and stat[0] != "Z" and (started is None or stat[3] == started)


def tree_cpu(roots: dict[str, int]) -> dict[str, dict[str, float]]:
    """CPU seconds of each named process with its live descendants (a process's reaped children
    are in its cutime/cstime), and how many processes that is."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (_, parent, _, _) in table.items():
        children[parent].append(pid)
    found = {}
    for name, root in roots.items():
        if root not in table:
            raise RuntimeError(f"{name} (pid {root}) is gone")
        ticks, count, stack = 0, 0, [root]
        while stack:
            pid = stack.pop()
            ticks += table[pid][2]
            count += 1
            stack.extend(children[pid])
        found[name] = {"cpu_s": ticks / CLK_TCK, "processes": count}
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (every core, /proc/stat), since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def add_run_options(parser: argparse.ArgumentParser, name: str, out: Path) -> None:
    """--out, --keep, --commit and --replot, as every benchmark that keeps runs takes them."""
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--keep", action="store_true",
                        help="keep the runs' directories (data and logs) and say where")
    parser.add_argument("--commit", help="measure this commit's src/ (a clean export) instead "
                        "of the working tree")
    parser.add_argument("--replot", action="store_true",
                        help=f"only redraw {name}.png from the {name}.json in --out")


def replotted(args: argparse.Namespace, name: str,
              plot: Callable[[dict[str, Any], Path], None], cache: Path) -> bool:
    """Act on --replot (True: done, nothing else to do) and --commit (see ``use_commit``)."""
    if args.replot:
        plot(json.loads((args.out / f"{name}.json").read_text()), args.out / f"{name}.png")
        return True
    if args.commit:
        use_commit(args.commit, cache)
    return False
