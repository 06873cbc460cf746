"""Benchmark: the board's fan-out to many clients, with Centrifugo as a peer (issue 11, item 2).

    .venv/bin/python benchmarks/fanout.py [--clients 1000 5000 10000] [--transports ws sse poll]
        [--runs 5] [--slow-share 0.01] [--peer centrifugo] [--board-feeds N]

Each run starts a fresh `mcburger run` on 127.0.0.1 (a new data directory; `--workers 1
--speed 0.0001`: the one worker spends weeks on its first favourite, so every cola ordered stays
REQUESTED, the kitchen does nothing while we measure and each order makes exactly one board
change, as each publication to the peer is one message). Then:

- load-generator processes (benchmarks/fanout_clients.py, one per --per-process clients, 1,000 by
  default, on uvloop) open the clients of one transport: WebSocket /board/ws, SSE /board/events,
  or long-poll (GET /board, then /board/poll?since=V&timeout=25 again and again), one connection
  each; SSE and long-poll over a small HTTP/1.1 client of their own (httpx's pool made the client
  processes the bottleneck: at 100 long-poll clients, 3.9 s of client CPU and p50 1.8 s, against
  0.0 s and 26 ms; `--http-client httpx` measures it again);
- once every client has its snapshot, the driver places --orders orders (one cola each) one every
  --interval s (or as soon as the previous POST answered, when that takes longer), noting the
  wall time just before each POST /orders starts;
- each client notes the wall time it parsed each order's REQUESTED change (same machine, so
  `time.time()` is comparable across processes); a delivery's latency is receipt - POST start.
  On our server that includes placing the order (the POST appends the event and the views
  projection writes the board change the feeds send; its own latency is in the JSON, post_ms).

Reported per transport and client count, median (min-max) of --runs runs: p50 and p99 of the
latency over every (client, order) pair; messages/s (every change message the clients received,
divided by the seconds from the first POST to the last receipt); the share of expected deliveries
still missing --delivery-timeout s after the last POST; the server's peak VmRSS (sampled every
0.2 s) and its CPU seconds (utime + stime in /proc/PID/stat) while the clients connect and while
the orders are delivered, and the latter per message delivered.

With --board-feeds N, N `mcburger serve board-feeds` processes share one port beside the run
and our clients connect there (the kernel spreads them over the N); the orders still go to the
run. RSS and CPU are then summed over the run and its board-feeds processes (peak of the sum),
and `cpu_delivery_s_first_process` is the run's own share of the delivery CPU.

How to read them. With the orders paced, messages/s is the offered rate (clients x orders / about
--orders x --interval s) until a server falls behind; below that, the latency and the CPU a
message tell servers apart. A latency includes the client process's own time to work through a
burst (every client of a process gets the same change at once): about the clients of a process
times the clients' CPU a message (reported), the same for every server measured; and on a
machine with few cores the clients and the server share them.

`ws+slow`: a --slow-share of the WebSocket clients finish the handshake and never read again (a
raw socket with the smallest receive buffer: what they are sent stays in the kernel's buffers,
and the bytes left unread there are reported, and how many the server closed); the latency is
that of the clients that do read. --orders small messages fit the kernel's buffers, so a server
that does not wait on a slow client is not held up by one; more orders would fill them.

The peer: Centrifugo v6 (built by scripts/centrifugo) with a generated configuration, on
127.0.0.1 and a free port, the same number of WebSocket clients speaking its JSON client protocol
(`connect`, then `subscribe` to one channel of a namespace open to anonymous subscribers), and
the driver publishing a body shaped like our change message through its HTTP API
(POST /api/publish, X-API-Key) at the same pace; measured the same way, also with slow clients
(`centrifugo+slow`). Our WebSocket clients offer permessage-deflate, as browsers do, and our
server accepts it (`--no-deflate` to not offer it); Centrifugo does not compress unless
configured to. Reported: our WebSocket messages/s and p99 divided by Centrifugo's.

Runs are interleaved (each variant once, then again). A run that fails is reported and skipped.
Prints a markdown table, writes docs/benchmarks/fanout.json and fanout.png (`--out DIR` to write
elsewhere). Everything goes to 127.0.0.1 only; every process started is stopped by its id at the
end, and every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
from _server import (
    HOST,
    ROOT,
    Server,
    command_line,
    errorbar,
    free_port,
    machine,
    mcburger_command,
    print_machine,
    spread,
    write_json,
)

OUT = ROOT / "docs" / "benchmarks"
CLIENTS_SCRIPT = Path(__file__).resolve().with_name("fanout_clients.py")
BUILD_PEER = ROOT / "scripts" / "centrifugo"
ORDER = {"items": [{"item": "cola", "quantity": 1}]}
QUIET_KITCHEN = ("--workers", "1", "--speed", "0.0001")
CHANNEL = "board:changes"
SAMPLE_SECONDS = 0.2
START_TIMEOUT = 60.0
STOP_SECONDS = 15.0
BUILD_TIMEOUT = 1800.0
PER_PROCESS = 1000
PROBLEM = re.compile(r"\b(ERROR|CRITICAL|Traceback|panic)\b|\"level\":\"(error|fatal)\"")


@dataclass(frozen=True)
class Variant:
    name: str
    transport: str  # what fanout_clients.py opens
    slow: bool = False

    @property
    def peer(self) -> bool:
        return self.transport == "centrifugo"


# --- the servers under test ---------------------------------------------------------------------


class Ours:
    """A fresh `mcburger run` with a quiet kitchen; an order is a POST /orders. With
    `board_feeds` > 0, that many `mcburger serve board-feeds` processes beside it, sharing one
    port (SO_REUSEPORT), which the clients connect to: the run only takes the orders."""

    def __init__(self, work: Path, board_feeds: int = 0) -> None:
        self.server = Server.start_caught_up(work, START_TIMEOUT, *QUIET_KITCHEN)
        self.url = self.server.url
        self.pids, self.log_paths = [self.server.process.pid], [self.server.log_path]
        self.feeds: list[subprocess.Popen[bytes]] = []
        self.client_url = self.url
        try:
            if board_feeds:
                self._start_board_feeds(work, board_feeds)
        except BaseException:
            self.stop()
            raise

    def _start_board_feeds(self, work: Path, count: int) -> None:
        port = free_port()
        for index in range(count):
            log_path = work / f"board-feeds-{index}.log"
            with log_path.open("wb") as log:
                self.feeds.append(subprocess.Popen(
                    [*mcburger_command(), "serve", "board-feeds", "--host", HOST,
                     "--port", str(port), "--data-dir", str(self.server.data_dir)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            self.pids.append(self.feeds[-1].pid)
            self.log_paths.append(log_path)
        self.client_url = f"http://{HOST}:{port}"
        # Each says where it listens once it has started (they share the port, so /healthz
        # alone cannot tell which of them answered)
        deadline = time.monotonic() + START_TIMEOUT
        for process, log_path in zip(self.feeds, self.log_paths[1:], strict=True):
            while b"listening on" not in log_path.read_bytes():
                if process.poll() is not None:
                    raise RuntimeError(f"board-feeds exited; see {log_path}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"board-feeds not listening; see {log_path}")
                time.sleep(0.05)

    def publish(self, client: httpx.Client, _index: int) -> tuple[int, float]:
        started = time.time()
        response = client.post(f"{self.url}/orders", json=ORDER)
        response.raise_for_status()
        return int(response.json()["number"]), started

    def stop(self) -> None:
        for process in self.feeds:
            stop_process(process)
        self.server.stop()


class Centrifugo:
    """Centrifugo on 127.0.0.1 and a free port; an order is a publication to CHANNEL."""

    def __init__(self, binary: Path, work: Path) -> None:
        port, self.key = free_port(), secrets.token_hex(16)
        config = work / "centrifugo.json"
        namespace, _ = CHANNEL.split(":", 1)
        config.write_text(json.dumps({
            "http_server": {"address": HOST, "port": port},
            "http_api": {"key": self.key},
            # Anonymous connections without a token; a subscriber of the namespace needs both
            # flags (allow_subscribe_for_client alone is for authenticated users).
            "client": {"allow_anonymous_connect_without_token": True},
            "channel": {"namespaces": [{"name": namespace, "allow_subscribe_for_client": True,
                                        "allow_subscribe_for_anonymous": True}]},
            "health": {"enabled": True},
            "usage_stats": {"disabled": True},
            "log": {"level": "warn"},
        }, indent=1))
        self.url, self.log_path = f"http://{HOST}:{port}", work / "centrifugo.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen([str(binary), "--config", str(config)], cwd=work,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        self.pids, self.log_paths, self.client_url = [self.process.pid], [self.log_path], self.url
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"centrifugo exited; see {self.log_path}")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise TimeoutError(f"centrifugo not healthy; see {self.log_path}")

    def publish(self, client: httpx.Client, index: int) -> tuple[int, float]:
        number = index + 1
        change = {"version": number, "number": number, "status": "REQUESTED",
                  "estimated_ready_at": (datetime.now(UTC) + timedelta(minutes=3)).isoformat()}
        started = time.time()
        response = client.post(f"{self.url}/api/publish", headers={"X-API-Key": self.key},
                               json={"channel": CHANNEL, "data": change})
        response.raise_for_status()
        if "error" in response.json():
            raise RuntimeError(f"centrifugo refused the publication: {response.text}")
        return number, started

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after a bound; only the process we started, by its id."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- what the server uses -----------------------------------------------------------------------


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the processes (the server's: one, or a run and its board-feeds), from
    /proc/PID/stat."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mib(pids: Sequence[int]) -> float:
    """The processes' VmRSS, summed."""
    total = 0.0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


