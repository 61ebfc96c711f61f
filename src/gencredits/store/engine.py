"""Connecting to the database, its durability settings, transactions and migrations.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL``, so a committed
charge survives power loss, and every write transaction starts with ``BEGIN IMMEDIATE``: it
takes the write lock up front, so two writers never both read a balance and then both debit
it. Reads start a deferred ``BEGIN`` and do not wait for writers.

PostgreSQL (``GENCREDITS_DATABASE_URL=postgresql+psycopg://...``) runs at READ COMMITTED;
services lock the account row (``SELECT ... FOR UPDATE``) before any balance change. Nothing
outlives a transaction on a server connection, so PgBouncer in transaction mode may stand in
between (no server-side prepared statements unless GENCREDITS_PREPARE_ON_SERVER=1).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from gencredits.config import Settings
from gencredits.store.postgres import connect_arguments

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _is_uri(database: str) -> bool:
    """Whether a SQLite URL's database is a ``file:`` URI (SQLite opens it; it is no path)."""
    return database.startswith("file:")


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def encode_json(value: Any) -> str:
    """The JSON columns' text: orjson, compact (4-8x faster than ``json.dumps``, which cost a
    batched charge a third of its CPU). It writes what ``json.dumps`` would, less the spaces,
    and refuses what it cannot write exactly (integers beyond 64 bits, NaN become errors or
    null rather than text no JSON reader takes back)."""
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


# A pooled PostgreSQL connection idle this long is pinged before it is handed out again.
PING_AFTER_IDLE_SECONDS = 5.0


