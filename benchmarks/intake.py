"""Benchmark: intake, POST /orders against a no-op route of the same server (issue 11, item 2).

    .venv/bin/python benchmarks/intake.py [--runs 5] [--seconds 10] [--connections 1 8 64]
        [--speed 100000] [--workers 3] [--per-process 32] [--profile [--profile-connections 8]]
        [--out DIR] [--keep] [--commit REV] [--replot]

Each run starts a fresh `mcburger run --speed S --workers W --seed 1` on a new data directory on
127.0.0.1 and waits until /healthz shows every consumer's lag 0; 20 POSTs and 20 GET /livez warm
it up (not counted). Then, for each connection count C in the order given, two phases of
--seconds each, first (a) GET /livez (answers {"status":"ok"} and checks nothing: the cost of
HTTP, routing and JSON alone) and then (b) POST /orders of one cola
({"items":[{"item":"cola","quantity":1}]}: 30 s of kitchen work, 0.3 ms at --speed 100000). A POST
counts as answered only with 201 and a non-null `estimated_ready_at` (read-your-writes: the answer
waits until the read models and the estimate include the order); any other status, a null
estimate, a connection lost or no answer within 30 s is an error. Before each phase the server
is let settle until every consumer's lag is 0 again (bounded; the seconds are recorded), so a
phase does not pay for the previous one's projections. The orders of earlier phases stay in the
store: a later phase runs against a few thousand more orders, as a restaurant would.

The load comes from separate processes (this script's `load` subcommand), ceil(C / --per-process)
of them (one at 1 and 8, two at 64 by default), with C / processes connections each. Each
connection is a client of its own in a closed loop: it sends its next request as soon as the
previous one answered, over one keep-alive HTTP/1.1 connection opened (and used once, not counted)
before the clock starts. The client is the cheapest we could make it: raw HTTP/1.1 in an asyncio
Protocol on uvloop (callbacks only, no coroutine, no header parsing beyond status and
Content-Length; the request bytes are built once), because with httpx the load process, not the
server, was the limit for the board's clients (see fanout_clients.py); this one used at most a
quarter of a core at 6,000 req/s. The processes start together on a "go" line and
each counts the answers that arrive within its --seconds; answers that arrive later are not
counted (the clients stop sending at the end).

Reported per C and route, median (min-max) over --runs runs: answered requests/s, p50 and p99 of
their latencies, errors; the CPU of the server (utime + stime in /proc/PID/stat, its live
children included) over the phase as a percentage of one core, the load processes' (their own
os.times(), summed: a single process cannot pass 100 %) and the rest of the machine's (its busy
time in /proc/stat minus both: other work on the same cores), so that a reader can see who was
the limit; and per C the ratio POST rate / livez rate within a run (the issue's target: >= 0.5).

The CPU figures come from two kinds of accounting (per process, and the machine's /proc/stat):
they agree to within about 10 % of a core, so an "other" a little below 0 means none.

`--profile` adds one more phase to the first run, after the measured ones and not in the figures:
POST /orders at --profile-connections (8) connections while `py-spy record -r 250 -f raw
--nolineno --threads --nonblocking` samples every thread of the server (the collapsed stacks go
to DIR/intake-profile.txt, readable by speedscope or flamegraph.pl). Non-blocking, because
py-spy's default pauses the process for each sample, which more than halved the POST rate, and
because a paused thread cannot be told idle from busy by its state: blocking, 70 % of the samples
were worker threads waiting in Condition.wait; non-blocking, a thread asleep in the kernel is
left out, so the samples are where the server's CPU goes (a running thread's leaf Python frame:
time in C under it, SQLite or the uvloop event loop, is counted to that frame). Prints the
samples by thread, self time by package, the top 15 functions by self time, the top functions of
src/mcburger by inclusive time, and the rate under the profiler.

Prints markdown tables, writes docs/benchmarks/intake.json and intake.png (`--out DIR` to write
elsewhere; `--replot` only redraws the PNG from the JSON there). Only ever talks to its own
server on 127.0.0.1; every wait is bounded; every process it starts is stopped by its id.
`--commit REV` measures a clean export of that commit's src/ instead of the working tree.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import queue
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _server import (
    ROOT,
    LoadProcess,
    Server,
    add_run_options,
    command_line,
    errorbar,
    lag_is_zero,
    machine,
    machine_busy_seconds,
    print_machine,
    replotted,
    spread,
    tree_cpu,
    write_json,
)

OUT = ROOT / "docs" / "benchmarks"
CACHE = ROOT / ".cache" / "benchmarks"
ORDER = {"items": [{"item": "cola", "quantity": 1}]}
ROUTES = {"livez": "GET /livez", "orders": "POST /orders"}
CLIENT = ("raw HTTP/1.1 in an asyncio Protocol on uvloop, one keep-alive connection per client, "
          "closed loop")
WARM_UP_REQUESTS = 20
REQUEST_TIMEOUT = 30.0  # no answer within this: an error, and the connection is replaced
CONNECT_TIMEOUT = 10.0
READY_TIMEOUT = 60.0  # a load process: started, connected, one request per connection
START_TIMEOUT = 120.0
SETTLE_TIMEOUT = 120.0
PROFILE_RATE = 250
PROFILE_TOP = 15
WATCHDOG_SECONDS = 0.25
OTHER_WARNING = 25  # % of a core used by neither the server nor the load: say so

# --- the load process ----------------------------------------------------------------------------


def emit(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


def request_bytes(route: str, host: str, port: int) -> bytes:
    if route == "livez":
        return f"GET /livez HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    body = json.dumps(ORDER, separators=(",", ":")).encode()
    return (f"POST /orders HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def problem(route: str, status: int, body: bytes) -> str | None:
    """Why an answer does not count (None: it does)."""
    if route == "livez":
        return None if status == 200 else f"status {status}"
    if status != 201:
        return f"status {status}"
    try:
        estimate = json.loads(body).get("estimated_ready_at")
    except ValueError:
        return "201 without JSON"
    return None if estimate is not None else "201 with a null estimate"


class Meter:
    """What a load process's connections share: the request, the clock, the figures."""

    def __init__(self, route: str, host: str, port: int) -> None:
        self.route, self.host, self.port = route, host, port
        self.request = request_bytes(route, host, port)
        self.deadline = math.inf
        self.latencies: list[float] = []  # seconds, of the answers that count, within the window
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []
        self.late = 0  # answers after the deadline (not counted)
        self.running = 0
        self.finished: asyncio.Event | None = None

    def error(self, kind: str, detail: bytes | str = b"") -> None:
        self.errors[kind] += 1
        if len(self.samples) < 5:
            text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else detail
            self.samples.append(f"{kind}: {text[:200]}")

    def stopped(self) -> None:
        self.running -= 1
        if self.running == 0 and self.finished is not None:
            self.finished.set()