class PeakRss(threading.Thread):
    """Samples the processes' summed VmRSS every SAMPLE_SECONDS until stopped; keeps the peak."""

    def __init__(self, pids: Sequence[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak, self._done = pids, rss_mib(pids), threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            try:
                self.peak = max(self.peak, rss_mib(self.pids))
            except OSError:  # a process is gone
                return

    def stop(self) -> float:
        self._done.set()
        if self.is_alive():
            self.join(5)
        return self.peak


# --- the load-generator processes ---------------------------------------------------------------


class ClientProcess:
    """One fanout_clients.py process; its JSON lines are read by a thread into a queue."""

    def __init__(self, transport: str, url: str, count: int, slow: int, args: argparse.Namespace,
                 log_path: Path) -> None:
        command = [sys.executable, str(CLIENTS_SCRIPT), "--transport", transport, "--url", url,
                   "--count", str(count), "--slow", str(slow), "--channel", CHANNEL,
                   "--connect-timeout", str(args.connect_timeout)]
        if args.no_deflate:
            command.append("--no-deflate")
        command += ["--http-client", args.http_client, f"--loop={args.client_loop}"]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=log, text=True)
        self.log_path = log_path
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            if line.strip():
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def wait(self, key: str, timeout: float) -> dict[str, Any]:
        try:
            message = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no {key!r} from a client process in {timeout:.0f} s; "
                               f"see {self.log_path}") from None
        if message is None or key not in message:
            raise RuntimeError(f"a client process ended without {key!r}; see {self.log_path}")
        result: dict[str, Any] = message[key]
        return result

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# --- one run ------------------------------------------------------------------------------------


