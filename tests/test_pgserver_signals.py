"""No throwaway server outlives a run stopped with SIGTERM (a CI timeout, ``kill``), whenever
the signal comes: while the cluster is made, while it starts, while PgBouncer starts, or once
everything runs; sent to the process alone or to its whole process group.

Each case runs a child Python that starts the servers as the fixtures do, signals it when a
given program (``initdb``, ``pg_ctl ... start``, ``pgbouncer``) is running on its behalf, waits
for it to exit, then looks for any process still running from the child's temporary
directory (every server's command line names its directory there)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgbouncer import find_pgbouncer
from tests.pgserver import PostgresServer

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 60.0  # a generous bound for a stage to come or the child to exit

CHILD = """
import sys, time
from tests.pgserver import start_postgres
server = start_postgres()
if sys.argv[1] == "pgbouncer":
    from tests.pgbouncer import start_pgbouncer
    start_pgbouncer(server)
print("ready", flush=True)
time.sleep(600)
"""


def _processes_naming(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in command:
            found.append(f"{entry.name}: {command}")
    return found


@pytest.fixture
def scratch() -> Iterator[Path]:
    # Under /tmp and readable by the server's OS user (pytest's tmp_path is not).
    path = Path(tempfile.mkdtemp(prefix="gencredits-sigterm-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.005)
    raise AssertionError(f"never saw {what}")


CASES = [  # (servers started, the stage signalled at, whom the signal is sent to)
    ("postgres", "initdb", "group"),
    ("postgres", " start", "process"),
    ("postgres", " start", "group"),
    ("postgres", "ready", "group"),
    ("pgbouncer", "pgbouncer.ini", "group"),
    ("pgbouncer", "ready", "process"),
]


def _signal_at(child: subprocess.Popen[bytes], stage: str, target: str, scratch: Path) -> None:
    """Send SIGTERM to ``child`` (or its group) once ``stage`` is reached; wait for its exit."""
    try:
        if stage == "ready":
            assert child.stdout is not None
            assert child.stdout.readline() == b"ready\n"
        else:
            _wait_for(
                lambda: any(stage in line for line in _processes_naming(str(scratch))),
                f"{stage!r} running",
            )
        if target == "group":
            os.killpg(child.pid, signal.SIGTERM)
        else:
            child.send_signal(signal.SIGTERM)
        child.wait(WAIT_SECONDS)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize(("servers", "stage", "target"), CASES)
def test_sigterm_leaves_no_server_running(
    postgres_server: PostgresServer, scratch: Path, servers: str, stage: str, target: str
) -> None:
    # postgres_server: only so that this test skips or fails with the others without binaries.
    if servers == "pgbouncer" and find_pgbouncer() is None:
        pytest.fail("pgbouncer is not installed (`make postgres` installs it)")
    environment = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, servers],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, to signal as a CI runner would
    ) as child:
        _signal_at(child, stage, target, scratch)
    left: list[str] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        left = _processes_naming(str(scratch))
        if not left:
            break
        time.sleep(0.1)
    for line in left:  # do not leave them to the next run either
        os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
    assert not left, f"still running after SIGTERM at {stage!r}:\n" + "\n".join(left)
