"""One instance per single-owner role: the lock in each event store's engine."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mcburger.adapters.role_lock import RoleInUse, RoleLock
from tests.contract.postgres_server import drop_database, fresh_database, url_of


@pytest.fixture
def database_url(postgres: str) -> Iterator[str]:
    conninfo = fresh_database(postgres)
    yield url_of(conninfo)
    drop_database(postgres, conninfo)


@pytest.fixture(params=["sqlite", "postgresql"])
def acquire(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str, str], RoleLock]:
    url = None if request.param == "sqlite" else request.getfixturevalue("database_url")

    def hold(restaurant_id: str, role: str) -> RoleLock:
        lock = RoleLock.acquire(url, tmp_path, restaurant_id, role)
        assert lock is not None
        return lock
    return hold


def test_a_second_holder_of_a_role_is_refused_naming_the_first(
        acquire: Callable[[str, str], RoleLock]) -> None:
    refused = f"kitchen of restaurant main is already running \\(.*{os.getpid()}"
    with acquire("main", "kitchen"), pytest.raises(RoleInUse, match=refused):
        acquire("main", "kitchen")


def test_other_roles_and_restaurants_are_not_held_and_a_release_frees_it(
        acquire: Callable[[str, str], RoleLock]) -> None:
    kitchen = acquire("main", "kitchen")
    with acquire("main", "ordering"), acquire("north", "kitchen"):
        pass
    kitchen.release()

    acquire("main", "kitchen").release()  # free again


def test_an_engine_without_locks_holds_nothing(tmp_path: Path) -> None:
    assert RoleLock.acquire("kurrentdb://127.0.0.1:2113", tmp_path, "main", "kitchen") is None
