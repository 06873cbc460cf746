"""Settings: one validated class; every option also comes from ``MCBURGER_<NAME>``."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcburger.domain.menu import Menu, parse_menu


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MCBURGER_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(3, ge=1, le=64, description="kitchen workers, fixed at start-up")
    speed: float = Field(1.0, gt=0, le=100_000, description="time speed factor (60: 180 s -> 3 s)")
    seed: int | None = Field(None, description="seed of the random preparation times")
    data_dir: Path = Path("./data")
    favorites_first: bool = Field(False, description="FF.1: refill favourites before orders")
    menu: Path | None = Field(None, description="menu TOML file (default: the built-in menu)")
    stock_target: int = Field(3, ge=0, le=100, description="pre-made units kept per favourite")
    restaurant_id: str = Field("main", pattern=r"^[a-z0-9][a-z0-9_]{0,39}$")
    log_level: str = "info"
    # Off by default: at full load a line per request costs more than the request's own work
    access_log: bool = Field(False, description="log one line per HTTP request")
    # A projection far behind (a rebuild) is CPU-bound Python: give the costliest their own
    # processes, on the spare cores (None: one fewer than the machine has; 0: never)
    rebuild_processes: int | None = Field(
        None, ge=0, le=8, description="worker processes a projection rebuild may use")
    # Staff routes (collect, the order list, kitchen, stock, analytics) need this bearer token.
    # Unset: the token kept in ``staff_token_file`` (default: ``staff-token`` in the data
    # directory), created at first start, readable by its owner only. A SecretStr is never
    # printed whole, so a logged Settings cannot leak it.
    staff_token: SecretStr | None = Field(
        None, min_length=16, max_length=256, description="staff bearer token (16-256 chars)")
    staff_token_file: Path | None = Field(
        None, description="file holding the staff token (default: DATA_DIR/staff-token)")
    protect_metrics: bool = Field(False, description="/metrics needs the staff token too")
    # Distributed mode (``mcburger serve``); unset, everything stays embedded in the data dir.
    eventstore_url: str | None = Field(
        None, description="sqlite:///path, postgresql://..., kurrentdb://... (or esdb://)")
    kafka_bootstrap: str | None = Field(None, description="Kafka bootstrap servers, host:port")
    mongo_url: str | None = Field(None, description="MongoDB URL for the read models")
    mongo_database: str = "mcburger"
    topic_partitions: int = Field(3, ge=1, le=1000, description="partitions of new topics")

    def load_menu(self) -> Menu:
        if self.menu is None:
            text = resources.files("mcburger").joinpath("menu.toml").read_text("utf-8")
        else:
            text = self.menu.read_text("utf-8")
        return parse_menu(tomllib.loads(text))
