"""Benchmark: the distributed restaurant end to end against the embedded one (issue 11, item 2).

    .venv/bin/python benchmarks/distributed.py [--orders 300] [--clients 8] [--runs 5]
        [--speed 10000] [--workers 3] [--timeout 300] [--out DIR] [--keep] [--commit REV]

Each run measures both modes with the same options (`--speed S --workers W --seed 1`), the
embedded one first in odd runs and second in even ones:

- embedded: a fresh `mcburger run` on 127.0.0.1 (a new data directory: SQLite event store and
  read models, every role in one process);
- distributed: `scripts/dev-up DIR --speed S --workers W --seed 1` on a fresh DIR and ten free
  consecutive ports (MCBURGER_BASE_PORT, PG_PORT, MONGO_PORT, KAFKA_PORT): PostgreSQL (the event
  store), FerretDB over SQLite (standing in for MongoDB: the read models), a one-node Kafka broker
  and the six `mcburger serve` services, each its own process; an order travels API ->
  PostgreSQL -> relay -> Kafka -> ordering, kitchen, analytics and board services -> FerretDB ->
  the board service's GET /board. Torn down by `scripts/dev-down DIR`. The api's and board's
  ports are read from dev-up's output.

Once a mode is up (every /healthz 200 with every consumer's lag 0), one warm-up order is placed
and waited for until READY on the board (not counted). Then a load process of its own (this
script's `clients` subcommand: asyncio + httpx, one connection per client, started and connected
before the clock starts) places --orders orders, one hamburger and one cola each, from --clients
concurrent clients, each sending its next POST /orders as soon as its previous one answered; it
notes each POST's latency and status (anything but 201, or no answer within 30 s, is an error).
Meanwhile this script polls GET /board (the board service in distributed mode, the server in
embedded mode) every 0.1 s and notes when each order number is first shown in any of its lists
(REQUESTED or later) and in `ready`.

Reported per mode, median (min-max) over --runs runs:
- orders/s end to end: the orders placed (201) divided by the seconds from the first POST sent
  until the board shows every one of them READY (to within the 0.1 s poll); the seconds until
  all are shown (REQUESTED or later) and until all are READY;
- POST /orders: orders/s (placed / first POST sent to last answer), p50 and p99 of every POST's
  latency, errors;
- CPU seconds (utime + stime in /proc/PID/stat of the process and its descendants, reaped
  children included) from just before the first POST to the end, of each process: the server in
  embedded mode; each service, Kafka's JVM, PostgreSQL (the postmaster and all its backends,
  summed) and FerretDB in distributed mode; each one's share of their total (FerretDB's share is
  printed beside every distributed figure), and CPU ms an order. Beside them, outside the total:
  the load process, this script (the board poll) and the rest of the machine (its busy time in
  /proc/stat minus all of ours: other work sharing the cores);
- distributed / embedded: each figure's ratio within a run, median (min-max) over the runs where
  both modes finished.

Embedded, a POST answers once the views and the estimate include the new order (read-your-writes,
in the same process); distributed, the api answers from the decision at once (it never waits on
another process) and the board service shows the order when the relay, Kafka and its projection
have carried it there.
An order's 210 s of kitchen work take 210/S s, so W workers make at most W*S/210 orders/s
(printed as the kitchen's bound): near it, the kitchen and not the plumbing is the limit.

A run of a mode that fails (does not start, a process exits, not every order READY within
--timeout s of the first POST) is reported with its reason and left out of the figures. Prints
markdown tables, writes docs/benchmarks/distributed.json and distributed.png (`--out DIR` to write
elsewhere; `--replot` only redraws the PNG from the JSON there). Everything goes to 127.0.0.1
only; every process started is stopped by its id (the distributed ones by scripts/dev-down on their
own DIR), and every wait is bounded. `--commit REV` measures a clean export of that commit's src/
instead of the working tree.

`--mongo-commands` also counts, in every service, the MongoDB commands it sends and the documents
they carry, by command and collection (a pymongo command listener, loaded into each process by a
`sitecustomize` module put first on PYTHONPATH), and prints them per order: where FerretDB's
time comes from. It costs the services a little CPU: measure the figures without it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx
from _server import (
    HOST,
    ROOT,
    LoadProcess,
    Server,
    add_run_options,
    alive,
    bars,
    command_line,
    free_port_block,
    machine,
    machine_busy_seconds,
    print_machine,
    read_stat,
    replotted,
    spread,
    tree_cpu,
    write_json,
)

OUT = ROOT / "docs" / "benchmarks"
CACHE = ROOT / ".cache" / "benchmarks"
DEV_UP = ROOT / "scripts" / "dev-up"
DEV_DOWN = ROOT / "scripts" / "dev-down"
ORDER = {"items": [{"item": "hamburger", "quantity": 1}, {"item": "cola", "quantity": 1}]}
ROLES = ("api", "board", "ordering", "kitchen", "analytics", "relay")
DISTRIBUTED_PROCESSES = (*ROLES, "kafka", "postgres", "ferretdb")
EMBEDDED_PROCESSES = ("mcburger run",)
MODES = ("embedded", "distributed")
BOARD_POLL_SECONDS = 0.1
POST_TIMEOUT = 30.0
START_TIMEOUT = 300.0  # dev-up (its installs are done once) or a server, until healthy
STOP_TIMEOUT = 180.0
WARMUP_TIMEOUT = 120.0
CLIENTS_READY_TIMEOUT = 60.0
HEALTH_POLL_SECONDS = 0.2
SERVICE_URL = re.compile(r"^== (\w+) on http://127\.0\.0\.1:(\d+)$", re.MULTILINE)
PROBLEM = re.compile(r"\b(ERROR|CRITICAL|FATAL|PANIC|Traceback)\b|\"level\":\"(error|fatal)\"")

# --- the load process ----------------------------------------------------------------------------


def emit(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def place_orders(url: str, orders: int, clients: int) -> None:
    """The `clients` subcommand: connect, say ready, wait for "go" on stdin, place the orders,
    print the result (each POST's send time, latency, status, number) and this process's CPU."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=POST_TIMEOUT, limits=limits) as client:
        # One connection per client, opened before the clock starts
        await asyncio.gather(*(client.get("/menu") for _ in range(clients)))
        emit({"ready": True})
        if (await asyncio.to_thread(sys.stdin.readline)).strip() != "go":
            return
        before = os.times()
        pending = iter(range(orders))  # shared by the clients: each takes the next order
        posts: list[dict[str, Any]] = []

        async def one_client() -> None:
            for _ in pending:
                sent, began = time.time(), time.perf_counter()
                number, error = None, None
                try:
                    response = await client.post("/orders", json=ORDER)
                    status = response.status_code
                    if status == 201:
                        number = int(response.json()["number"])
                    else:
                        error = response.text[:200]
                except httpx.HTTPError as failure:
                    status, error = 0, f"{type(failure).__name__}: {failure}"[:200]
                posts.append({"sent": sent, "ms": (time.perf_counter() - began) * 1000,
                              "status": status, "number": number, "error": error})

        await asyncio.gather(*(one_client() for _ in range(clients)))
        after = os.times()
    emit({"result": {"posts": posts,
                     "cpu_s": after.user + after.system - before.user - before.system}})


class Clients(LoadProcess):
    """The load process, driven over its stdin and stdout."""

    def __init__(self, url: str, orders: int, clients: int, log_path: Path) -> None:
        super().__init__([sys.executable, str(Path(__file__).resolve()), "clients", "--url",
                          url, "--orders", str(orders), "--clients", str(clients)], log_path)

    def wait_ready(self, timeout: float) -> None:
        try:
            message = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"load process not ready after {timeout:.0f} s") from None
        if not message or "ready" not in message:
            raise RuntimeError(f"load process failed to start; see {self.log_path}")

    def result(self) -> dict[str, Any] | None:
        """The result if it has arrived, else None; raises if the process ended without one."""
        try:
            message = self.messages.get_nowait()
        except queue.Empty:
            return None
        if not message or "result" not in message:
            raise RuntimeError(f"load process ended without a result; see {self.log_path}")
        return dict(message["result"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()


# --- CPU time from /proc --------------------------------------------------------------------------


def cpu_snapshot(roots: dict[str, int]) -> dict[str, Any]:
    me = os.times()
    return {"processes": tree_cpu(roots), "driver_s": me.user + me.system,
            "machine_s": machine_busy_seconds()}


# --- the two modes -------------------------------------------------------------------------------


class Mode(Protocol):
    api: str
    board: str

    def processes(self) -> dict[str, int]: ...

    def stop(self) -> None: ...


class Embedded:
    """A fresh `mcburger run`: every role in one process, SQLite in its data directory."""

    def __init__(self, work: Path, options: Sequence[str]) -> None:
        self.server = Server.start_caught_up(work, START_TIMEOUT, *options)
        self.api = self.board = self.server.url

    def processes(self) -> dict[str, int]:
        return {"mcburger run": self.server.process.pid}

    def stop(self) -> None:
        self.server.stop()


class Distributed:
    """scripts/dev-up on a fresh DIR and ports of its own; scripts/dev-down DIR to stop."""

    def __init__(self, work: Path, options: Sequence[str]) -> None:
        self.dir = work / "dev"
        first = free_port_block(10)
        self.env = {**os.environ, "MCBURGER_BASE_PORT": str(first), "PG_PORT": str(first + 6),
                    "MONGO_PORT": str(first + 7), "KAFKA_PORT": str(first + 8)}
        self.pids: dict[str, int] = {}
        self.started: dict[str, int] = {}
        self.down_output = ""
        deadline = time.monotonic() + START_TIMEOUT
        try:
            output = self._dev_up(work / "dev-up.log", options)
            self.ports = {role: int(port) for role, port in SERVICE_URL.findall(output)}
            if set(self.ports) != set(ROLES):
                raise RuntimeError(f"dev-up named {sorted(self.ports)}, not every service")
            self.api = f"http://{HOST}:{self.ports['api']}"
            self.board = f"http://{HOST}:{self.ports['board']}"
            self._find_processes()
            self._wait_healthy(deadline)
        except BaseException:
            self.stop()
            raise

    def _dev_up(self, log_path: Path, options: Sequence[str]) -> str:
        with log_path.open("wb") as log:
            # Its own session: on a timeout, everything this dev-up started goes with it
            up = subprocess.Popen([str(DEV_UP), str(self.dir), *options], cwd=ROOT, env=self.env,
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            code = up.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
            raise TimeoutError(f"dev-up not done after {START_TIMEOUT:.0f} s; "
                               f"see {log_path}") from None
        output = log_path.read_text(errors="replace")
        if code != 0:
            raise RuntimeError(f"dev-up exited with {code}: {output[-1500:]}")
        return output

    def _find_processes(self) -> None:
        files = {**{role: self.dir / "pids" / f"{role}.pid" for role in ROLES},
                 "kafka": self.dir / "kafka" / "kafka.pid",
                 "postgres": self.dir / "postgres" / "postmaster.pid",  # its first line
                 "ferretdb": self.dir / "pids" / "ferretdb.pid"}
        for name in DISTRIBUTED_PROCESSES:
            pid = int(files[name].read_text().split()[0])
            stat = read_stat(pid)
            if stat is None or not alive(pid):
                raise RuntimeError(f"{name} (pid {pid}) is not running after dev-up")
            self.pids[name], self.started[name] = pid, stat[3]

    def _wait_healthy(self, deadline: float) -> None:
        """Every service's /healthz 200 with each of its consumers' lag 0."""
        with httpx.Client(timeout=5.0) as http:
            for role in ROLES:
                health: dict[str, Any] | None = None
                while True:
                    self.check_alive()
                    try:
                        response = http.get(f"http://{HOST}:{self.ports[role]}/healthz")
                        health = response.json() if response.status_code == 200 else None
                    except (httpx.HTTPError, ValueError):
                        health = None
                    lag = (health or {}).get("consumer_lag") or {}
                    if health is not None and all(value == 0 for value in lag.values()):
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{role} not healthy after dev-up: {health}")
                    time.sleep(HEALTH_POLL_SECONDS)

    def check_alive(self) -> None:
        for name, pid in self.pids.items():
            if not alive(pid, self.started[name]):
                raise RuntimeError(f"{name} (pid {pid}) exited; see {self.dir / 'logs'}")

    def processes(self) -> dict[str, int]:
        return dict(self.pids)

    def stop(self) -> None:
        if not self.dir.exists():
            return
        try:
            down = subprocess.run([str(DEV_DOWN), str(self.dir)], env=self.env, cwd=ROOT,
                                  capture_output=True, text=True, timeout=STOP_TIMEOUT,
                                  check=False)
            self.down_output = down.stdout + down.stderr
        except subprocess.TimeoutExpired:
            self.down_output = f"dev-down not done after {STOP_TIMEOUT:.0f} s"
        for name, pid in self.pids.items():  # what dev-down left running, by our own pids
            if alive(pid, self.started[name]):
                self.down_output += f"\n{name} (pid {pid}) still running: SIGKILL"
                os.kill(pid, signal.SIGKILL)
        # A cluster dev-up had to put in postgres's home (it could not enter DIR) is ours too
        cluster = self.dir / "postgres"
        if cluster.is_symlink() and cluster.resolve().name.startswith("mcburger-dev-"):
            shutil.rmtree(cluster.resolve(), ignore_errors=True)


MODE_CLASSES: dict[str, Callable[[Path, Sequence[str]], Mode]] = {
    "embedded": Embedded, "distributed": Distributed}


# --- one measurement -----------------------------------------------------------------------------


def board_lists(http: httpx.Client, mode: Mode) -> tuple[list[int], list[int]] | None:
    """Every number on the board (REQUESTED or later) and the READY ones; None if no answer."""
    try:
        response = http.get(f"{mode.board}/board")
        board = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if board is None:
        return None
    return board["requested"] + board["in_progress"] + board["ready"], board["ready"]


def warm_up(http: httpx.Client, mode: Mode) -> float:
    """One order, until READY on the board; its seconds."""
    began = time.monotonic()
    response = http.post(f"{mode.api}/orders", json=ORDER)
    if response.status_code != 201:
        raise RuntimeError(f"warm-up order: {response.status_code} {response.text[:300]}")
    number = response.json()["number"]
    while time.monotonic() - began < WARMUP_TIMEOUT:
        lists = board_lists(http, mode)
        if lists and number in lists[1]:
            return time.monotonic() - began
        time.sleep(BOARD_POLL_SECONDS)
    raise TimeoutError(f"warm-up order {number} not READY on the board after "
                       f"{WARMUP_TIMEOUT:.0f} s")


def drive(http: httpx.Client, mode: Mode, args: argparse.Namespace,
          work: Path) -> dict[str, Any]:
    """The load against a mode that is up: POST latencies, board times, CPU."""
    clients = Clients(mode.api, args.orders, args.clients, work / "clients.log")
    try:
        clients.wait_ready(CLIENTS_READY_TIMEOUT)
        roots = mode.processes()
        before = cpu_snapshot(roots)
        go = time.time()
        clients.go()
        shown: dict[int, float] = {}
        ready: dict[int, float] = {}
        board_failures, result, placed = 0, None, []
        next_poll = time.monotonic()
        while True:
            lists = board_lists(http, mode)
            seen = time.time()
            if lists is None:
                board_failures += 1
            else:
                for number in lists[0]:
                    shown.setdefault(number, seen)
                for number in lists[1]:
                    ready.setdefault(number, seen)
            if result is None and (result := clients.result()) is not None:
                placed = [post["number"] for post in result["posts"] if post["status"] == 201]
            if result is not None and all(number in ready for number in placed):
                after = cpu_snapshot(roots)
                break
            if seen - go > args.timeout:
                missing = len([n for n in placed if n not in ready]) if result else "?"
                raise TimeoutError(f"not done {args.timeout:g} s after the first POST "
                                   f"(load finished: {result is not None}; orders not READY: "
                                   f"{missing})")
            for name, pid in roots.items():
                if not alive(pid):
                    raise RuntimeError(f"{name} (pid {pid}) exited during the load")
            next_poll += BOARD_POLL_SECONDS
            time.sleep(max(0.0, next_poll - time.monotonic()))
    finally:
        clients.stop()
    if not placed:
        raise RuntimeError(f"no order placed: {Counter(p['status'] for p in result['posts'])}")
    return figures(result, placed, shown, ready, before, after, board_failures)


def figures(result: dict[str, Any], placed: list[int], shown: dict[int, float],
            ready: dict[int, float], before: dict[str, Any], after: dict[str, Any],
            board_failures: int) -> dict[str, Any]:
    posts = result["posts"]
    first = min(post["sent"] for post in posts)
    last_answer = max(post["sent"] + post["ms"] / 1000 for post in posts)
    all_ready = max(ready[number] for number in placed) - first
    latencies = [post["ms"] for post in posts]
    cpu = {name: after["processes"][name]["cpu_s"] - used["cpu_s"]
           for name, used in before["processes"].items()}
    total = sum(cpu.values())
    driver = after["driver_s"] - before["driver_s"]
    busy = after["machine_s"] - before["machine_s"]
    errors = Counter(str(post["status"]) for post in posts if post["status"] != 201)
    return {
        "placed": len(placed), "orders_per_s": len(placed) / all_ready,
        "all_shown_s": max(shown[number] for number in placed) - first, "all_ready_s": all_ready,
        "post_orders_per_s": len(placed) / (last_answer - first),
        "post_p50_ms": percentile(latencies, 50), "post_p99_ms": percentile(latencies, 99),
        "post_max_ms": max(latencies), "errors": sum(errors.values()),
        "errors_by_status": dict(errors),
        "error_samples": [post["error"] for post in posts if post["error"]][:5],
        "board_poll_failures": board_failures,
        "cpu_s": cpu, "cpu_total_s": total, "cpu_ms_per_order": total * 1000 / len(placed),
        "cpu_share": {name: seconds / total if total else 0.0 for name, seconds in cpu.items()},
        "postgres_processes": after["processes"].get("postgres", {}).get("processes"),
        "clients_cpu_s": result["cpu_s"], "driver_cpu_s": driver, "machine_busy_s": busy,
        "others_cpu_s": busy - total - result["cpu_s"] - driver,
        "post_ms": [round(ms, 2) for ms in latencies],
    }


def percentile(values: Sequence[float], percent: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def measure(name: str, args: argparse.Namespace, scratch: Path, run: int) -> dict[str, Any]:
    """One mode once, on a fresh directory; a failure comes back as {"failed": reason}."""
    work = scratch / f"run{run}-{name}"
    work.mkdir()
    work.chmod(0o755)  # PostgreSQL runs as its own user when we are root: it must enter DIR
    options = ["--speed", f"{args.speed:g}", "--workers", str(args.workers), "--seed", "1"]
    began = time.monotonic()
    mode: Mode | None = None
    try:
        mode = MODE_CLASSES[name](work, options)
        start_s = time.monotonic() - began
        with httpx.Client(timeout=10.0) as http:
            warm_up_s = warm_up(http, mode)
            found = drive(http, mode, args, work)
        found.update(start_s=start_s, warm_up_s=warm_up_s)
    except Exception as error:  # reported, and the other runs go on
        found = {"failed": f"{type(error).__name__}: {error}"}
    finally:
        if mode is not None:
            mode.stop()
    found["log_problems"] = log_problems(work)
    if isinstance(mode, Distributed) and "stopped" not in mode.down_output:
        found["dev_down"] = mode.down_output
    return found


def log_problems(work: Path) -> list[str]:
    """Error lines of every log of a run (the server's, dev-up's, each process's in DIR/logs)."""
    found = []
    for path in sorted([*work.glob("*.log"), *work.glob("dev/logs/*.log")]):
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        found += [f"{path.name}: {line[:300]}" for line in lines if PROBLEM.search(line)]
    return found[:30]


# --- summary, tables, plot -----------------------------------------------------------------------

KEYS = ("orders_per_s", "all_shown_s", "all_ready_s", "post_orders_per_s", "post_p50_ms",
        "post_p99_ms", "errors", "cpu_total_s", "cpu_ms_per_order")


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in MODES:
        done = [run[name] for run in runs if "failed" not in run[name]]
        if not done:
            summary[name] = None
            continue
        names = EMBEDDED_PROCESSES if name == "embedded" else DISTRIBUTED_PROCESSES
        summary[name] = {
            "runs": len(done), "failed": len(runs) - len(done),
            **{key: spread([run[key] for run in done]) for key in KEYS},
            "cpu_s": {p: spread([run["cpu_s"][p] for run in done]) for p in names},
            "cpu_share": {p: spread([run["cpu_share"][p] for run in done]) for p in names},
            **{key: spread([run[key] for run in done])
               for key in ("clients_cpu_s", "driver_cpu_s", "others_cpu_s", "machine_busy_s")}}
    both = [run for run in runs if all("failed" not in run[name] for name in MODES)]
    summary["pairs"], summary["runs"] = len(both), len(runs)
    summary["ratio"] = {key: spread([run["distributed"][key] / run["embedded"][key]
                                     for run in both if run["embedded"][key]])
                        for key in KEYS if key != "errors"
                        and any(run["embedded"][key] for run in both)} if both else None
    return summary


def cell(figures: dict[str, float] | None, fmt: str, scale: float = 1.0) -> str:
    """Median (min-max)."""
    if figures is None:
        return "—"
    median, low, high = (figures[k] * scale for k in ("median", "min", "max"))
    return f"{median:{fmt}} ({low:{fmt}}-{high:{fmt}})"


COLUMNS = (("orders/s end to end", "orders_per_s", ".1f"), ("all shown, s", "all_shown_s", ".2f"),
           ("all READY, s", "all_ready_s", ".2f"), ("POST orders/s", "post_orders_per_s", ".1f"),
           ("POST p50, ms", "post_p50_ms", ".1f"), ("POST p99, ms", "post_p99_ms", ".1f"),
           ("errors", "errors", ".0f"), ("CPU ms an order", "cpu_ms_per_order", ".1f"))


def table(summary: dict[str, Any]) -> str:
    rows = ["| mode | runs | " + " | ".join(title for title, _, _ in COLUMNS)
            + " | FerretDB CPU share |",
            "| --- | ---: |" + " ---: |" * len(COLUMNS) + " ---: |"]
    for name in MODES:
        figures = summary[name]
        if figures is None:
            rows.append(f"| {name} | 0 ({summary['runs']} failed) |" + " — |" * (len(COLUMNS) + 1))
            continue
        failed = f" ({figures['failed']} failed)" if figures["failed"] else ""
        ferretdb = (cell(figures["cpu_share"]["ferretdb"], ".0f", 100) + " %"
                    if name == "distributed" else "—")
        rows.append(f"| {name} | {figures['runs']}{failed} | "
                    + " | ".join(cell(figures[key], fmt) for _, key, fmt in COLUMNS)
                    + f" | {ferretdb} |")
    ratio = summary["ratio"]
    if ratio:
        ferretdb = summary["distributed"]["cpu_share"]["ferretdb"]
        rows.append(f"| distributed / embedded | {summary['pairs']} pairs | "
                    + " | ".join(cell(ratio.get(key), ".2f") if key != "errors" else "—"
                                 for _, key, _ in COLUMNS)
                    + f" | {cell(ferretdb, '.0f', 100)} % |")
    return "\n".join(rows)


def cpu_table(summary: dict[str, Any]) -> str:
    rows = ["| process | embedded: CPU s | share | distributed: CPU s | share |",
            "| --- | ---: | ---: | ---: | ---: |"]

    def side(name: str, process: str) -> str:
        figures = summary[name]
        if figures is None or process not in figures["cpu_s"]:
            return "| | "
        return (f"| {cell(figures['cpu_s'][process], '.2f')} "
                f"| {cell(figures['cpu_share'][process], '.0f', 100)} % ")

    for process in (*EMBEDDED_PROCESSES, *DISTRIBUTED_PROCESSES):
        rows.append(f"| {process} {side('embedded', process)}{side('distributed', process)}|")
    rows.append("| **total (system under test)** " + "".join(
        f"| {cell(summary[n]['cpu_total_s'], '.2f') if summary[n] else '—'} | 100 % "
        for n in MODES) + "|")
    for title, key in (("load process (not in the total)", "clients_cpu_s"),
                       ("this script's board poll (not in the total)", "driver_cpu_s"),
                       ("rest of the machine (not in the total)", "others_cpu_s"),
                       ("machine busy, all cores", "machine_busy_s")):
        rows.append(f"| {title} " + "".join(
            f"| {cell(summary[n][key], '.2f') if summary[n] else '—'} | "
            for n in MODES) + "|")
    return "\n".join(rows)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = report["summary"]
    names = [name for name in MODES if summary[name]]
    xs = list(range(len(names)))
    fig, (rate_ax, latency_ax, cpu_ax) = plt.subplots(1, 3, figsize=(15, 4.6))
    for offset, key, label in ((-0.2, "orders_per_s", "end to end (until READY on the board)"),
                               (0.2, "post_orders_per_s", "POST /orders answered")):
        bars(rate_ax, [x + offset for x in xs], [summary[n][key] for n in names], label, 0.4)
    capacity = report["kitchen_orders_per_s"]
    rate_ax.axhline(capacity, color="grey", ls="--", lw=1,
                    label=f"kitchen's bound ({capacity:.0f} orders/s)")
    for offset, key, label in ((-0.2, "post_p50_ms", "p50"), (0.2, "post_p99_ms", "p99")):
        bars(latency_ax, [x + offset for x in xs], [summary[n][key] for n in names], label, 0.4)
    # CPU ms an order, stacked by process (medians of each process's CPU seconds)
    orders = report["options"]["orders"]
    colours = plt.get_cmap("tab10")
    for x, name in zip(xs, names, strict=True):
        bottom = 0.0
        processes = EMBEDDED_PROCESSES if name == "embedded" else DISTRIBUTED_PROCESSES
        for index, process in enumerate(processes):
            height = summary[name]["cpu_s"][process]["median"] * 1000 / orders
            cpu_ax.bar(x, height, 0.6, bottom=bottom,
                       color=colours(index if name == "distributed" else 9),
                       label=process if name == "distributed" else "mcburger run")
            bottom += height
        share = (f"FerretDB {summary[name]['cpu_share']['ferretdb']['median']:.0%}"
                 if name == "distributed" else "one process")
        cpu_ax.annotate(share, (x, bottom), ha="center", va="bottom", fontsize=8)
    for ax in (rate_ax, latency_ax, cpu_ax):
        ax.set_xticks(xs, names)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
        ax.grid(alpha=0.3, axis="y")
    options = report["options"]
    rate_ax.set(ylabel="orders/s", title=f"{options['orders']} orders, {options['clients']} "
                f"clients (median, min-max)")
    latency_ax.set(ylabel="ms", title="POST /orders latency (median, min-max)")
    cpu_ax.set(ylabel="CPU ms an order (medians)", title="Where the CPU goes")
    rate_ax.legend(fontsize=8, loc="upper right")
    latency_ax.legend(fontsize=8, loc="upper left")
    handles, labels = cpu_ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    cpu_ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper left")
    fig.suptitle(f"Distributed (API, PostgreSQL, relay, Kafka, services, FerretDB) against "
                 f"embedded `mcburger run`, --speed {options['speed']:g} --workers "
                 f"{options['workers']}, one machine", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def brief(found: dict[str, Any]) -> str:
    if "failed" in found:
        return f"FAILED: {found['failed']}"
    share = found["cpu_share"].get("ferretdb")
    ferretdb = f", FerretDB {share:.0%} of it" if share is not None else ""
    problems = f", {len(found['log_problems'])} log problem lines" if found["log_problems"] else ""
    by_status = f" {found['errors_by_status']}" if found["errors"] else ""
    return (f"{found['orders_per_s']:.1f} orders/s end to end (all shown {found['all_shown_s']:.2f}"
            f" s, all READY {found['all_ready_s']:.2f} s), POST {found['post_orders_per_s']:.1f}/s"
            f" p50 {found['post_p50_ms']:.1f} ms p99 {found['post_p99_ms']:.1f} ms, "
            f"{found['errors']} errors{by_status}, CPU {found['cpu_total_s']:.2f} s{ferretdb}"
            + problems)


# Loaded by every Python process started with the directory first on PYTHONPATH: counts the
# MongoDB commands (and the documents an update or insert carries) per command and collection,
# and writes them every 2 s and at exit to MCBURGER_BENCH_MONGO_COUNTS/<role>-<pid>.json.
SITECUSTOMIZE = """
import atexit, json, os, sys, threading, time
try:
    from pymongo import monitoring
except ImportError:
    monitoring = None
if monitoring is not None and os.environ.get("MCBURGER_BENCH_MONGO_COUNTS"):
    counts = {}
    role = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "serve" else "other"
    path = os.path.join(os.environ["MCBURGER_BENCH_MONGO_COUNTS"], f"{role}-{os.getpid()}.json")

    class Counter(monitoring.CommandListener):
        def started(self, event):
            name = event.command_name
            key = f"{name} {event.command.get(name)}"
            docs = len(event.command.get("updates", event.command.get("documents", [])))
            entry = counts.setdefault(key, [0, 0])
            entry[0] += 1
            entry[1] += docs

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    monitoring.register(Counter())

    def dump():
        if counts:
            with open(path + ".tmp", "w") as out:
                json.dump(counts, out)
            os.replace(path + ".tmp", path)

    def every_two_seconds():
        while True:
            time.sleep(2)
            dump()

    atexit.register(dump)
    threading.Thread(target=every_two_seconds, daemon=True).start()
"""


def count_mongo_commands(scratch: Path) -> Path:
    """Make every process started from now on count its MongoDB commands into the returned
    directory (see SITECUSTOMIZE)."""
    hook, counts = scratch / "mongo-hook", scratch / "mongo-counts"
    hook.mkdir()
    counts.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    earlier = os.environ.get("PYTHONPATH")  # a --commit export stays next on the path
    os.environ["PYTHONPATH"] = f"{hook}{os.pathsep}{earlier}" if earlier else str(hook)
    os.environ["MCBURGER_BENCH_MONGO_COUNTS"] = str(counts)
    return counts


def mongo_commands_per_order(counts: Path, runs: Sequence[dict[str, Any]],
                             orders: int) -> dict[str, dict[str, list[float]]]:
    """role -> "command collection" -> [commands an order, documents an order], over the
    distributed runs that finished (their warm-up order and start-up included)."""
    finished = sum(1 for run in runs if "failed" not in run["distributed"])
    total: dict[str, dict[str, list[float]]] = {}
    for file in counts.glob("*.json"):
        role = file.name.split("-")[0]
        for key, (commands, documents) in json.loads(file.read_text()).items():
            entry = total.setdefault(role, {}).setdefault(key, [0.0, 0.0])
            entry[0] += commands
            entry[1] += documents
    per = max(finished * orders, 1)
    return {role: {key: [round(c / per, 2), round(d / per, 2)] for key, (c, d) in keys.items()}
            for role, keys in total.items()}


def mongo_table(mongo: dict[str, dict[str, list[float]]]) -> str:
    rows = ["| service | command and collection | commands an order | documents an order |",
            "| --- | --- | ---: | ---: |"]
    for role in sorted(mongo):
        for key, (commands, documents) in sorted(mongo[role].items(), key=lambda kv: -kv[1][0]):
            if commands >= 0.05:
                rows.append(f"| {role} | `{key}` | {commands:.2f} | {documents:.2f} |")
    return "\n".join(rows)


def kitchen_bound(args: argparse.Namespace) -> float:
    """Orders/s the kitchen can make: W workers, each order's preparation seconds / speed."""
    import tomllib

    menu = tomllib.loads((ROOT / "src" / "mcburger" / "menu.toml").read_text())
    prep = {item["id"]: item["prep_seconds"] for item in menu["items"]}
    seconds = sum(prep[line["item"]] * line["quantity"] for line in ORDER["items"])
    return float(args.workers * args.speed / seconds)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "clients":
        parser = argparse.ArgumentParser(prog="distributed.py clients")
        parser.add_argument("--url", required=True)
        parser.add_argument("--orders", type=int, required=True)
        parser.add_argument("--clients", type=int, required=True)
        load = parser.parse_args(sys.argv[2:])
        asyncio.run(place_orders(load.url, load.orders, load.clients))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--speed", type=float, default=10000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds from the first POST until every order is READY")
    add_run_options(parser, "distributed", OUT)
    parser.add_argument("--mongo-commands", action="store_true",
                        help="count each service's MongoDB commands and documents (costs CPU)")
    args = parser.parse_args()
    if replotted(args, "distributed", plot, CACHE):
        return
    info = machine()
    print_machine(info)
    bound = kitchen_bound(args)
    print(f"{args.orders} orders of {ORDER['items']}, {args.clients} clients, --speed "
          f"{args.speed:g} --workers {args.workers}: the kitchen's bound is {bound:.0f} orders/s",
          flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="mcburger-distributed-"))
    scratch.chmod(0o755)
    counts = count_mongo_commands(scratch) if args.mongo_commands else None
    runs = []
    try:
        for run in range(args.runs):
            order = MODES if run % 2 == 0 else MODES[::-1]
            found = {}
            for name in order:
                found[name] = measure(name, args, scratch, run + 1)
                print(f"  run {run + 1}/{args.runs} {name}: {brief(found[name])}", flush=True)
            runs.append({"run": run + 1, "first": order[0], **found})
    finally:
        if args.keep:
            print(f"kept {scratch}")
        mongo = mongo_commands_per_order(counts, runs, args.orders) if counts else None
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    summary = summarise(runs)
    print()
    print(table(summary))
    print()
    print(cpu_table(summary))
    if mongo is not None:
        print()
        print(mongo_table(mongo))
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average at end: {info['load_average_at_end']}")
    report = {"command": command_line(), "machine": info,
              "options": {"orders": args.orders, "clients": args.clients, "runs": args.runs,
                          "speed": args.speed, "workers": args.workers, "seed": 1,
                          "order": ORDER, "timeout_s": args.timeout,
                          "board_poll_s": BOARD_POLL_SECONDS},
              "kitchen_orders_per_s": bound, "summary": summary, "runs": runs,
              "mongo_commands_per_order": mongo}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "distributed.json", report)
    print(f"wrote {args.out / 'distributed.json'}")
    if summary["embedded"] or summary["distributed"]:
        plot(report, args.out / "distributed.png")
        print(f"wrote {args.out / 'distributed.png'}")


if __name__ == "__main__":
    main()
