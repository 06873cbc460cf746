"""The ``mcburger`` command."""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError

from mcburger.adapters.datadir import DataDirectoryInUse, DataDirectoryLock
from mcburger.adapters.role_lock import SINGLE_OWNER_ROLES, RoleInUse, RoleLock
from mcburger.config import Settings
from mcburger.domain.errors import InvalidMenu
from mcburger.entrypoints.simulate import simulate
from mcburger.restaurant import BOARD_FEEDS, EMBEDDED_ROLES, ROLES

if TYPE_CHECKING:
    from fastapi import FastAPI

GRACEFUL_SHUTDOWN_SECONDS = 3

# CPython's cyclic garbage collector runs its youngest generation after 700 more container
# objects are alive than before (``gc.get_threshold()[0]``), and every tenth of those the next,
# and a full pass over every object when the oldest grew by a quarter. 10,000 board screens
# keep about 790,000 objects alive (about 70 a connection), and each change wakes every
# screen's task at once, so the default made full passes (0.7 s of one core each) again and
# again as changes went out: 37 % of the server's CPU while it delivered (perf). At 50,000 a
# change's transient objects no longer trigger any collection (docs/benchmarks.md, sixth
# pass); a young collection of cyclic garbage still comes at the latest every 50,000 objects,
# and the older generations keep CPython's rules.
GC_YOUNG_THRESHOLD = 50_000

app = typer.Typer(help="McBurger Orders: an event-sourced order system for a burger restaurant.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@app.callback()
def _root() -> None:
    """McBurger Orders: an event-sourced order system for a burger restaurant."""


def _settings(**given: Any) -> Settings:
    """Flags given on the command line win; the rest come from MCBURGER_* or the defaults."""
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
        settings.load_menu()
    except ValidationError as error:
        # Each field and what is wrong with it, never the value given (it may be the token)
        problems = "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}"
                             for e in error.errors())
        raise typer.BadParameter(problems) from None
    except (InvalidMenu, OSError) as error:
        raise typer.BadParameter(f"menu: {error}") from error
    return settings


Host = Annotated[str | None, typer.Option(
    help="Address to listen on [env MCBURGER_HOST; 127.0.0.1]")]
Port = Annotated[int | None, typer.Option(help="Port, 0-65535 [env MCBURGER_PORT; 8000]")]
Workers = Annotated[int | None, typer.Option(
    help="Kitchen workers, fixed at start-up, 1-64 [env MCBURGER_WORKERS; 3]")]
Speed = Annotated[float | None, typer.Option(
    help="Speed factor, above 0 and up to 100000: 60 makes a 180 s burger take 3 s "
         "[env MCBURGER_SPEED; 1]")]
Seed = Annotated[int | None, typer.Option(
    help="Seed of the random preparation times [env MCBURGER_SEED; random at each start]")]
DataDir = Annotated[Path | None, typer.Option(
    help="Where the SQLite event store and read models live [env MCBURGER_DATA_DIR; ./data]")]
FavoritesFirst = Annotated[bool | None, typer.Option(
    "--favorites-first/--no-favorites-first",
    help="FF.1: idle workers refill favourites before order units "
         "[env MCBURGER_FAVORITES_FIRST]")]
MenuFile = Annotated[Path | None, typer.Option(
    help="Menu TOML file [env MCBURGER_MENU; built-in menu]")]
StockTarget = Annotated[int | None, typer.Option(
    help="Pre-made units kept of each favourite, 0-100 [env MCBURGER_STOCK_TARGET; 3]")]
AccessLog = Annotated[bool | None, typer.Option(
    help="Log one line per HTTP request and per WebSocket handshake "
         "[env MCBURGER_ACCESS_LOG; off]")]
StaffToken = Annotated[str | None, typer.Option(
    help="Bearer token of the staff routes, 16-256 characters (other users can read a command "
         "line: prefer the variable or --staff-token-file) [env MCBURGER_STAFF_TOKEN; the "
         "token file]")]
StaffTokenFile = Annotated[Path | None, typer.Option(
    help="File of the staff token, made (mode 0600) with a random token at first start "
         "[env MCBURGER_STAFF_TOKEN_FILE; DATA_DIR/staff-token]")]
ProtectMetrics = Annotated[bool | None, typer.Option(
    help="/metrics needs the staff token too [env MCBURGER_PROTECT_METRICS; off]")]
RestaurantId = Annotated[str | None, typer.Option(
    help="This restaurant's id, the key of its messages [env MCBURGER_RESTAURANT_ID; main]")]