def measure(variant: Variant, clients: int, args: argparse.Namespace, scratch: Path,
            binary: Path | None) -> dict[str, Any]:
    """One run: a fresh server, `clients` clients of one transport, paced orders."""
    with tempfile.TemporaryDirectory(dir=scratch) as temporary:
        work = Path(temporary)
        target: Ours | Centrifugo = (Centrifugo(binary, work) if binary and variant.peer
                                     else Ours(work, args.board_feeds))
        processes: list[ClientProcess] = []
        pids = target.pids
        sampler = PeakRss(pids)
        try:
            rss_idle, cpu_start = rss_mib(pids), cpu_seconds(pids)
            sampler.start()
            connect_began = time.monotonic()
            processes = start_clients(variant, clients, target.client_url, args, work)
            readies = [p.wait("ready", args.connect_timeout + 60) for p in processes]
            connect_s = time.monotonic() - connect_began
            cpu_connected, rss_connected = cpu_seconds(pids), rss_mib(pids)
            cpu_first_connected = cpu_seconds(pids[:1])
            posted, post_ms = place_orders(target, args.orders, args.interval)
            for process in processes:
                process.send({"orders": posted, "timeout": args.delivery_timeout})
            results = [p.wait("result", args.delivery_timeout + 60) for p in processes]
            delivered_at = time.time()
            cpu_end, cpu_first_end = cpu_seconds(pids), cpu_seconds(pids[:1])
        finally:
            rss_peak = sampler.stop()
            for process in processes:
                process.kill()
            measured_logs = [log_size(path) for path in target.log_paths]
            target.stop()
        messages = sum(r["messages"] for r in results)
        return summarise_run(variant, clients, readies, results, posted, post_ms) | {
            "connect_s": connect_s, "rss_idle_mib": rss_idle, "rss_connected_mib": rss_connected,
            "rss_peak_mib": rss_peak, "cpu_connect_s": cpu_connected - cpu_start,
            "cpu_delivery_s": cpu_end - cpu_connected,
            "cpu_us_per_message": (cpu_end - cpu_connected) * 1e6 / messages if messages else None,
            # With board-feeds processes: the share of the delivery CPU that was the run's
            # (taking the orders), the rest theirs
            "cpu_delivery_s_first_process": cpu_first_end - cpu_first_connected,
            "processes_measured": len(pids),
            "delivery_wall_s": delivered_at - min(posted.values()),
            "log_problems": [line for path, size in zip(target.log_paths, measured_logs,
                                                        strict=True)
                             for line in log_problems(path, 0, size)],
            "log_problems_at_stop": sum(len(log_problems(path, size, None)) for path, size in
                                        zip(target.log_paths, measured_logs, strict=True))}


