"""Session-wide servers the contract and distributed end-to-end tests share: one PostgreSQL, one
MongoDB-compatible server (FerretDB) and one Kafka broker, each started on first use on 127.0.0.1
and stopped at the end (or skipped with the reason when it cannot be had)."""

from collections.abc import Iterator

import pytest

# The contract suites live in modules that are not test_*.py: have pytest rewrite their asserts.
pytest.register_assert_rewrite(
    "tests.contract.eventstore_contract",
    "tests.contract.readmodels_contract",
    "tests.contract.clock_contract",
    "tests.contract.bus_contract",
    "tests.support.invariants",
)

from tests.contract.ferretdb_server import mongo_server  # noqa: E402
from tests.contract.postgres_server import postgres_server  # noqa: E402
from tests.support.kafka_server import KafkaBroker, kafka_broker  # noqa: E402


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """An admin URL of the session's PostgreSQL."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def mongo() -> Iterator[str]:
    """The URL of the session's MongoDB-compatible server."""
    with mongo_server() as url:
        yield url


@pytest.fixture(scope="session")
def mongo_on_postgres(postgres: str) -> Iterator[str]:
    """The URL of a FerretDB storing in the session's PostgreSQL, as scripts/dev-up runs it."""
    with mongo_server(postgres_admin_url=postgres) as url:
        yield url


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaBroker]:
    """The session's Kafka broker (KRaft, one node)."""
    with kafka_broker() as broker:
        yield broker
