"""Against real ``mcburger run`` processes: the embedded default is not open (a token file made
at first start), and a retried order is one order, also after a restart."""

from __future__ import annotations

import stat

import httpx
import pytest

from tests.e2e.processes import Launcher

pytestmark = pytest.mark.e2e

ORDER = {"items": [{"item": "nuggets", "quantity": 2}]}


async def test_without_a_configured_token_the_restaurant_makes_one_and_stays_closed(
        launch: Launcher) -> None:
    server = launch("--speed", "100", env={"MCBURGER_STAFF_TOKEN": ""})
    token_file = server.data_dir / "staff-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    log = server.log_path.read_text()
    assert str(token_file) in log and token not in log, "the log says where, never what"
    async with httpx.AsyncClient(base_url=server.url, timeout=15.0) as client:
        assert (await client.get("/kitchen")).status_code == 401
        staff = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/kitchen", headers=staff)).status_code == 200
    server.stop()

    again = launch("--speed", "100", data_dir=server.data_dir, env={"MCBURGER_STAFF_TOKEN": ""})
    assert token_file.read_text().strip() == token, "kept across restarts"
    async with httpx.AsyncClient(base_url=again.url, timeout=15.0) as client:
        assert (await client.get("/stock", headers=staff)).status_code == 200


async def test_a_retried_order_is_one_order_also_after_a_restart(launch: Launcher) -> None:
    server = launch("--speed", "100")
    key = {"Idempotency-Key": "kiosk-3-basket-41"}
    async with httpx.AsyncClient(base_url=server.url, timeout=15.0) as client:
        first = await client.post("/orders", json=ORDER, headers=key)
        assert first.status_code == 201, first.text
    server.stop()

    again = launch("--speed", "100", data_dir=server.data_dir)
    async with httpx.AsyncClient(base_url=again.url, timeout=15.0) as client:
        retry = await client.post("/orders", json=ORDER, headers=key)
        assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
        assert (retry.json()["id"], retry.json()["number"]) == (first.json()["id"],
                                                                first.json()["number"])
        other = await client.post("/orders", json=ORDER)  # no key: a new order
        assert other.json()["number"] == first.json()["number"] + 1