class Connection(asyncio.Protocol):
    """One client: one keep-alive connection, one request at a time."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = -1  # bytes of the whole response once its head is read
        self.body_at = 0
        self.status = 0
        self.sent = 0.0
        self.in_flight = False
        self.active = False  # in the measured window (a closed loop until the deadline)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None  # a request before the clock

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self.buffer.clear()
        self.need = -1
        await asyncio.wait_for(
            loop.create_connection(lambda: self, self.meter.host, self.meter.port),
            CONNECT_TIMEOUT)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (uvloop's is no subclass)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def once(self) -> tuple[int, bytes]:
        """One request outside the measured window (opens the connection); status and body."""
        self.waiter = asyncio.get_running_loop().create_future()
        self.send()
        try:
            return await asyncio.wait_for(self.waiter, REQUEST_TIMEOUT)
        finally:
            self.waiter = None

    def send(self) -> None:
        assert self.transport is not None
        self.in_flight = True
        self.sent = time.perf_counter()
        self.transport.write(self.meter.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            if self.need < 0:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buffer[:end]).lower()
                at = head.find(b"\r\ncontent-length:")
                if at < 0:  # (our server always sends one: anything else is a failure here)
                    self.fail("no Content-Length", head)
                    return
                stop = head.find(b"\r\n", at + 2)
                self.status = int(head[9:12])
                self.body_at = end + 4
                self.need = self.body_at + int(head[at + 17:stop if stop > 0 else len(head)])
            if len(buffer) < self.need:
                return
            body = bytes(buffer[self.body_at:self.need])
            del buffer[:self.need]
            self.need = -1
            self.answered(self.status, body)

    def answered(self, status: int, body: bytes) -> None:
        now = time.perf_counter()
        self.in_flight = False
        if self.waiter is not None:
            if not self.waiter.done():
                self.waiter.set_result((status, body))
            return
        if not self.active:
            return
        meter = self.meter
        if now > meter.deadline:
            meter.late += 1
            self.finish()
            return
        why = problem(meter.route, status, body)
        if why is None:
            meter.latencies.append(now - self.sent)
        else:
            meter.error(why, body)
        self.send()

    def finish(self) -> None:
        if self.active:
            self.active = False
            self.meter.stopped()

    def fail(self, kind: str, detail: bytes | str = b"") -> None:
        """An error on the connection: count it, replace the connection, go on if in time."""
        was_in_flight = self.in_flight
        self.in_flight = False
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.abort()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(kind))
            return
        if not self.active:
            return
        if was_in_flight and (kind == "timeout" or time.perf_counter() <= self.meter.deadline):
            self.meter.error(kind, detail)
        asyncio.get_running_loop().create_task(self.reconnect())

    async def reconnect(self) -> None:
        if time.perf_counter() < self.meter.deadline:
            try:
                await self.connect()
            except (OSError, TimeoutError) as failure:
                self.meter.error("connect failed", f"{type(failure).__name__}: {failure}")
                await asyncio.sleep(0.1)  # and try again, until the deadline
            else:
                if time.perf_counter() < self.meter.deadline:
                    self.send()
                    return
            if time.perf_counter() < self.meter.deadline:
                asyncio.get_running_loop().create_task(self.reconnect())
                return
        self.finish()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:  # not one we aborted ourselves
            self.fail("connection lost", str(exc or "closed by the server"))


async def watchdog(connections: Sequence[Connection]) -> None:
    """Replace the connection of any request unanswered after REQUEST_TIMEOUT."""
    while True:
        await asyncio.sleep(WATCHDOG_SECONDS)
        now = time.perf_counter()
        for connection in connections:
            if connection.in_flight and now - connection.sent > REQUEST_TIMEOUT:
                connection.fail("timeout", f"no answer after {REQUEST_TIMEOUT:g} s")


async def load(url: str, route: str, count: int, seconds: float) -> None:
    """The `load` subcommand: connect, send one request each, say ready, wait for "go" on stdin,
    run the closed loops for `seconds`, print the result."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    meter = Meter(route, host, port)
    connections = [Connection(meter) for _ in range(count)]
    await asyncio.gather(*(connection.connect() for connection in connections))
    firsts = await asyncio.gather(*(connection.once() for connection in connections))
    bad = [f"{status}: {body[:200]!r}" for status, body in firsts if problem(route, status, body)]
    emit({"ready": True, "first_answers_bad": bad[:3]})
    if (await asyncio.to_thread(sys.stdin.readline)).strip() != "go":
        return
    guard = asyncio.get_running_loop().create_task(watchdog(connections))
    meter.finished = asyncio.Event()
    before = os.times()
    began = time.perf_counter()
    meter.deadline = began + seconds
    meter.running = count
    for connection in connections:
        connection.active = True
        connection.send()
    try:
        await asyncio.wait_for(meter.finished.wait(), seconds + REQUEST_TIMEOUT + 5)
    except TimeoutError:
        meter.error("load process did not finish", f"{meter.running} connections still busy")
    after = os.times()
    ended = time.perf_counter()
    guard.cancel()
    emit({"result": {
        "connections": count, "window_s": seconds, "wall_s": ended - began,
        "answered": len(meter.latencies), "late": meter.late,
        "latency_us": [round(x * 1e6) for x in meter.latencies],
        "errors": dict(meter.errors), "error_samples": meter.samples,
        "cpu_s": after.user + after.system - before.user - before.system}})
    for connection in connections:
        if connection.transport is not None:
            transport, connection.transport = connection.transport, None
            transport.abort()