@app.command()
def run(host: Host = None, port: Port = None, workers: Workers = None, speed: Speed = None,
        seed: Seed = None, data_dir: DataDir = None, favorites_first: FavoritesFirst = None,
        menu: MenuFile = None, stock_target: StockTarget = None,
        access_log: AccessLog = None, staff_token: StaffToken = None,
        staff_token_file: StaffTokenFile = None, protect_metrics: ProtectMetrics = None) -> None:
    """Run the whole restaurant in one process (embedded: SQLite in the data directory)."""
    settings = _settings(host=host, port=port, workers=workers, speed=speed, seed=seed,
                         data_dir=data_dir, favorites_first=favorites_first, menu=menu,
                         stock_target=stock_target, access_log=access_log,
                         staff_token=staff_token, staff_token_file=staff_token_file,
                         protect_metrics=protect_metrics)
    try:
        lock = DataDirectoryLock.acquire(settings.data_dir)
    except DataDirectoryInUse as error:
        typer.echo(f"mcburger: {error} (another mcburger run); stop it or choose --data-dir",
                   err=True)
        raise typer.Exit(1) from None
    with lock:  # held while the restaurant runs; the kernel frees it if the process dies
        _serve(settings, EMBEDDED_ROLES)


@app.command()
def serve(
    role: Annotated[str, typer.Argument(
        help="api | ordering | kitchen | board | analytics | relay, or board-feeds: only the "
             "board's page and feeds, from the read models another process writes (an "
             "embedded run's data dir, or --mongo-url); several may share one port")],
    host: Host = None, port: Port = None, workers: Workers = None, speed: Speed = None,
    seed: Seed = None, data_dir: DataDir = None, favorites_first: FavoritesFirst = None,
    menu: MenuFile = None, stock_target: StockTarget = None, restaurant_id: RestaurantId = None,
    access_log: AccessLog = None, staff_token: StaffToken = None,
    staff_token_file: StaffTokenFile = None, protect_metrics: ProtectMetrics = None,
    eventstore_url: Annotated[str | None, typer.Option(
        help="Event store: sqlite:///path, postgresql://..., kurrentdb://... "
             "[env MCBURGER_EVENTSTORE_URL; SQLite in the data dir]")] = None,
    kafka_bootstrap: Annotated[str | None, typer.Option(
        help="Kafka bootstrap servers, host:port [env MCBURGER_KAFKA_BOOTSTRAP]")] = None,
    mongo_url: Annotated[str | None, typer.Option(
        help="MongoDB URL of the read models [env MCBURGER_MONGO_URL; SQLite in the data dir]")
    ] = None,
    mongo_database: Annotated[str | None, typer.Option(
        help="MongoDB database of the read models [env MCBURGER_MONGO_DATABASE; mcburger]")
    ] = None,
    topic_partitions: Annotated[int | None, typer.Option(
        help="Partitions of the topics this service creates (1-1000) "
             "[env MCBURGER_TOPIC_PARTITIONS; 3]")] = None,
) -> None:
    """Run one service of the distributed restaurant (the services talk through Kafka), or a
    board-feeds process beside a restaurant."""
    if role not in (*ROLES, BOARD_FEEDS):
        raise typer.BadParameter(f"{role!r}: choose one of {', '.join((*ROLES, BOARD_FEEDS))}",
                                 param_hint="ROLE")
    settings = _settings(host=host, port=port, workers=workers, speed=speed, seed=seed,
                         data_dir=data_dir, favorites_first=favorites_first, menu=menu,
                         stock_target=stock_target, restaurant_id=restaurant_id,
                         access_log=access_log, staff_token=staff_token,
                         staff_token_file=staff_token_file, protect_metrics=protect_metrics,
                         eventstore_url=eventstore_url,
                         kafka_bootstrap=kafka_bootstrap, mongo_url=mongo_url,
                         mongo_database=mongo_database, topic_partitions=topic_partitions)
    if role == BOARD_FEEDS:  # reads the read models only: no bus, no lock, no store of its own
        _check_followed(settings)
        _serve(settings, frozenset({role}), reuse_port=True)
        return
    if not settings.kafka_bootstrap:
        raise typer.BadParameter("a service talks through Kafka: give --kafka-bootstrap "
                                 "or MCBURGER_KAFKA_BOOTSTRAP", param_hint="--kafka-bootstrap")
    with _hold_role(settings, role):  # held while the service runs; freed if it dies
        _serve(settings, frozenset({role}))


def _check_followed(settings: Settings) -> None:
    """A board-feeds process shows what another process writes: with SQLite read models, the
    data directory must hold a restaurant's (exit 1 otherwise, rather than an empty board that
    never changes: a mistyped --data-dir); with MongoDB's, the restaurant's event store must be
    named too (its /healthz reports the log's head: SQLite's in the data dir would be empty)."""
    if settings.mongo_url:
        if not settings.eventstore_url:
            raise typer.BadParameter("board-feeds beside a distributed restaurant reads its "
                                     "MongoDB read models: give its event store too",
                                     param_hint="--eventstore-url")
        return
    path = settings.data_dir / "readmodels.db"
    if not path.is_file():
        typer.echo(f"mcburger: no read models at {path}: board-feeds serves those of a "
                   "restaurant running with this data directory (`mcburger run --data-dir "
                   f"{settings.data_dir}`); start it first, or give --mongo-url", err=True)
        raise typer.Exit(1)