def make_engine(
    url: str,
    *,
    pool_size: int = 20,
    background_checkpoints: bool = False,
    ping_after_idle_seconds: float = PING_AFTER_IDLE_SECONDS,
    prepare_on_server: bool | None = None,
) -> Engine:
    """An engine for ``url``. On SQLite, ``background_checkpoints`` turns off the connections'
    own WAL checkpoints: a :class:`Checkpointer` must then run them (``Gencredits`` starts
    one when opened with ``background_checkpoints=True``, as the server does). On PostgreSQL
    a pooled connection idle ``ping_after_idle_seconds`` is pinged before reuse, and
    statements are prepared on the server only if ``prepare_on_server`` (None: as
    GENCREDITS_PREPARE_ON_SERVER says; off by default, as a transaction pooler needs)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not _is_uri(parsed.database):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=60,
            json_serializer=encode_json,
        )
        # Only where a Checkpointer can run (a file, and flock to make the WAL start over: not
        # on Windows, nor for in-memory or URI databases) do commits leave checkpoints to it.
        background = background_checkpoints and writer_lock(engine) is not None
        if background:
            _BACKGROUND_CHECKPOINTS.add(engine)
        _configure_sqlite(engine, autocheckpoint=not background)
        return engine
    engine = create_engine(
        url,
        connect_args=connect_arguments(
            Settings.from_environment().prepare_on_server
            if prepare_on_server is None else prepare_on_server
        ),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=60,
        json_serializer=encode_json,
    )
    _ping_when_idle(engine, ping_after_idle_seconds)
    return engine


_BACKGROUND_CHECKPOINTS: weakref.WeakSet[Engine] = weakref.WeakSet()


def checkpoints_in_background(engine: Engine) -> bool:
    """Whether ``engine``'s connections leave WAL checkpoints to a :class:`Checkpointer`
    (``make_engine(background_checkpoints=True)`` where one can run), which must then run."""
    return engine in _BACKGROUND_CHECKPOINTS


def _ping_when_idle(engine: Engine, after_seconds: float) -> None:
    """Ping a pooled connection before use only when it has sat idle ``after_seconds``
    (PgBouncer's ``server_check_delay``), not on every checkout as ``pool_pre_ping`` does: that
    ping was a round trip in every transaction, a tenth of a lone charge's time. A connection
    that fails its ping is replaced (SQLAlchemy's ``DisconnectionError``). One used within the
    last seconds is handed out as it is: if the server went away meanwhile, that unit of work
    fails with the disconnect, SQLAlchemy replaces every connection of the pool older than it,
    and the next one works (tests/store/test_engine_ping.py)."""

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["gencredits_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("gencredits_idle_since")
        if since is None or time.monotonic() - since < after_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)  # what pool_pre_ping runs
        except Exception as error:
            raise exc.DisconnectionError(f"a pooled connection failed its ping: {error}") from error
        if not alive:
            raise exc.DisconnectionError("a pooled connection failed its ping")


def _configure_sqlite(engine: Engine, *, autocheckpoint: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event, below, open transactions instead of the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # Straight to the driver: through exec_driver_sql this cost 30 µs of a charge's CPU.
        driver = connection.connection.driver_connection
        assert driver is not None
        if connection.get_execution_options().get("gencredits_read_only"):
            driver.execute("BEGIN")
        else:
            driver.execute("BEGIN IMMEDIATE")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work that may change balances; commits on success, rolls back on error.

    On a SQLite file it first takes the database's writer lock (:class:`WriterLock`)."""
    lock = writer_lock(engine)
    if lock is None:
        with engine.connect() as connection, connection.begin():
            yield connection
        return
    with lock.held(), engine.connect() as connection, connection.begin():
        yield connection


class WriterLock:
    """An exclusive ``flock`` on ``<database>-writer.lock``, held around a SQLite write
    transaction, from before its ``BEGIN IMMEDIATE`` until after its commit.

    SQLite lets one writer in at a time; another waits in its busy handler, which sleeps
    1, 2, 5, 10 ... 100 ms between tries and so wakes late: with several server processes on
    one database those sleeps were the p99 (60-180 ms at 1,000 charges a second). A waiter
    on a ``flock`` is woken by the kernel the moment it is released. SQLite's own lock still
    guards the data; this lock only queues writers that use it, and the kernel drops it when
    its process dies. Threads of one process share one descriptor (a ``flock`` is held per
    open file, so they take a thread lock first); it is reentrant in a thread, and reopened
    after a fork."""

    def __init__(self, path: str, mode: int = 0o644) -> None:
        self.path = path
        self._mode = mode
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._descriptor: int | None = None
        self._pid = 0
        self._held: int | None = None  # the descriptor locked, while held

    def _opened(self) -> int | None:
        """The lock file, open in this process; None if it cannot be opened (another user's
        file, a read-only directory): writers then queue in SQLite's busy handler, as
        without this lock."""
        if self._descriptor is None or self._pid != os.getpid():
            try:
                self._descriptor = os.open(
                    self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, self._mode
                )
            except OSError:
                return None
            self._pid = os.getpid()
        return self._descriptor

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                self._held = self._opened()
                if self._held is not None:
                    fcntl.flock(self._held, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._held is not None:
                    fcntl.flock(self._held, fcntl.LOCK_UN)
                    self._held = None


def sibling_mode(database: str) -> int:
    """The permissions of files kept beside a database: the database file's own, as SQLite
    gives its ``-wal`` and ``-shm`` files, so every user who may write the database may use
    them too."""
    try:
        return os.stat(database).st_mode & 0o777
    except OSError:
        return 0o644


_WRITER_LOCKS: dict[str, WriterLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def sqlite_file(engine: Engine | Connection) -> str | None:
    """The real path of a SQLite database file; None for PostgreSQL and in-memory SQLite.
    Files beside it (``<path>-writer.lock``, ``<path>-keys.revoked``) are how the processes
    sharing it signal one another. Resolved once per engine (``realpath`` stats every
    directory of the path: 3% of a hold and its capture when it ran per transaction)."""
    engine = engine.engine
    try:
        return _SQLITE_FILES[engine]
    except KeyError:
        pass
    found = None
    database = engine.url.database
    if (
        engine.dialect.name == "sqlite"
        and database
        and database != ":memory:"
        and not _is_uri(database)
    ):
        found = os.path.realpath(database)
    _SQLITE_FILES[engine] = found
    return found


_SQLITE_FILES: weakref.WeakKeyDictionary[Engine, str | None] = weakref.WeakKeyDictionary()


def writer_lock(engine: Engine | Connection) -> WriterLock | None:
    """The writer lock of a SQLite database file (one per file in a process); None for
    PostgreSQL, which locks rows, and for in-memory databases."""
    database = sqlite_file(engine)
    if database is None or fcntl is None:
        return None
    path = database + "-writer.lock"
    found = _WRITER_LOCKS.get(path)
    if found is None:
        with _WRITER_LOCKS_GUARD:
            found = _WRITER_LOCKS.get(path)
            if found is None:
                found = _WRITER_LOCKS[path] = WriterLock(path, sibling_mode(database))
    return found


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent read that takes no write lock: one snapshot for all its statements
    (SQLite's deferred transaction in WAL mode; REPEATABLE READ on PostgreSQL)."""
    with engine.connect() as connection:
        options: dict[str, object] = {"gencredits_read_only": True}
        if not is_sqlite(engine):
            options["isolation_level"] = "REPEATABLE READ"
        connection = connection.execution_options(**options)
        with connection.begin():
            yield connection


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    location = resources.files("gencredits.store").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    config.set_main_option("sqlalchemy.url", "")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (safe to call on every start)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
