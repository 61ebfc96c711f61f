"""SQLite's WAL checkpoints, run off the writers' path by a thread of their own."""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy import Engine

from gencredits.store.engine import BUSY_TIMEOUT_MS, sqlite_file, writer_lock

logger = logging.getLogger(__name__)

class Checkpointer:
    """WAL checkpoints for a SQLite file, off the writers' path, in a thread of its own.

    By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: the
    committing writer copies the WAL into the database file and fsyncs it, a few ms in which
    every request queued behind that writer (and the writer lock) waits; a charge writes ~11
    pages, so that was every ~90 commits, and it set the HTTP p99 (9.7-14 ms at 1,000 charges a
    second; 7.7-9.6 ms with no checkpoints at all). Here the connections do not checkpoint
    (``wal_autocheckpoint=0``); every ``interval_seconds`` this thread runs a PASSIVE
    checkpoint on its own connection, which copies what it can while writers go on appending.
    The WAL can start over (at the next write) only once a checkpoint has copied every frame,
    which writers appending during the copy can prevent for ever; so once the WAL holds more
    than ``catch_up_frames`` frames, the thread copies what was added meanwhile holding the
    writer lock (writers wait for that short remainder and one fsync, not for the whole copy).
    A commit's durability does not depend on checkpoints: the WAL is fsynced at every
    commit."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval_seconds: float = 0.05,
        catch_up_frames: int = 4_000,
    ) -> None:
        database = sqlite_file(engine)
        assert database is not None, "checkpoints are for a SQLite file"
        self.database = database
        self._lock = writer_lock(engine)
        self._interval = interval_seconds
        self._catch_up_frames = catch_up_frames
        self._stop = threading.Event()
        self.checkpoints = 0  # checkpoints run
        self.caught_up = 0  # of which finished under the writer lock
        self._thread = threading.Thread(
            target=self._run, name="gencredits-checkpointer", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        # The thread must outlive any failure: the engine's connections do not checkpoint, so
        # without it the WAL would grow for ever. Opening the connection is retried like a
        # checkpoint (a fresh database being switched to WAL by another connection answers
        # "database is locked" at once: that killed the thread in one CI run).
        connection: sqlite3.Connection | None = None
        failing = False
        try:
            while not self._stop.wait(self._interval):
                try:
                    if connection is None:
                        connection = self._connect()
                    self.checkpoint(connection)
                except Exception:  # tried again next time; said once while it lasts
                    if not failing:
                        logger.warning("WAL checkpoint of %s failed", self.database, exc_info=True)
                    failing = True
                else:
                    failing = False
        finally:
            if connection is not None:
                connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.database, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False,
        )
        # Not ``journal_mode=WAL``: the engine's connections set it, and that PRAGMA takes a
        # lock (on a fresh file it raced them). On a file not yet in WAL mode a checkpoint
        # does nothing.
        try:
            connection.execute("PRAGMA synchronous=FULL")
        except BaseException:
            connection.close()
            raise
        return connection

    def checkpoint(self, connection: sqlite3.Connection) -> tuple[int, int]:
        """One PASSIVE checkpoint (finished under the writer lock if the WAL has grown past
        ``catch_up_frames``); returns (frames in the WAL, frames copied)."""
        frames, copied = _passive_checkpoint(connection)
        self.checkpoints += 1
        # ``frames`` is the WAL's length when the copy began; writers may have added more
        if frames >= self._catch_up_frames and self._lock is not None:
            with self._lock.held():
                frames, copied = _passive_checkpoint(connection)
            self.caught_up += 1
        return frames, copied

    def close(self) -> None:
        """Stop the thread (a checkpoint under way finishes first)."""
        self._stop.set()
        self._thread.join()


def _passive_checkpoint(connection: sqlite3.Connection) -> tuple[int, int]:
    # fetchall: a statement left unfinished would hold a read snapshot, and a reader on the WAL
    # keeps it from starting over
    (_, frames, copied), = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return int(frames), int(copied)
