"""A throwaway PgBouncer in transaction mode in front of the throwaway PostgreSQL.

``start_pgbouncer(server)`` writes a configuration into a temporary directory and starts
Debian's ``pgbouncer`` (found on PATH or in /usr/sbin) on a free port on 127.0.0.1 only, in
``pool_mode = transaction``: every transaction may run on a different server connection, so
anything a client leaves in its session (a prepared statement, a ``SET``, an advisory lock)
is seen, or missed, by whoever gets that connection next. That is how PostgreSQL deployments
usually pool connections, and what gencredits must work behind::

    bouncer = start_pgbouncer(server)
    try:
        url = bouncer.url_for("test_x")      # the same database, through PgBouncer
        ...
    finally:
        bouncer.stop()

Every database of the server is reachable (``* = host=... port=...``) as the superuser
``postgres`` with ``auth_type = trust`` (the user is listed, without password, in a userlist
file). PgBouncer refuses to run as root: then it is started with ``-u postgres``, which drops to
that OS user. It runs in the foreground as our child, in our process group (a signal to the
group stops it too), and is stopped by :meth:`PgBouncer.stop`, by an ``atexit`` hook, and, as
for the server, on SIGTERM (``tests.pgserver`` turns SIGTERM into KeyboardInterrupt).

PgBouncer 1.18 (Debian 12) keeps no track of prepared statements (1.21's
``max_prepared_statements`` does): a client that PREPAREs on one server connection and runs
the statement later may find another connection, where it does not exist or already does.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.pgserver import (
    HOST,
    OS_USER,
    SUPERUSER,
    PostgresError,
    PostgresServer,
    deferred_interrupts,
    libpq_url,
    stop_servers_on_sigterm,
)

__all__ = ["PgBouncer", "PgBouncerError", "find_pgbouncer", "start_pgbouncer"]

READY_TIMEOUT = 30.0  # seconds to wait until PgBouncer accepts connections
STOP_TIMEOUT = 30.0  # seconds to wait for it to exit after SIGTERM (then SIGKILL)
# Server connections per database: a pool smaller than a storm's threads, so clients queue in
# PgBouncer and share connections, as in production.
POOL_SIZE = 8
# Idle server connections are closed after this many seconds: every test has a database of its
# own, and PostgreSQL's max_connections is shared with the tests that connect directly.
SERVER_IDLE_TIMEOUT_SECONDS = 2


class PgBouncerError(PostgresError):
    """PgBouncer could not be found, started or stopped."""


def find_pgbouncer() -> Path | None:
    """Debian's ``pgbouncer`` (on PATH, or /usr/sbin which a non-root PATH may lack)."""
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    return Path(found) if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _configuration(server: PostgresServer, port: int, base: Path) -> str:
    return "\n".join(
        [
            "[databases]",
            f"* = host={HOST} port={server.port}",
            "[pgbouncer]",
            f"listen_addr = {HOST}",
            f"listen_port = {port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {base / 'userlist.txt'}",
            "pool_mode = transaction",
            f"default_pool_size = {POOL_SIZE}",
            "max_client_conn = 1000",
            f"server_idle_timeout = {SERVER_IDLE_TIMEOUT_SECONDS}",
            f"logfile = {base / 'pgbouncer.log'}",
            f"admin_users = {SUPERUSER}",
            "",
        ]
    )


@dataclass
class PgBouncer:
    """One PgBouncer process in transaction mode on 127.0.0.1:``port``."""

    server: PostgresServer
    port: int
    base_dir: Path = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def log_file(self) -> Path:
        return self.base_dir / "pgbouncer.log"

    def url_for(self, database: str) -> str:
        """The SQLAlchemy URL of one of the server's databases, through PgBouncer."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def through(self, url: str) -> str:
        """``url`` (a database on :attr:`server`) rewritten to go through PgBouncer."""
        return self.url_for(url.rsplit("/", 1)[1])

    def is_running(self) -> bool:
        return self.process.poll() is None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self.is_running():
                break
            try:
                with psycopg.connect(libpq_url(self.url_for("postgres")), connect_timeout=5) as c:
                    c.execute("SELECT 1")
                return
            except psycopg.OperationalError as error:
                last = error
                time.sleep(0.1)
        raise PgBouncerError(
            f"PgBouncer on {HOST}:{self.port} did not accept connections within "
            f"{READY_TIMEOUT:.0f}s (exit code {self.process.poll()}): {last}\n"
            f"--- log tail ---\n{_tail(self.log_file)}"
        )

    def stop(self) -> None:
        """Stop PgBouncer (SIGTERM: immediate shutdown; SIGKILL if it lingers) and delete its
        directory. Safe to call more than once; also registered with ``atexit``."""
        with deferred_interrupts():
            try:
                if self.is_running():
                    self.process.send_signal(signal.SIGTERM)
                    try:
                        self.process.wait(STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        self.process.kill()
                        self.process.wait()
            finally:
                atexit.unregister(self.stop)
                shutil.rmtree(self.base_dir, ignore_errors=True)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _command(executable: Path, configuration: Path) -> list[str]:
    if os.geteuid() != 0:
        return [str(executable), str(configuration)]
    return [str(executable), "-u", OS_USER, str(configuration)]


def start_pgbouncer(server: PostgresServer) -> PgBouncer:
    """Start PgBouncer in transaction mode in front of ``server`` on a free loopback port.

    Raises PgBouncerError (with the log's tail) if it cannot be found or does not start."""
    stop_servers_on_sigterm()
    executable = find_pgbouncer()
    if executable is None:
        raise PgBouncerError(
            "pgbouncer not found on PATH or in /usr/sbin (install Debian's `pgbouncer` "
            "package, e.g. `make postgres`)"
        )
    # The server's OS user must read the configuration and write the log.
    base = Path(tempfile.mkdtemp(prefix="gencredits-pgbouncer-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(OS_USER)
        os.chown(base, user.pw_uid, user.pw_gid)
    (base / "userlist.txt").write_text(f'"{SUPERUSER}" ""\n')
    attempts = 3
    for attempt in range(1, attempts + 1):
        configuration = base / "pgbouncer.ini"
        port = _free_port()
        configuration.write_text(_configuration(server, port, base))
        with deferred_interrupts():  # a SIGTERM now would leave the child without its stop()
            process = subprocess.Popen(
                _command(executable, configuration),
                cwd=base,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            bouncer = PgBouncer(server, port, base, process)
            atexit.register(bouncer.stop)
        try:
            bouncer._wait_ready()
            return bouncer
        except PgBouncerError:
            _discard(bouncer)
            if attempt == attempts:  # else a port taken meanwhile: try another one
                shutil.rmtree(base, ignore_errors=True)
                raise
        except BaseException:
            _discard(bouncer)
            shutil.rmtree(base, ignore_errors=True)
            raise
    raise AssertionError("unreachable")


def _discard(bouncer: PgBouncer) -> None:
    """Kill a PgBouncer that did not start, keeping its directory (and log) for a retry."""
    with contextlib.suppress(OSError):
        bouncer.process.kill()
    bouncer.process.wait()
    atexit.unregister(bouncer.stop)