def run_load(url: str, route: str, count: int, seconds: float) -> None:
    try:
        import uvloop
    except ImportError:  # plain asyncio: slower, still correct
        asyncio.run(load(url, route, count, seconds))
    else:
        uvloop.run(load(url, route, count, seconds))


class Load(LoadProcess):
    """A load process, driven over its stdin and stdout."""

    def __init__(self, url: str, route: str, count: int, seconds: float, log_path: Path) -> None:
        super().__init__([sys.executable, str(Path(__file__).resolve()), "load", "--url", url,
                          "--route", route, "--connections", str(count), "--seconds",
                          f"{seconds:g}"], log_path)

    def _next(self, key: str, timeout: float) -> dict[str, Any]:
        try:
            message = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"load process: no {key} after {timeout:.0f} s; "
                               f"see {self.log_path}") from None
        if not message or key not in message:
            self.process.wait(5)
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"load process ended without {key}: {' / '.join(tail)}")
        return message

    def wait_ready(self, timeout: float) -> None:
        bad = self._next("ready", timeout)["first_answers_bad"]
        if bad:
            raise RuntimeError(f"load process: first answers not as expected: {bad}")

    def result(self, timeout: float) -> dict[str, Any]:
        return dict(self._next("result", timeout)["result"])

    def stop(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()  # one waiting for "go" reads the end and exits
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- CPU from /proc ------------------------------------------------------------------------------


def server_cpu_seconds(pid: int) -> float:
    """utime + stime (+ reaped children's) of the server and its live descendants."""
    return float(tree_cpu({"the server": pid})["the server"]["cpu_s"])


# --- one phase, one run --------------------------------------------------------------------------


def split(connections: int, per_process: int) -> list[int]:
    """Connections of each load process: as even as can be, at most `per_process` each."""
    processes = max(1, math.ceil(connections / per_process))
    base, extra = divmod(connections, processes)
    return [base + (1 if index < extra else 0) for index in range(processes)]


def percentile(values: Sequence[float], percent: int) -> float:
    if not values:
        return math.nan
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


class Profiler:
    """py-spy recording the server for `seconds` (the caller waits for it, bounded)."""

    def __init__(self, pid: int, seconds: float, path: Path, log_path: Path) -> None:
        spy = Path(sys.executable).with_name("py-spy")
        command = [str(spy if spy.exists() else "py-spy"), "record", "-r", str(PROFILE_RATE),
                   "-f", "raw", "--nolineno", "--threads", "--nonblocking",
                   "-o", str(path), "-p", str(pid),
                   "-d", str(math.ceil(seconds) + 1)]  # from 1 s before the load to its end
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        self.path, self.log_path, self.seconds = path, log_path, seconds

    def wait(self) -> None:
        try:
            code = self.process.wait(self.seconds + 60)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TimeoutError(f"py-spy not done; see {self.log_path}") from None
        if code != 0 or not self.path.exists():
            raise RuntimeError(f"py-spy exited with {code}; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def phase(server: Server, route: str, connections: int, args: argparse.Namespace, work: Path,
          profile: Path | None = None) -> dict[str, Any]:
    """One route at one connection count for --seconds: the load processes' figures, CPU."""
    name = f"{route}-c{connections}{'-profiled' if profile else ''}"
    settling = time.monotonic()
    with server.client(timeout=10.0) as client:
        server.wait_for(client, lag_is_zero(), SETTLE_TIMEOUT)
    settle_s = time.monotonic() - settling
    loads = [Load(server.url, route, count, args.seconds, work / f"{name}-load{index}.log")
             for index, count in enumerate(split(connections, args.per_process))]
    spy = None
    try:
        for each in loads:
            each.wait_ready(READY_TIMEOUT)
        pid = server.process.pid
        if profile is not None:
            spy = Profiler(pid, args.seconds, profile, work / "py-spy.log")
            time.sleep(1.0)  # attached before the load starts
        server_before, busy_before = server_cpu_seconds(pid), machine_busy_seconds()
        began = time.monotonic()
        for each in loads:
            each.go()
        time.sleep(max(0.0, began + args.seconds - time.monotonic()))
        server_after, busy_after = server_cpu_seconds(pid), machine_busy_seconds()
        window = time.monotonic() - began
        results = [each.result(args.seconds + REQUEST_TIMEOUT + 30) for each in loads]
        if spy is not None:
            spy.wait()
    finally:
        for each in loads:
            each.stop()
        if spy is not None:
            spy.stop()
    if server.process.poll() is not None:
        raise RuntimeError(f"the server exited with {server.process.returncode} during {name}")
    latencies = sorted(us / 1000 for result in results for us in result["latency_us"])
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result["errors"])
    answered = sum(result["answered"] for result in results)
    server_cpu = server_after - server_before
    load_cpu = [result["cpu_s"] for result in results]
    busy = busy_after - busy_before
    return {
        "route": route, "connections": connections, "load_processes": len(results),
        "requests_per_s": answered / args.seconds, "answered": answered,
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else math.nan,
        "errors": sum(errors.values()), "errors_by_kind": dict(errors),
        "error_samples": [s for result in results for s in result["error_samples"]][:5],
        "late_answers": sum(result["late"] for result in results),
        "server_cpu_s": server_cpu, "server_cpu_pct": 100 * server_cpu / window,
        "load_cpu_s": load_cpu, "load_cpu_pct": 100 * sum(load_cpu) / args.seconds,
        "load_cpu_pct_busiest": 100 * max(load_cpu) / args.seconds,
        "machine_busy_pct": 100 * busy / window,
        "other_cpu_pct": 100 * (busy - server_cpu - sum(load_cpu)) / window,
        "window_s": window, "settle_s": settle_s,
    }


