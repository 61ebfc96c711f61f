"""A throwaway PostgreSQL server for the test suite, started and stopped by the tests.

``start_postgres()`` creates a fresh cluster in a temporary directory, starts it on a
free port on 127.0.0.1 only (no other network), and returns a ``PostgresServer``.
The cluster uses trust authentication, so the superuser ``postgres`` connects without
a password::

    server = start_postgres()
    try:
        url = server.create_database("scratch")   # a SQLAlchemy URL
        ...
        server.stop("immediate")                   # simulate a crash
        server.start()                             # crash recovery, same port
    finally:
        server.destroy()                           # stop and delete the directory

Notes on this machine's rules:

* The binaries come from ``pg_config --bindir`` (Debian: ``/usr/lib/postgresql/N/bin``).
* ``initdb`` and ``pg_ctl`` refuse to run as root. When we are root they run as the
  ``postgres`` OS user through ``runuser -u postgres --``, and the temporary directory
  is chowned to that user. A non-root user runs them directly.
* fsync is left on (the PostgreSQL default, stated explicitly) so that crash tests
  with ``stop("immediate")`` are honest.
* Every server is also stopped by an ``atexit`` hook, in case the caller's
  ``try/finally`` never runs (for example on Ctrl-C during startup).
  ``pg_ctl`` puts the postmaster in its own session, so Ctrl-C at the terminal does
  not kill it behind our back; the fixtures' finalisers and the hook do the stopping.
* SIGTERM ends a run as Ctrl-C does (KeyboardInterrupt, so finalisers and hooks run); while a
  server is being made, started or stopped, SIGTERM and SIGINT wait until that is done
  (``deferred_interrupts``), and ``initdb``/``pg_ctl`` run in sessions of their own, so a
  signal to the whole process group cannot cut them short either
  (tests/test_pgserver_signals.py).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = [
    "PostgresError",
    "PostgresServer",
    "find_bindir",
    "libpq_url",
    "start_postgres",
]

HOST = "127.0.0.1"
SUPERUSER = "postgres"
OS_USER = "postgres"  # the OS user the server runs as when we are root
READY_TIMEOUT = 30.0  # seconds to wait for the server to accept connections
COMMAND_TIMEOUT = 120.0  # seconds for any single initdb / pg_ctl call
LOG_NAME = "server.log"
DATA_NAME = "data"

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresError(RuntimeError):
    """The throwaway server could not be created, started or stopped."""


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, from ``pg_config --bindir``.

    Returns None when ``pg_config`` is absent or its directory has no ``initdb``.
    """
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    bindir = Path(out)
    if not (bindir / "initdb").is_file() or not (bindir / "pg_ctl").is_file():
        return None
    return bindir


def libpq_url(url: str) -> str:
    """Turn a SQLAlchemy ``postgresql+psycopg://`` URL into one psycopg/libpq accepts."""
    return re.sub(r"^postgresql\+psycopg://", "postgresql://", url)


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _as_server_user() -> list[str]:
    """The command prefix that runs a program as the server's OS user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise PostgresError("running as root but `runuser` is missing; cannot drop to postgres")
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        raise PostgresError(
            f"running as root but there is no {OS_USER!r} OS user to run PostgreSQL as "
            "(installing the Debian `postgresql` package creates it)"
        ) from None
    return ["runuser", "-u", OS_USER, "--"]


def _clean_env() -> dict[str, str]:
    """Our environment minus PG* variables that could redirect the tools elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


@dataclass
class PostgresServer:
    """One running (or stopped) throwaway cluster.

    ``url`` is a SQLAlchemy URL for the ``postgres`` database as superuser
    ``postgres``; ``data_dir`` is the cluster directory, ``port`` the TCP port on
    127.0.0.1 and ``bindir`` where ``pg_ctl`` lives.
    """

    url: str
    data_dir: Path
    port: int
    bindir: Path
    base_dir: Path = field(repr=False)  # temp dir holding data_dir, the log and the socket
    _destroyed: bool = field(default=False, init=False, repr=False)

    @property
    def log_file(self) -> Path:
        """The server log (pg_ctl -l)."""
        return self.base_dir / LOG_NAME

    def url_for(self, database: str) -> str:
        """The SQLAlchemy URL of another database on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{database}"

    # -- lifecycle ---------------------------------------------------------------

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*_as_server_user(), str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args]
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            cwd=self.base_dir,
            env=_clean_env(),
            timeout=COMMAND_TIMEOUT,
            check=False,
            start_new_session=True,  # a signal to our process group must not cut it short
        )
        if check and result.returncode != 0:
            raise PostgresError(
                f"`pg_ctl {' '.join(args)}` failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n--- server log tail ---\n{_tail(self.log_file)}"
            )
        return result

    def is_running(self) -> bool:
        """Whether a postmaster is running on ``data_dir`` (``pg_ctl status``)."""
        if not self.data_dir.exists():
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def start(self) -> None:
        """Start the server on the same data dir and port; wait until it accepts connections.

        After ``stop("immediate")`` this runs crash recovery first.
        """
        if self._destroyed:
            raise PostgresError("this server has been destroyed")
        # pg_ctl hands -o to a shell, hence the quoting. -h limits listening to loopback.
        options = (
            f"-h {HOST} -p {self.port} -k {shlex.quote(str(self.base_dir))} "
            "-c max_connections=200 -c fsync=on"
        )
        self._pg_ctl(
            "-l", str(self.log_file), "-w", "-t", str(int(READY_TIMEOUT)), "-o", options, "start"
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(libpq_url(self.url), connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.1)
        raise PostgresError(
            f"PostgreSQL on {HOST}:{self.port} did not accept connections within "
            f"{READY_TIMEOUT:.0f}s: {last}\n--- server log tail ---\n{_tail(self.log_file)}"
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server with ``pg_ctl stop -m MODE`` (smart, fast or immediate).

        ``immediate`` is an unclean shutdown, as after a crash. Stopping a server that
        is not running does nothing.
        """
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown pg_ctl stop mode {mode!r}")
        if not self.is_running():
            return
        self._pg_ctl("-m", mode, "-w", "-t", str(int(COMMAND_TIMEOUT)), "stop")

    def destroy(self) -> None:
        """Stop the server (fast, then immediate if that fails) and delete its directory.

        Safe to call more than once; also registered with ``atexit``.
        """
        if self._destroyed:
            return
        with deferred_interrupts():
            try:
                try:
                    self.stop("fast")
                except (PostgresError, subprocess.SubprocessError):
                    with contextlib.suppress(PostgresError, subprocess.SubprocessError):
                        self.stop("immediate")
            finally:
                self._destroyed = True
                atexit.unregister(self.destroy)
                shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- databases ---------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name`` and return its SQLAlchemy URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"unsafe database name {name!r}")
        with psycopg.connect(libpq_url(self.url), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)


