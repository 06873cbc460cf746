"""A distributed restaurant for the end-to-end tests: every service (`mcburger serve <role>`) its
own process, on the session's PostgreSQL (event store), Kafka broker and FerretDB (read models).

Each cluster gets a database of its own in PostgreSQL and in MongoDB, and a restaurant id of its
own: the Kafka topics are shared by the session, and a service only takes its restaurant's
messages (the message key), so clusters never see each other's events.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mcburger.adapters.eventstore.postgres import PostgresEventStore
from mcburger.domain.events import Event
from mcburger.restaurant import ROLES
from tests.contract.postgres_server import fresh_database, url_of
from tests.e2e.helpers import events_in
from tests.e2e.processes import Launcher, Server
from tests.support.kafka_server import KafkaBroker
from tests.support.servers import STAFF, STAFF_TOKEN, free_port

# Started in this order: the api last, so that its health says the rest is up too.
START_ORDER = ("relay", "ordering", "kitchen", "board", "analytics", "api")
assert set(START_ORDER) == set(ROLES)


@dataclass
class Cluster:
    launch: Launcher
    env: dict[str, str]
    flags: tuple[str, ...]
    kafka: KafkaBroker
    restaurant_id: str
    services: dict[str, Server] = field(default_factory=dict)

    def start(self, role: str) -> Server:
        server = self.launch.serve(role, *self.flags, env=self.env)
        self.services[role] = server
        return server

    def run_another(self, role: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
        """``mcburger serve <role>`` once more beside the running one, to its end (bounded)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCBURGER_")}
        return subprocess.run(
            [sys.executable, "-m", "mcburger", "serve", role, *self.flags, "--host",
             "127.0.0.1", "--port", str(free_port()), "--data-dir", str(data_dir)],
            env={**env, **self.env}, capture_output=True, text=True, timeout=60, check=False)

    def restart(self, role: str) -> Server:
        """Start ``role`` again (after it was killed) with the same configuration."""
        return self.start(role)

    @property
    def api(self) -> Server:
        return self.services["api"]

    @property
    def board(self) -> Server:
        return self.services["board"]

    async def log(self) -> list[Event]:
        return await events_in(await PostgresEventStore.open(self.env["MCBURGER_EVENTSTORE_URL"]))

    async def health(self) -> dict[str, dict[str, Any]]:
        found = {}
        async with httpx.AsyncClient(headers=STAFF, timeout=10.0) as client:
            for role, server in self.services.items():
                if server.running():
                    found[role] = (await client.get(f"{server.url}/healthz")).json()
        return found


def start_cluster(launch: Launcher, postgres: str, mongo: str, kafka: KafkaBroker,
                  *flags: str) -> Cluster:
    restaurant_id = f"r{uuid.uuid4().hex[:10]}"
    env = {
        "MCBURGER_EVENTSTORE_URL": url_of(fresh_database(postgres)),
        "MCBURGER_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "MCBURGER_MONGO_URL": mongo,
        "MCBURGER_MONGO_DATABASE": f"mcburger_{restaurant_id}",
        "MCBURGER_RESTAURANT_ID": restaurant_id,
        "MCBURGER_STAFF_TOKEN": STAFF_TOKEN,
    }
    cluster = Cluster(launch, env, flags, kafka, restaurant_id)
    for role in START_ORDER:
        cluster.start(role)
    return cluster