def warm_up(server: Server) -> None:
    with server.client(timeout=REQUEST_TIMEOUT) as client:
        for _ in range(WARM_UP_REQUESTS):
            if client.get("/livez").status_code != 200:
                raise RuntimeError("warm-up: GET /livez did not answer 200")
            response = client.post("/orders", json=ORDER)
            if response.status_code != 201:
                raise RuntimeError(f"warm-up: POST /orders {response.status_code} "
                                   f"{response.text[:300]}")


def one_run(args: argparse.Namespace, scratch: Path, run: int) -> dict[str, Any]:
    """A fresh server, every phase once; a failure comes back as {"failed": reason}."""
    work = scratch / f"run{run}"
    work.mkdir()
    options = ["--speed", f"{args.speed:g}", "--workers", str(args.workers), "--seed", "1"]
    server = Server.start(work / "data", work / "server.log", *options)
    found: dict[str, Any] = {"run": run, "phases": []}
    try:
        with server.client(timeout=10.0) as client:
            found["start_s"], _ = server.wait_for(client, lag_is_zero(), START_TIMEOUT)
        warm_up(server)
        for connections in args.connections:
            for route in ROUTES:
                figures = phase(server, route, connections, args, work)
                found["phases"].append(figures)
                print(f"  run {run}/{args.runs}: {brief(figures)}", flush=True)
        if args.profile and run == 1:
            path = args.out / "intake-profile.txt"
            figures = phase(server, "orders", args.profile_connections, args, work, path)
            found["profiled_phase"] = figures
            print(f"  run {run}/{args.runs}: under py-spy: {brief(figures)}", flush=True)
    except Exception as error:  # reported, and the other runs go on
        found["failed"] = f"{type(error).__name__}: {error}"
        print(f"  run {run}/{args.runs}: FAILED: {found['failed']}", flush=True)
    finally:
        server.stop()
    found["server_log_problems"] = [
        line[:300] for line in (work / "server.log").read_text(errors="replace").splitlines()
        if "ERROR" in line or "Traceback" in line][:20]
    return found


