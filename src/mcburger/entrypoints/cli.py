"""The ``mcburger`` command."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError

from mcburger.config import Settings
from mcburger.domain.errors import InvalidMenu

GRACEFUL_SHUTDOWN_SECONDS = 3

app = typer.Typer(help="McBurger Orders: an event-sourced order system for a burger restaurant.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def _root() -> None:
    """McBurger Orders: an event-sourced order system for a burger restaurant."""


def _settings(**given: Any) -> Settings:
    """Flags given on the command line win; the rest come from MCBURGER_* or the defaults."""
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
        settings.load_menu()
    except ValidationError as error:
        raise typer.BadParameter(str(error)) from error
    except (InvalidMenu, OSError) as error:
        raise typer.BadParameter(f"menu: {error}") from error
    return settings


@app.command()
def run(
    host: Annotated[str | None, typer.Option(
        help="Address to listen on [env MCBURGER_HOST; 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env MCBURGER_PORT; 8000]")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Kitchen workers, fixed at start-up [env MCBURGER_WORKERS; 3]")] = None,
    speed: Annotated[float | None, typer.Option(
        help="Speed factor: 60 makes a 180 s burger take 3 s [env MCBURGER_SPEED; 1]")] = None,
    seed: Annotated[int | None, typer.Option(
        help="Seed of the random preparation times [env MCBURGER_SEED]")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where the SQLite event store and read models live [env MCBURGER_DATA_DIR; ./data]")
    ] = None,
    favorites_first: Annotated[bool | None, typer.Option(
        "--favorites-first/--no-favorites-first",
        help="FF.1: idle workers refill favourites before order units "
             "[env MCBURGER_FAVORITES_FIRST]")] = None,
    menu: Annotated[Path | None, typer.Option(
        help="Menu TOML file [env MCBURGER_MENU; built-in menu]")] = None,
    stock_target: Annotated[int | None, typer.Option(
        help="Pre-made units kept of each favourite [env MCBURGER_STOCK_TARGET; 3]")] = None,
) -> None:
    """Run the whole restaurant in one process (embedded: SQLite in the data directory)."""
    from mcburger.entrypoints.api.app import create_app

    settings = _settings(host=host, port=port, workers=workers, speed=speed, seed=seed,
                         data_dir=data_dir, favorites_first=favorites_first, menu=menu,
                         stock_target=stock_target)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Board feeds (SSE, long-poll) stay open for as long as their clients do: bound the wait
    # for them on shutdown so a stop always reaches the lifespan's orderly close.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level, ws="websockets-sansio",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)


def main() -> None:
    app()
