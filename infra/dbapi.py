"""Core statements compiled once and run straight on a pooled DBAPI connection, for the webhook's hot path.

A push that becomes a queued appeal costs one short transaction: read the sender's dialog state, insert the
inbound row. Through a Session the SQLAlchemy layers (unit of work, execution context, result objects, the
begin/commit events) cost several times the SQL itself (docs/benchmarks.md, Webhook). Here SQLAlchemy still
writes the SQL for the dialect and converts the parameters with the columns' own bind processors (so
`UTCDateTime` and booleans are stored exactly as through the ORM), and only the execution is left to the
driver. Everything else keeps using sessions.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement


class Compiled:
    """One statement compiled for one dialect: its SQL text, and how to turn named values into parameters."""

    def __init__(self, stmt: ClauseElement, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        positions = compiled.positiontup  # None for named paramstyles (psycopg's pyformat)
        self._names: tuple[str, ...] = tuple(positions) if positions is not None else tuple(compiled.binds)
        self._positional = positions is not None
        processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.bind_processor(dialect)
            if process is not None:
                processors[name] = process
        self._processors = processors
        # Binds that carry their own value, such as LIMIT's.
        self._defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters for `values`; KeyError names a required value that is missing."""
        procs, defaults = self._processors, self._defaults
        out = []
        for name in self._names:  # positional: a bind used twice appears twice
            value = values[name] if name in values or name not in defaults else defaults[name]
            out.append(procs[name](value) if name in procs else value)
        return tuple(out) if self._positional else dict(zip(self._names, out, strict=True))


class Statements:
    """A statement built and compiled once per dialect, on first use.

    `build(dialect_name)` returns the statement: constructs such as ON CONFLICT come from dialect-specific
    modules (sqlalchemy.dialects.sqlite / postgresql)."""

    def __init__(self, build: Callable[[str], ClauseElement]) -> None:
        self._build = build
        self._stmts: dict[str, ClauseElement] = {}
        self._compiled: dict[str, Compiled] = {}

    def stmt(self, dialect: Dialect) -> ClauseElement:
        """The statement for `dialect`, e.g. to run through a Session's connection."""
        stmt = self._stmts.get(dialect.name)
        if stmt is None:
            stmt = self._stmts[dialect.name] = self._build(dialect.name)
        return stmt

    def compiled(self, dialect: Dialect) -> Compiled:
        """The statement compiled for `dialect`."""
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = Compiled(self.stmt(dialect), dialect)
        return compiled


class Transaction:
    """A DBAPI cursor inside one transaction; `first()` runs a statement and returns its first row."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def first(self, statement: Statements, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Execute and return the first row (None when there is none or the statement returns no rows)."""
        compiled = statement.compiled(self._dialect)
        cursor = self._cursor
        cursor.execute(compiled.sql, compiled.parameters(values))
        if cursor.description is None:
            return None
        row = cursor.fetchone()
        # Drain the rest: SQLite finishes a RETURNING statement's work only when its rows are read.
        cursor.fetchall()
        return tuple(row) if row is not None else None


@contextmanager
def transaction(engine: Engine) -> Iterator[Transaction]:
    """One transaction on a pooled connection: committed when the block ends, rolled back on an exception.

    SQLite takes the write lock at BEGIN (BEGIN IMMEDIATE, as infra.db does for sessions), so a read and a
    write in the block are serialisable; the project's connections run pysqlite in autocommit mode, so the
    BEGIN is explicit. PostgreSQL's driver begins implicitly.
    """
    sqlite = engine.dialect.name == "sqlite"
    with _writer_turn(engine.url.database) if sqlite else nullcontext():
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                if sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                yield Transaction(cursor, engine.dialect)
            except BaseException:
                raw.rollback()
                raise
            else:
                raw.commit()
            finally:
                cursor.close()
        finally:
            raw.close()  # back to the pool


_turns: dict[tuple[int, str], tuple[threading.Lock, int]] = {}
_turns_lock = threading.Lock()


@contextmanager
def _writer_turn(database: str | None) -> Iterator[None]:
    """Hot-path writers of one SQLite file take turns: a thread lock within a process, an flock of a file
    beside the database between processes.

    Two web workers that meet at BEGIN IMMEDIATE would otherwise meet SQLite's busy handler, which sleeps
    1, 2, 5 … ms before retrying, for a lock held about a tenth of a millisecond; the kernel wakes an flock
    waiter the moment the lock is released. This only schedules: SQLite's own lock is still what excludes,
    and other writers (sessions, jobs) meet the busy handler as before. The file is opened once per process
    (an flock belongs to the open file, which a forked child would share with its parent, and threads of one
    process share it too, hence the thread lock).
    """
    if not database or database == ":memory:":
        yield
        return
    key = (os.getpid(), database)
    turn = _turns.get(key)
    if turn is None:
        with _turns_lock:
            turn = _turns.get(key)
            if turn is None:
                fd = os.open(database + ".writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
                turn = _turns[key] = (threading.Lock(), fd)
    lock, fd = turn
    with lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