def brief(figures: dict[str, Any]) -> str:
    errors = f" {figures['errors_by_kind']}" if figures["errors"] else ""
    return (f"{ROUTES[figures['route']]} x{figures['connections']}: "
            f"{figures['requests_per_s']:.0f} req/s, p50 {figures['p50_ms']:.2f} ms, "
            f"p99 {figures['p99_ms']:.2f} ms, {figures['errors']} errors{errors}; CPU: server "
            f"{figures['server_cpu_pct']:.0f} %, load {figures['load_cpu_pct']:.0f} % "
            f"({figures['load_processes']} proc), other {figures['other_cpu_pct']:.0f} %")


# --- profile -------------------------------------------------------------------------------------


def thread_name(frame: str) -> str:
    """py-spy's root frame `thread (TID): NAME`, without the id and numbers (Thread-1, -2: one)."""
    return re.sub(r"\d+", "N", frame.partition(": ")[2] or frame)


def package(frame: str) -> str:
    """The first part of a frame's file (`f (aiosqlite/core.py)`: aiosqlite)."""
    file = frame[frame.rfind("(") + 1:].rstrip(")")
    return file.split("/", 1)[0].removesuffix(".py") if "/" in file or ".py" in file else file


def top_frames(path: Path, count: int) -> dict[str, Any]:
    """From py-spy's collapsed stacks (--threads: the root frame names the thread): samples by
    thread, self time by package, the functions with the most samples at the top of the stack
    (self), and the functions of src/mcburger on the stack (inclusive)."""
    threads: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frames = stack.split(";")
        total += int(samples)
        if frames[0].startswith("thread ("):
            threads[thread_name(frames[0])] += int(samples)
            frames = frames[1:] or frames
        own[frames[-1]] += int(samples)
        packages[package(frames[-1])] += int(samples)
        for frame in set(frames):
            if "mcburger/" in frame:
                inclusive[frame] += int(samples)

    def rows(counts: Counter[str], limit: int, key: str = "function") -> list[dict[str, Any]]:
        return [{key: f, "samples": n, "share": n / total} for f, n in counts.most_common(limit)]

    return {"samples": total, "threads": rows(threads, count, "thread"),
            "packages": rows(packages, count, "package"), "self": rows(own, count),
            "mcburger_inclusive": rows(inclusive, count)}


