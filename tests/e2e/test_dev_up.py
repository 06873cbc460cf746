"""The newcomer's command: scripts/dev-up starts the engines and every service, an order placed
on the API reaches the board service, and scripts/dev-down stops it all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _ports() -> dict[str, str]:
    """Ten consecutive free ports below the kernel's ephemeral range: six services, PostgreSQL,
    FerretDB, Kafka and its controller (Kafka+1). A port from bind(0) lies inside that range,
    where any outgoing connection may take it (or the port after it) before dev-up binds."""
    first = _free_block(10)
    return {"MCBURGER_BASE_PORT": str(first), "PG_PORT": str(first + 6),
            "MONGO_PORT": str(first + 7), "KAFKA_PORT": str(first + 8)}


def _free_block(size: int) -> int:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    upper = low - size if low - size > 20000 else 30000  # (a range starting low: any will do)
    for _ in range(100):
        first = random.randrange(20000, upper)
        try:
            with contextlib.ExitStack() as held:
                for port in range(first, first + size):
                    probe = held.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise RuntimeError(f"no {size} consecutive free ports between 20000 and {upper}")


async def test_dev_up_serves_an_order_to_the_board_and_dev_down_stops_it(tmp_path: Path) -> None:
    if not (REPO / ".cache" / "kafka" / "libs").is_dir():
        pytest.skip("scripts/install-kafka has not fetched the broker")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MCBURGER_")}, **_ports()}
    # As the README has it: options first, no DIR, so .dev in the current directory
    root = tmp_path / ".dev"
    command = [str(REPO / "scripts" / "dev-up"), "--speed", "200"]

    def dev_up() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600, check=False)

    up = await asyncio.to_thread(dev_up)
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        base = int(env["MCBURGER_BASE_PORT"])
        api, board = f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 1}"
        assert api in up.stdout and f"{board}/board" in up.stdout, up.stdout
        async with httpx.AsyncClient(timeout=15.0) as client:  # a customer: no token
            placed = await client.post(f"{api}/orders",
                                       json={"items": [{"item": "hamburger", "quantity": 1}]})
            assert placed.status_code == 201, placed.text
            number = placed.json()["number"]

            async def on_the_board() -> bool:
                shown = (await client.get(f"{board}/board")).json()
                return number in shown["ready"]

            await wait_until(on_the_board, 60.0, f"order {number} READY on the board service")

            # staff routes: one token for every service, in a file only its owner reads
            token_file = root / "staff-token"
            assert token_file.stat().st_mode & 0o777 == 0o600
            staff = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
            assert (await client.get(f"{api}/kitchen")).status_code == 401
            for url in (api, board):
                answer = await client.get(f"{url}/orders", headers=staff)
                assert answer.status_code == 200, (url, answer.text)
                assert number in [order["number"] for order in answer.json()["orders"]]

        # A crashed service comes back by running dev-up again; what runs is left alone
        os.kill(int((root / "pids" / "relay.pid").read_text()), signal.SIGKILL)
        again = await asyncio.to_thread(dev_up)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "== relay on" in again.stdout and "== api on" not in again.stdout, again.stdout
        assert sorted(p.name for p in (root / "logs").glob("*.log")) == sorted(
            f"{name}.log" for name in ("api", "board", "ordering", "kitchen", "analytics",
                                       "relay", "ferretdb", "kafka", "postgres",
                                       "postgres-init"))
    finally:
        down = await asyncio.to_thread(
            subprocess.run, [str(REPO / "scripts" / "dev-down")], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=180, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped api" in down.stdout and "stopped kafka" in down.stdout
    assert not list((root / "pids").glob("*.pid"))