def _hold_role(settings: Settings, role: str) -> contextlib.AbstractContextManager[object]:
    """The role's lock for a single-owner role (exit 1 if another instance holds it)."""
    if role not in SINGLE_OWNER_ROLES:
        return contextlib.nullcontext()  # api and board instances may be many
    try:
        lock = RoleLock.acquire(settings.eventstore_url, settings.data_dir,
                                settings.restaurant_id, role)
    except RoleInUse as error:
        typer.echo(f"mcburger: {error}: run one {role} per restaurant (a second one is not "
                   "safe yet, see docs/architecture.md)", err=True)
        raise typer.Exit(1) from None
    except Exception as error:  # the event store is unreachable: say so, without a traceback
        typer.echo(f"mcburger: cannot hold the {role} lock in the event store: "
                   f"{type(error).__name__}: {error}", err=True)
        raise typer.Exit(1) from None
    if lock is None:
        typer.echo(f"mcburger: WARNING: this event store has no lock, so a second {role} of "
                   f"restaurant {settings.restaurant_id} would not be refused: run one", err=True)
        return contextlib.nullcontext()
    return lock


app.command()(simulate)


def _serve(settings: Settings, roles: frozenset[str], reuse_port: bool = False) -> None:
    """Serve ``roles`` with uvicorn until stopped. ``reuse_port``: listen with SO_REUSEPORT, so
    several processes may share the address and the kernel spreads new connections over them."""
    from mcburger.adapters.staff_token import StaffTokenUnreadable
    from mcburger.entrypoints.api.app import create_app
    from mcburger.entrypoints.api.board import MAX_CLIENT_MESSAGE_BYTES

    logging.basicConfig(level=settings.log_level.upper(),
                        format=f"%(asctime)s %(levelname)s [{'+'.join(sorted(roles))}] "
                               "%(name)s: %(message)s")
    try:
        app = create_app(settings, roles=roles)
    except (StaffTokenUnreadable, OSError) as error:
        typer.echo(f"mcburger: staff token: {error}", err=True)
        raise typer.Exit(1) from None
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port,
        log_level=settings.log_level, access_log=settings.access_log,
        # Board messages are ~100 bytes: compressing them saves nothing and costs each
        # WebSocket a zlib context (~40 KB) and CPU for every message it is sent.
        # wsproto: 2 KB less a connection than websockets' protocol, which keeps the
        # handshake's request and response for the connection's life (fanout.py)
        ws="wsproto", ws_per_message_deflate=False,
        ws_max_size=MAX_CLIENT_MESSAGE_BYTES,
        # Board feeds stay open for as long as their clients do; the server ends them when it
        # stops (_Server), and this bounds the wait for anything else still open.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
    if not settings.access_log:
        logging.getLogger("uvicorn.error").addFilter(_no_websocket_access_lines)
    server = _Server(config, app)
    sockets = None
    if reuse_port:
        try:
            family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
            sockets = [socket.create_server((settings.host, settings.port), family=family,
                                            reuse_port=True, backlog=config.backlog)]
        except OSError as error:  # uvicorn would log it and exit 1; say it the same way
            typer.echo(f"mcburger: cannot listen on {settings.host}:{settings.port}: {error}",
                       err=True)
            raise typer.Exit(1) from None
    tune_garbage_collector()
    server.run(sockets=sockets)
    if not server.started:  # as uvicorn.run: the app could not start (its log says why)
        raise typer.Exit(3)


def tune_garbage_collector() -> None:
    """The young generation's threshold at ``GC_YOUNG_THRESHOLD``; the others as they are."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _no_websocket_access_lines(record: logging.LogRecord) -> bool:
    """Drops uvicorn's line for each WebSocket handshake ('... "WebSocket /board/ws"
    [accepted]'), which it logs at INFO on its error logger whatever ``access_log`` says: a
    line for every screen that connects, and 10,000 at once when they all reconnect."""
    return not (isinstance(record.msg, str) and '"WebSocket %s" [accepted]' in record.msg)


class _Server(uvicorn.Server):
    """uvicorn's server, whose stop first ends the board's open feeds (``BoardHub.end_feeds``):
    SSE streams and waiting long polls would otherwise hold the graceful stop for its whole
    timeout and then be cancelled mid-response, an ERROR with a traceback in the log and a 500
    for a waiting long poll. (WebSockets uvicorn closes itself, with 1012.)"""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start (the lifespan: the restaurant built and started), then one full
        collection and everything still alive moved out of the collector's reach
        (``gc.freeze``): the modules, the menu, the app live as long as the process, and no
        full collection walks them again. (Collected first: garbage frozen would stay.)"""
        await super().startup(sockets)
        if self.started:
            if sockets:  # uvicorn says where it listens only on sockets it opened itself
                host, port = sockets[0].getsockname()[:2]
                logging.getLogger("mcburger").info(
                    "listening on http://%s:%d, shared with every other process listening "
                    "there (SO_REUSEPORT)", f"[{host}]" if ":" in host else host, port)
            gc.collect()
            gc.freeze()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        restaurant = getattr(self._app.state, "restaurant", None)  # set by the lifespan
        if restaurant is not None:
            restaurant.board.end_feeds()
        await super().shutdown(sockets)


def main() -> None:
    app()