def print_profile(profile: dict[str, Any], path: Path) -> None:
    seconds = profile["samples"] / profile["rate_hz"]
    print(f"\npy-spy profile of the server, POST /orders x{profile['connections']} "
          f"({profile['samples']} samples of running threads at {profile['rate_hz']} Hz: "
          f"{seconds:.1f} thread-seconds busy; {path}):\n")
    for title, key, name in (("thread", "threads", "thread"),
                             ("self time by package", "packages", "package"),
                             ("self time (top of the stack)", "self", "function"),
                             ("inclusive time, src/mcburger functions", "mcburger_inclusive",
                              "function")):
        print(f"| {title} | samples | share |\n| --- | ---: | ---: |")
        for row in profile[key]:
            print(f"| `{row[name]}` | {row['samples']} | {row['share']:.1%} |")
        print()


# --- summary, tables, plot -----------------------------------------------------------------------

KEYS = ("requests_per_s", "p50_ms", "p99_ms", "errors", "server_cpu_pct", "load_cpu_pct",
        "load_cpu_pct_busiest", "other_cpu_pct", "settle_s")


def summarise(runs: Sequence[dict[str, Any]], connections: Sequence[int]) -> dict[str, Any]:
    done = [run for run in runs if "failed" not in run]
    rows: list[dict[str, Any]] = []
    for count in connections:
        found = {route: [next(p for p in run["phases"]
                              if p["route"] == route and p["connections"] == count)
                         for run in done] for route in ROUTES}
        for route in ROUTES:
            phases = found[route]
            rows.append({"connections": count, "route": route,
                         "load_processes": phases[0]["load_processes"] if phases else None,
                         **{key: spread([p[key] for p in phases]) if phases else None
                            for key in KEYS}})
        pairs = list(zip(found["orders"], found["livez"], strict=True))
        rows.append({"connections": count, "route": "ratio",
                     "requests_per_s": spread([post["requests_per_s"] / live["requests_per_s"]
                                               for post, live in pairs
                                               if live["requests_per_s"]]) if pairs else None})
    return {"runs": len(runs), "done": len(done), "rows": rows}