def start_clients(variant: Variant, clients: int, url: str, args: argparse.Namespace,
                  work: Path) -> list[ClientProcess]:
    slow = round(clients * args.slow_share) if variant.slow else 0
    parts = max(1, math.ceil(clients / args.per_process))
    processes = []
    for i, (count, slow_count) in enumerate(zip(split(clients - slow, parts), split(slow, parts),
                                                strict=True)):
        processes.append(ClientProcess(variant.transport, url, count, slow_count, args,
                                       work / f"clients-{i}.log"))
    return processes


def place_orders(target: Ours | Centrifugo, orders: int,
                 interval: float) -> tuple[dict[str, float], list[float]]:
    """One order (or publication) every `interval` s; the wall time each POST started."""
    posted: dict[str, float] = {}
    post_ms = []
    with httpx.Client(timeout=30) as client:
        began = time.monotonic()
        for index in range(orders):
            time.sleep(max(0.0, began + index * interval - time.monotonic()))
            number, started = target.publish(client, index)
            post_ms.append((time.time() - started) * 1000)
            posted[str(number)] = started
    return posted, post_ms


def summarise_run(variant: Variant, clients: int, readies: list[dict[str, Any]],
                  results: list[dict[str, Any]], posted: dict[str, float],
                  post_ms: list[float]) -> dict[str, Any]:
    latencies = sorted(x for r in results for x in r["latencies_ms"])
    expected = sum(r["expected"] for r in results)
    lasts = [r["last_receipt"] for r in results if r["last_receipt"]]
    messages = sum(r["messages"] for r in results)
    span = max(lasts) - min(posted.values()) if lasts else None
    errors: dict[str, int] = {}
    for report in [*readies, *results]:
        for key, n in report["errors"].items():
            errors[key] = errors.get(key, 0) + n
    unread = [n for r in results for n in r["slow_unread_bytes"]]
    return {
        "variant": variant.name, "clients": clients, "processes": len(readies),
        "connected": sum(r["connected"] for r in readies),
        "failed": sum(r["failed"] for r in readies),
        "slow": sum(r["slow"] for r in readies),
        "slow_failed": sum(r["slow_failed"] for r in readies),
        "extensions": sorted({e for r in readies for e in r["extensions"]}),
        "orders": len(posted), "post_ms": spread(post_ms),
        "latency_ms": percentiles(latencies), "deliveries": len(latencies),
        "expected": expected, "missing_share": (expected - len(latencies)) / expected
        if expected else 1.0,
        # Which orders' changes were still missing, and how many clients missed each
        "missing_by_order": {number: sum(r.get("missing_by_order", {}).get(number, 0)
                                         for r in results)
                             for number in sorted({n for r in results
                                                   for n in r.get("missing_by_order", {})},
                                                  key=int)},
        "messages": messages, "messages_per_s": messages / span if span else 0.0,
        "closed_early": sum(r["closed"] for r in results),
        "client_cpu_s": sum(r["client_cpu_s"] for r in results),
        "client_cpu_us_per_message": sum(r["client_cpu_s"] for r in results) * 1e6 / messages
        if messages else None,
        "slow_unread_bytes": spread(unread) if unread else None,
        "slow_peer_closed": sum(r["slow_peer_closed"] for r in results),
        "errors": errors}


