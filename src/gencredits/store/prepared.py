"""The hot path's statements, compiled once per dialect and run on the driver's connection.

A prebuilt SQLAlchemy Core statement still pays for SQLAlchemy's execution machinery on every
call (the compiled-cache look-up, execution context, events, result wrapping): 14 µs for a
one-row UPDATE that the driver runs in 6 µs (benchmarks/RESULTS.md). :class:`Prepared` keeps
the statement written as Core (so it is the same SQL SQLAlchemy would send, for SQLite and
PostgreSQL alike) but compiles it once per dialect and sends the string straight to the DBAPI
connection of the caller's :class:`~sqlalchemy.Connection`, inside the caller's transaction.
Parameters and result columns go through the very bind and result processors of their column
types (UTC datetimes, JSON, booleans), so values are what ``Connection.execute`` would give.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters, in the order the SQL needs them
    positional: bool
    literals: dict[str, Any]  # values the statement was written with (``remaining > 0``)
    bind_processors: tuple[tuple[int, Processor], ...]  # (position, processor)
    result_processors: tuple[tuple[int, Processor], ...]  # (column, processor)
    keys: tuple[str, ...]  # the result columns' names

    def parameters(self, values: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
        if self.literals:
            values = self.literals | dict(values)
        try:
            processed = [values[name] for name in self.names]
        except KeyError as missing:
            raise KeyError(f"the statement needs a value for {missing}") from None
        for position, process in self.bind_processors:
            processed[position] = process(processed[position])
        if self.positional:
            return processed
        return dict(zip(self.names, processed, strict=True))

    def row(self, raw: Any) -> tuple[Any, ...]:
        if not self.result_processors:
            return tuple(raw)
        row = list(raw)
        for position, process in self.result_processors:
            if row[position] is not None:
                row[position] = process(row[position])
        return tuple(row)


class Prepared:
    """A Core statement run through the driver: ``execute`` for writes, ``rows``/``first``
    for reads (tuples in the statement's column order)."""

    __slots__ = ("_by_dialect", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[int, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(id(dialect))
        if found is None:
            found = self._compile(dialect)
            self._by_dialect[id(dialect)] = found
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        statement: Any = self.statement
        compiled: Any = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup if dialect.positional else compiled.binds)
        by_name = compiled._bind_processors
        # A bare bindparam() must be given; a value the statement was written with is used
        # as it is.
        literals = {
            name: compiled.binds[name].effective_value
            for name in names
            if not compiled.binds[name].required
        }
        bind_processors = tuple(
            (position, by_name[name]) for position, name in enumerate(names) if name in by_name
        )
        columns = getattr(compiled, "_result_columns", None) or []
        result_processors = []
        for position, column in enumerate(columns):
            process = column.type._cached_result_processor(dialect, None)
            if process is not None:
                result_processors.append((position, process))
        return _Compiled(
            compiled.string,
            names,
            dialect.positional,
            literals,
            bind_processors,
            tuple(result_processors),
            tuple(column.keyname for column in columns),
        )

    def _cursor(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, _Compiled]:
        compiled = self._compiled(connection.dialect)
        return _driver(connection).execute(compiled.sql, compiled.parameters(values)), compiled

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run a write; returns the number of rows it changed."""
        cursor, _ = self._cursor(connection, values)
        return int(cursor.rowcount)

    def execute_many(self, connection: Connection, many: Sequence[Mapping[str, Any]]) -> int:
        """Run a write once per mapping of ``many`` (the driver's ``executemany``; psycopg
        pipelines it); returns the number of rows changed in all, or -1 where the driver does
        not count them."""
        compiled = self._compiled(connection.dialect)
        cursor = _driver(connection).cursor()
        try:
            cursor.executemany(compiled.sql, [compiled.parameters(values) for values in many])
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def change(
        self, connection: Connection, values: Mapping[str, Any], expected: int, what: str
    ) -> None:
        """Run a write that must change ``expected`` rows; :class:`RowCountMismatch` naming
        ``what`` went wrong otherwise. Inside :func:`pipelined`, checked when it ends."""
        cursor, _ = self._cursor(connection, values)
        _check_count(connection, cursor, expected, what)

    def change_many(
        self, connection: Connection, many: Sequence[Mapping[str, Any]], what: str
    ) -> None:
        """:meth:`execute_many` of writes that must change a row each, checked as
        :meth:`change` checks (where the driver counts executemany's rows: both here do)."""
        compiled = self._compiled(connection.dialect)
        cursor = _driver(connection).cursor()
        cursor.executemany(compiled.sql, [compiled.parameters(values) for values in many])
        _check_count(connection, cursor, len(many), what)

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        cursor, compiled = self._cursor(connection, values)
        return [compiled.row(raw) for raw in cursor.fetchall()]

    def first(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        cursor, compiled = self._cursor(connection, values)
        raw = cursor.fetchone()
        return None if raw is None else compiled.row(raw)

    def first_mapping(
        self, connection: Connection, values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """:meth:`first` as a dict of the result columns' names."""
        cursor, compiled = self._cursor(connection, values)
        raw = cursor.fetchone()
        return None if raw is None else dict(zip(compiled.keys, compiled.row(raw), strict=True))


def _driver(connection: Connection) -> Any:
    """The driver's own connection under ``connection``: for the synchronous drivers used
    here (sqlite3, psycopg) the DBAPI connection itself, one attribute away (the pool's
    ``driver_connection`` took four calls, and a charge asks for it once a statement)."""
    driver = connection.connection.dbapi_connection
    assert driver is not None, "the connection is closed"
    return driver


# --- pipelines --------------------------------------------------------------------------------

_CHECKS = "gencredits_pipeline_checks"  # connection.info: the open pipeline's row counts


class RowCountMismatch(AssertionError):
    """A write that had to change rows changed another number of them (a grant that could
    not give its share, an account gone): a broken invariant, raised rather than asserted so
    that ``python -O`` keeps the check. The unit of work around it rolls back."""


@contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """On PostgreSQL, send the statements run inside in one pipeline (psycopg's pipeline
    mode): writes go out without waiting for each other's answers, and only a read that needs
    its rows waits, so a batch's four writes cost two round trips instead of four to twelve.
    The server still runs them in order, in the caller's transaction; an error raises (at the
    read, or when the block ends) and the caller's transaction rolls back as ever.

    Row counts are known only once their answers are in: :meth:`Prepared.change` and
    :meth:`Prepared.change_many` inside the block are checked when it ends. Elsewhere (SQLite,
    or outside the block) they are checked at once. Only those and this module's reads may run
    inside: a statement run through SQLAlchemy would read its row count too early."""
    if connection.dialect.name != "postgresql" or _CHECKS in connection.info:
        yield
        return
    checks: list[tuple[Any, int, str]] = []
    connection.info[_CHECKS] = checks
    try:
        with _driver(connection).pipeline():
            yield
        for cursor, expected, what in checks:
            _require(cursor.rowcount, expected, what)
    finally:
        del connection.info[_CHECKS]
        for cursor, _, _ in checks:
            cursor.close()


def _check_count(connection: Connection, cursor: Any, expected: int, what: str) -> None:
    checks = connection.info.get(_CHECKS)
    if checks is not None:
        checks.append((cursor, expected, what))
        return
    try:
        _require(cursor.rowcount, expected, what)
    finally:
        cursor.close()


def _require(changed: int, expected: int, what: str) -> None:
    if changed != expected:
        raise RowCountMismatch(f"{what} (changed {changed} rows, not {expected})")


class PreparedInsert:
    """A one-row ``INSERT`` of a table with an autoincrement ``id``, run for many rows at once
    through the driver (``executemany``); :meth:`insert_many` returns the new rows' ids in the
    order of the rows.

    PostgreSQL (psycopg): ``executemany(..., returning=True)`` pipelines the INSERTs and gives
    each row's ``RETURNING id`` in order. SQLite: its ``executemany`` returns no rows, but the
    rows of one transaction's INSERTs get consecutive rowids once it has written (it holds the
    write lock until commit, and a new rowid is the largest + 1), so the ids are the last
    inserted rowid and the ones before it."""

    __slots__ = ("_plain", "_returning")

    def __init__(self, statement: Any) -> None:
        self._plain = Prepared(statement)
        self._returning = Prepared(statement.returning(statement.table.c.id))

    def insert(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """One row; its id."""
        row = self._returning.first(connection, values)
        assert row is not None
        return int(row[0])

    def insert_many(self, connection: Connection, many: Sequence[Mapping[str, Any]]) -> list[int]:
        if len(many) <= 1:
            return [self.insert(connection, values) for values in many]
        if connection.dialect.name == "sqlite":
            self._plain.execute_many(connection, many)
            last = int(_driver(connection).execute("SELECT last_insert_rowid()").fetchone()[0])
            return list(range(last - len(many) + 1, last + 1))
        compiled = self._returning._compiled(connection.dialect)
        cursor = _driver(connection).cursor()
        try:
            cursor.executemany(
                compiled.sql, [compiled.parameters(values) for values in many], returning=True
            )
            ids = []
            while True:
                ids.append(int(cursor.fetchone()[0]))
                if not cursor.nextset():
                    break
            return ids
        finally:
            cursor.close()


class PreparedIn:
    """A statement with one ``IN`` list, compiled for a few list lengths and run through the
    driver like :class:`Prepared`.

    ``build(binds)`` returns the statement whose IN list is ``binds``: bind parameters, one an
    item (or a tuple of ``width`` of them an item). The items are sent in chunks of at most
    :attr:`SIZES`' largest, each chunk padded to the next size by repeating its last item (a
    repeated value changes nothing in an IN list), so a batch of any length runs statements
    compiled once: SQLAlchemy's expanding IN re-renders the SQL on every call, 12 µs an item
    for a pair of columns."""

    SIZES = (1, 4, 16, 64, 256)

    __slots__ = ("_by_size", "_width")

    def __init__(self, build: Callable[[list[Any]], Executable], width: int = 1) -> None:
        self._width = width
        self._by_size = {size: Prepared(build(self._binds(size))) for size in self.SIZES}

    def _binds(self, size: int) -> list[Any]:
        if self._width == 1:
            return [bindparam(f"in_{index}") for index in range(size)]
        return [
            tuple(bindparam(f"in_{index}_{position}") for position in range(self._width))
            for index in range(size)
        ]

    def rows(
        self, connection: Connection, items: Sequence[Any], values: Mapping[str, Any] = {}
    ) -> list[tuple[Any, ...]]:
        """Every row for ``items`` (values, or tuples of ``width`` values), chunk by chunk."""
        found: list[tuple[Any, ...]] = []
        largest = self.SIZES[-1]
        for start in range(0, len(items), largest):
            chunk = list(items[start : start + largest])
            size = next(size for size in self.SIZES if size >= len(chunk))
            chunk += [chunk[-1]] * (size - len(chunk))
            parameters = dict(values)
            for index, item in enumerate(chunk):
                if self._width == 1:
                    parameters[f"in_{index}"] = item
                else:
                    for position, value in enumerate(item):
                        parameters[f"in_{index}_{position}"] = value
            found += self._by_size[size].rows(connection, parameters)
        return found