def cell(figures: dict[str, float] | None, fmt: str) -> str:
    """Median (min-max)."""
    if figures is None:
        return "—"
    median, low, high = (figures[k] for k in ("median", "min", "max"))
    return f"{median:{fmt}} ({low:{fmt}}-{high:{fmt}})"


def table(summary: dict[str, Any]) -> str:
    lines = ["| connections | route | req/s | p50 ms | p99 ms | errors | server CPU % "
             "| load CPU % (processes) | other CPU % |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in summary["rows"]:
        if row["route"] == "ratio":
            lines.append(f"| {row['connections']} | **POST / livez** | "
                         f"**{cell(row['requests_per_s'], '.2f')}** | | | | | | |")
            continue
        lines.append(
            f"| {row['connections']} | {ROUTES[row['route']]} | "
            f"{cell(row['requests_per_s'], '.0f')} | {cell(row['p50_ms'], '.2f')} | "
            f"{cell(row['p99_ms'], '.2f')} | {cell(row['errors'], '.0f')} | "
            f"{cell(row['server_cpu_pct'], '.0f')} | {cell(row['load_cpu_pct'], '.0f')} "
            f"({row['load_processes']}) | {cell(row['other_cpu_pct'], '.0f')} |")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["summary"]["rows"]
    if not report["summary"]["done"]:
        return
    fig, (rate_ax, latency_ax, ratio_ax) = plt.subplots(1, 3, figsize=(15, 4.6))
    for route, style in (("livez", {"ls": "--", "marker": "s"}), ("orders", {})):
        mine = [row for row in rows if row["route"] == route]
        xs = [row["connections"] for row in mine]
        errorbar(rate_ax, xs, [row["requests_per_s"] for row in mine], ROUTES[route], **style)
        for key, extra in (("p50_ms", {}), ("p99_ms", {"alpha": 0.6})):
            errorbar(latency_ax, xs, [row[key] for row in mine],
                     f"{ROUTES[route]} {key[:3]}", **style, **extra)
    ratios = [row for row in rows if row["route"] == "ratio"]
    errorbar(ratio_ax, [row["connections"] for row in ratios],
             [row["requests_per_s"] for row in ratios], "POST /orders req/s / GET /livez req/s")
    ratio_ax.axhline(0.5, color="grey", ls="--", lw=1, label="target: >= 0.5")
    ratio_ax.set_ylim(0, max(1.0, ratio_ax.get_ylim()[1]))
    options = report["options"]
    rate_ax.set(ylabel="answered requests/s (log)", yscale="log",
                title="Throughput, closed loop (median, min-max)")
    latency_ax.set(ylabel="ms (log)", yscale="log", title="Latency (median, min-max)")
    ratio_ax.set(ylabel="POST rate / livez rate", title="POST /orders against the no-op route")
    connections = sorted({row["connections"] for row in rows})
    for ax in (rate_ax, latency_ax, ratio_ax):
        ax.set_xscale("log", base=2)
        ax.set_xticks(connections, [str(c) for c in connections])
        ax.set_xlabel("concurrent connections")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    info = report["machine"]
    fig.suptitle(f"Intake: `mcburger run --speed {options['speed']:g} --workers "
                 f"{options['workers']}`, {options['seconds']:g} s a phase, "
                 f"median of {report['summary']['done']} run(s); {info['nproc']} CPUs, "
                 f"{info['cpu']}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        parser = argparse.ArgumentParser(prog="intake.py load")
        parser.add_argument("--url", required=True)
        parser.add_argument("--route", choices=ROUTES, required=True)
        parser.add_argument("--connections", type=int, required=True)
        parser.add_argument("--seconds", type=float, required=True)
        load_args = parser.parse_args(sys.argv[2:])
        if urlsplit(load_args.url).hostname != "127.0.0.1":
            raise SystemExit("only 127.0.0.1")
        run_load(load_args.url, load_args.route, load_args.connections, load_args.seconds)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0, help="of each phase")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--speed", type=float, default=100000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--per-process", type=int, default=32,
                        help="at most this many connections a load process")
    parser.add_argument("--profile", action="store_true",
                        help="one more POST phase in the first run under py-spy (not counted)")
    parser.add_argument("--profile-connections", type=int, default=8)
    add_run_options(parser, "intake", OUT)
    args = parser.parse_args()
    if replotted(args, "intake", plot, CACHE):
        return
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    print_machine(info)
    print(f"client: {CLIENT}; load processes: ceil(C / {args.per_process}); "
          f"{args.seconds:g} s a phase; POST body {json.dumps(ORDER)}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="mcburger-intake-"))
    runs = []
    try:
        for run in range(1, args.runs + 1):
            runs.append(one_run(args, scratch, run))
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    summary = summarise(runs, args.connections)
    print()
    print(table(summary))
    busy = [f"{row['connections']} {ROUTES[row['route']]}" for row in summary["rows"]
            if row["route"] != "ratio" and row["other_cpu_pct"]
            and row["other_cpu_pct"]["max"] > OTHER_WARNING]
    if busy:
        print(f"\nWARNING: something else used more than {OTHER_WARNING} % of a core during: "
              + ", ".join(busy) + " (the \"other CPU\" column); those figures are not clean")
    failed = [f"run {run['run']}: {run['failed']}" for run in runs if "failed" in run]
    if failed:
        print("\nfailed: " + "; ".join(failed))
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nload average at end: {info['load_average_at_end']}")
    report: dict[str, Any] = {
        "command": command_line(), "machine": info, "client": CLIENT,
        "options": {"runs": args.runs, "seconds": args.seconds,
                    "connections": args.connections, "speed": args.speed,
                    "workers": args.workers, "seed": 1, "per_process": args.per_process,
                    "order": ORDER, "request_timeout_s": REQUEST_TIMEOUT,
                    "warm_up_requests": WARM_UP_REQUESTS},
        "summary": summary, "runs": runs}
    profiled = args.out / "intake-profile.txt"
    if args.profile and runs and "profiled_phase" in runs[0] and profiled.exists():
        report["profile"] = {"file": profiled.name, "rate_hz": PROFILE_RATE,
                             "connections": args.profile_connections,
                             **top_frames(profiled, PROFILE_TOP)}
        print_profile(report["profile"], profiled)
    write_json(args.out / "intake.json", report)
    print(f"wrote {args.out / 'intake.json'}")
    if summary["done"]:
        plot(report, args.out / "intake.png")
        print(f"wrote {args.out / 'intake.png'}")


if __name__ == "__main__":
    main()