def percentiles(ordered: Sequence[float]) -> dict[str, float] | None:
    """Nearest-rank percentiles of a sorted list."""
    if not ordered:
        return None

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "p999": at(0.999),
            "max": ordered[-1]}


def log_size(log_path: Path) -> int:
    return log_path.stat().st_size if log_path.exists() else 0


def log_problems(log_path: Path, start: int, end: int | None) -> list[str]:
    """Error lines logged between two offsets. Those logged once the clients are gone and the
    server stops (long polls cancelled by the shutdown, say) are counted apart."""
    if not log_path.exists():
        return []
    with log_path.open("rb") as log:
        log.seek(start)
        text = log.read(None if end is None else end - start).decode(errors="replace")
    return [line for line in text.splitlines() if PROBLEM.search(line)][:20]


# --- many runs ----------------------------------------------------------------------------------


SUMMARISED = ("messages_per_s", "missing_share", "rss_peak_mib", "cpu_delivery_s",
              "cpu_us_per_message", "cpu_connect_s", "connect_s", "client_cpu_us_per_message")


def summarise(variant: str, clients: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"variant": variant, "clients": clients, "runs": runs}
    for key in SUMMARISED:
        values = [run[key] for run in runs if run[key] is not None]
        summary[key] = spread(values) if values else None
    for key in ("p50", "p99"):
        values = [run["latency_ms"][key] for run in runs if run["latency_ms"]]
        summary[f"{key}_ms"] = spread(values) if values else None
    return summary


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our WebSocket messages/s divided by Centrifugo's (median over runs), per client count."""
    found = {(r["variant"], r["clients"]): r for r in results}
    rows = []
    for ours, peer in (("ws", "centrifugo"), ("ws+slow", "centrifugo+slow")):
        for clients in sorted({r["clients"] for r in results}):
            if (ours, clients) in found and (peer, clients) in found:
                a, b = found[(ours, clients)], found[(peer, clients)]
                rows.append({"ours": ours, "peer": peer, "clients": clients,
                             "messages_per_s_ratio": a["messages_per_s"]["median"]
                             / b["messages_per_s"]["median"]
                             if b["messages_per_s"]["median"] else None,
                             "p99_ratio": a["p99_ms"]["median"] / b["p99_ms"]["median"]
                             if a["p99_ms"] and b["p99_ms"] else None})
    return rows


def table(results: Sequence[dict[str, Any]]) -> str:
    rows = ["| transport | clients | runs | p50 ms | p99 ms | messages/s | not delivered "
            "| server RSS peak, MiB | server CPU s, delivery | server CPU µs a message "
            "| server CPU s, connect | connect s | clients' CPU µs a message |",
            "| --- | ---: | ---: | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        rows.append(
            f"| {r['variant']} | {r['clients']:,} | {len(r['runs'])} | {cell(r['p50_ms'], '.1f')} "
            f"| {cell(r['p99_ms'], '.1f')} | {cell(r['messages_per_s'], ',.0f')} "
            f"| {cell(r['missing_share'], '.2%')} | {cell(r['rss_peak_mib'], '.0f')} "
            f"| {cell(r['cpu_delivery_s'], '.2f')} | {cell(r['cpu_us_per_message'], '.0f')} "
            f"| {cell(r['cpu_connect_s'], '.2f')} "
            f"| {cell(r['connect_s'], '.1f')} | {cell(r['client_cpu_us_per_message'], '.0f')} |")
    return "\n".join(rows)