_DEFERRED_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_deferring = 0  # depth of deferred_interrupts() blocks in the main thread
_pending: list[int] = []  # signals that came meanwhile


def _interrupt(signum: int, _frame: object) -> None:
    if _deferring:
        _pending.append(signum)
        return
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """SIGTERM and SIGINT that come during the block take effect at its end.

    Around what must not be cut in two: starting a server and registering its stop, stopping
    it. A KeyboardInterrupt raised in the middle of ``pg_ctl start`` killed ``pg_ctl`` while
    the postmaster it forked went on starting, possibly before its pid file existed, where
    ``pg_ctl stop`` could not find it; one raised in ``pg_ctl stop`` could leave it running.
    The programs we run are put in sessions of their own (``start_new_session``), so a signal
    to our process group does not kill them mid-way either. Outside the main thread (no
    signal handler can be set there) the block runs as it is."""
    global _deferring
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in _DEFERRED_SIGNALS}
    if _deferring == 0:
        for number, handler in previous.items():
            if handler is not None:  # None: set outside Python, which we could not restore
                signal.signal(number, _interrupt)
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if _deferring == 0:
            for number, handler in previous.items():
                if handler is not None:
                    signal.signal(number, handler)
            came, _pending[:] = list(_pending), []
            if came:
                signal.raise_signal(came[0])  # now handled as it would have been


def stop_servers_on_sigterm() -> None:
    """Make SIGTERM (a CI timeout, ``kill``) end the run as Ctrl-C does: pytest then tears
    its fixtures down and the ``atexit`` hooks run, so no server outlives the run. Without
    it, SIGTERM killed the interpreter at once and left the cluster running."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def start_postgres(base_dir: Path | None = None) -> PostgresServer:
    """Create a fresh cluster and start it on a free port on 127.0.0.1.

    A new temporary directory is made inside ``base_dir`` (default: the system temp
    dir, /tmp) and holds ``data/`` (the cluster), ``server.log`` and the Unix socket.
    When we are root that directory is chowned to ``postgres``, so ``base_dir`` must
    be traversable by that user (pytest's ``tmp_path`` under /tmp/pytest-of-root is
    not; leave ``base_dir`` as None there). The caller owns the returned server and
    should ``destroy()`` it; an ``atexit`` hook does so as a last resort.

    Raises PostgresError (with the server log's tail) if anything fails.
    """
    stop_servers_on_sigterm()
    bindir = find_bindir()
    if bindir is None:
        raise PostgresError(
            "PostgreSQL binaries not found: `pg_config --bindir` is missing or has no initdb "
            "(install the `postgresql` package, e.g. `make postgres`)"
        )
    with deferred_interrupts():  # see there: a server half started is a server left behind
        return _create(bindir, base_dir)


def _create(bindir: Path, base_dir: Path | None) -> PostgresServer:
    prefix = _as_server_user()
    base = Path(tempfile.mkdtemp(prefix="gencredits-pg-", dir=base_dir))
    data_dir = base / DATA_NAME
    server = PostgresServer(url="", data_dir=data_dir, port=0, bindir=bindir, base_dir=base)
    atexit.register(server.destroy)
    try:
        if prefix:
            user = pwd.getpwnam(OS_USER)
            os.chown(base, user.pw_uid, user.pw_gid)
        initdb = subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D", str(data_dir),
                "-U", SUPERUSER,
                "-A", "trust",
                "-E", "UTF8",
                "--no-locale",
            ],
            capture_output=True,
            text=True,
            cwd=base,
            env=_clean_env(),
            timeout=COMMAND_TIMEOUT,
            check=False,
            start_new_session=True,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise PostgresError(
                f"initdb failed ({initdb.returncode}):\n{initdb.stdout}{initdb.stderr}"
            )

        # The port is free when we look, but something may grab it before the server
        # binds it; try a few ports before giving up.
        attempts = 3
        for attempt in range(1, attempts + 1):
            server.port = _free_port()
            server.url = server.url_for("postgres")
            try:
                server.start()
                return server
            except PostgresError:
                if attempt == attempts:
                    raise
                with contextlib.suppress(PostgresError, subprocess.SubprocessError):
                    server.stop("immediate")
        raise AssertionError("unreachable")
    except BaseException:
        server.destroy()
        raise