def cell(figures: dict[str, float] | None, fmt: str) -> str:
    """Median (min-max)."""
    if figures is None:
        return "—"
    return f"{figures['median']:{fmt}} ({figures['min']:{fmt}}-{figures['max']:{fmt}})"


def plot(results: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (latency_ax, rate_ax, rss_ax, cpu_ax) = plt.subplots(1, 4, figsize=(19, 4.6))
    variants = list(dict.fromkeys(r["variant"] for r in results))
    colors = {name: f"C{i}" for i, name in enumerate(variants)}
    for name in variants:
        rows = sorted((r for r in results if r["variant"] == name), key=lambda r: r["clients"])
        clients = [r["clients"] for r in rows]
        timed = [r for r in rows if r["p99_ms"]]
        errorbar(latency_ax, [r["clients"] for r in timed], [r["p99_ms"] for r in timed],
                 f"{name} p99", color=colors[name])
        errorbar(latency_ax, [r["clients"] for r in timed], [r["p50_ms"] for r in timed],
                 f"{name} p50", color=colors[name], ls=":", marker="x")
        errorbar(rate_ax, clients, [r["messages_per_s"] for r in rows], name, color=colors[name])
        errorbar(rss_ax, clients, [r["rss_peak_mib"] for r in rows], name, color=colors[name])
        errorbar(cpu_ax, clients, [r["cpu_delivery_s"] for r in rows], name, color=colors[name])
    latency_ax.set(ylabel="ms from POST start to receipt", yscale="log",
                   title="Delivery latency (median of runs, min-max)")
    rate_ax.set(ylabel="change messages / s", title="Messages delivered per second")
    rss_ax.set(ylabel="MiB", title="Server peak resident memory")
    cpu_ax.set(ylabel="CPU seconds", title="Server CPU while orders are delivered")
    sizes = sorted({r["clients"] for r in results})
    for ax in (latency_ax, rate_ax, rss_ax, cpu_ax):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("clients")
        if ax is not latency_ax:
            ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncol=2 if ax is latency_ax else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def brief(run: dict[str, Any]) -> str:
    latency = run["latency_ms"]
    timing = (f"p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms" if latency
              else "nothing delivered")
    slow = (f", {run['slow']} slow ({run['slow_peer_closed']} closed by the server, unread "
            f"{run['slow_unread_bytes']['median']:.0f} B median)"
            if run["slow"] and run["slow_unread_bytes"] else "")
    return (f"{run['connected']:,} connected ({run['failed']} failed){slow}, {timing}, "
            f"{run['messages_per_s']:,.0f} messages/s, {run['missing_share']:.2%} missing, "
            f"RSS {run['rss_idle_mib']:.0f}->{run['rss_peak_mib']:.0f} MiB, CPU "
            f"{run['cpu_connect_s']:.1f} s connect + {run['cpu_delivery_s']:.1f} s delivery, "
            f"clients' CPU {run['client_cpu_s']:.1f} s"
            + (f", {len(run['log_problems'])} log problem lines" if run["log_problems"] else ""))


def variants(args: argparse.Namespace) -> list[Variant]:
    chosen = [Variant(t, t) for t in args.transports]
    if args.slow_share > 0 and "ws" in args.transports:
        chosen.insert(args.transports.index("ws") + 1, Variant("ws+slow", "ws", slow=True))
    if args.peer == "centrifugo":
        chosen.append(Variant("centrifugo", "centrifugo"))
        if args.slow_share > 0:
            chosen.append(Variant("centrifugo+slow", "centrifugo", slow=True))
    return chosen


def peer_binary() -> Path:
    """The Centrifugo binary scripts/centrifugo builds (once) and names."""
    built = subprocess.run([str(BUILD_PEER)], capture_output=True, text=True, check=False,
                           timeout=BUILD_TIMEOUT)
    if built.returncode != 0:
        raise SystemExit(f"scripts/centrifugo failed:\n{built.stderr[-2000:]}")
    return Path(built.stdout.strip().splitlines()[-1])


def raise_open_files_limit(clients: int) -> None:
    """Every connection is a descriptor in the server too; children inherit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < clients + 1000:
        print(f"warning: the open-files limit is {hard}; {clients:,} clients need more",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--transports", nargs="+", choices=("ws", "sse", "poll"),
                        default=["ws", "sse", "poll"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slow-share", type=float, default=0.01,
                        help="share of WebSocket clients that never read (0: no slow variant)")
    parser.add_argument("--peer", choices=("centrifugo", "none"), default="centrifugo")
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between orders")
    parser.add_argument("--delivery-timeout", type=float, default=10.0,
                        help="after the last order, how long a missing delivery is waited for")
    parser.add_argument("--connect-timeout", type=float, default=300.0)
    parser.add_argument("--per-process", type=int, default=PER_PROCESS,
                        help="clients per load-generator process")
    parser.add_argument("--no-deflate", action="store_true",
                        help="our WebSocket clients do not offer permessage-deflate")
    parser.add_argument("--http-client", choices=("raw", "httpx"), default="raw",
                        help="how SSE and long-poll clients speak HTTP (httpx: to compare)")
    parser.add_argument("--client-loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--board-feeds", type=int, default=0,
                        help="our clients connect to this many `mcburger serve board-feeds` "
                             "processes on one port beside the run (0: to the run itself)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--replot", action="store_true",
                        help="only redraw fanout.png from the fanout.json in --out")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads((args.out / "fanout.json").read_text())["results"],
             args.out / "fanout.png")
        return
    # A SIGTERM unwinds like Ctrl-C, through the finally blocks that stop what was started.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(128 + signal.SIGTERM))
    raise_open_files_limit(max(args.clients))
    binary = peer_binary() if args.peer == "centrifugo" else None
    info = machine()
    print_machine(info)
    chosen = variants(args)
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    failures: list[dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="mcburger-fanout-"))
    try:
        # Interleaved, so a drift in the machine's load spreads over every variant.
        for clients in args.clients:
            for run in range(args.runs):
                for variant in chosen:
                    label = f"  {variant.name}, {clients:,} clients, run {run + 1}/{args.runs}"
                    try:
                        measured = measure(variant, clients, args, scratch, binary)
                    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as error:
                        # One failed run (a client process that died, a server that did not
                        # start) is reported, not allowed to lose an hour of others.
                        failures.append({"variant": variant.name, "clients": clients,
                                         "run": run + 1, "error": str(error)})
                        print(f"{label}: FAILED: {error}", flush=True)
                        continue
                    runs.setdefault((variant.name, clients), []).append(measured)
                    print(f"{label}: {brief(measured)}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results = [summarise(name, clients, measured) for (name, clients), measured in runs.items()]
    print(table(results))
    compared = ratios(results)
    for row in compared:
        ratio = row["messages_per_s_ratio"]
        print(f"{row['ours']} / {row['peer']} at {row['clients']:,} clients: messages/s ratio "
              + (f"{ratio:.3f}" if ratio else "—")
              + (f", p99 ratio {row['p99_ratio']:.2f}" if row["p99_ratio"] else ""))
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average at end: {info['load_average_at_end']}")
    settings = {key: getattr(args, key) for key in (
        "orders", "interval", "delivery_timeout", "slow_share", "per_process", "no_deflate",
        "http_client", "client_loop", "board_feeds")}
    settings["server_options"] = " ".join(QUIET_KITCHEN)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "fanout.json", {"command": command_line(), "machine": info,
                                          "settings": settings, "results": results,
                                          "ratios": compared, "failures": failures})
    plot(results, args.out / "fanout.png")
    print(f"wrote {args.out / 'fanout.json'} and {args.out / 'fanout.png'}")


if __name__ == "__main__":
    main()
