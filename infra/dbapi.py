"""Core statements compiled once and run straight on a DBAPI connection, for the webhook's hot path.

A push that becomes a queued appeal costs one short transaction: read the sender's dialog state, insert the
inbound row. Through a Session the SQLAlchemy layers (unit of work, execution context, result objects, the
begin/commit events) cost several times the SQL itself (docs/benchmarks.md, Webhook). Here SQLAlchemy still
writes the SQL for the dialect and converts the parameters with the columns' own bind processors (so
`UTCDateTime` and booleans are stored exactly as through the ORM), and only the execution is left to the
driver. On SQLite the transaction runs on a connection each process holds for it (no pool checkout).
Everything else keeps using sessions.

Why the SQLite writer (`_SqliteWriter`: the held connection, the flock, the fork bookkeeping) is kept although
production runs on PostgreSQL: it serves the embedded default that `make run` and a small deployment use, and it
still earns its lines there. `bench/webhook.py` on SQLite, the same tree with and without it (without: a pooled
connection and BEGIN IMMEDIATE, SQLite's busy handler deciding the turns), two runs each: 666 against 534 req/s
(median of six rounds), webhook/bare 0.35–0.37 against 0.25–0.31, p99 170–242 against 213–287 ms
(docs/benchmarks.md, "The SQLite writer after the reorganisation"). On PostgreSQL none of it runs.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine, event
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

    def insert(self, statement: Statements, values: Mapping[str, Any]) -> int | None:
        """Run an INSERT (typically ON CONFLICT DO NOTHING); the new row's id, or None when none was stored.

        The id comes from the statement's RETURNING row where it has one, else from the driver (`lastrowid`
        when one row was inserted): SQLite's RETURNING costs more than the row count and rowid it already has.
        """
        compiled = statement.compiled(self._dialect)
        cursor = self._cursor
        cursor.execute(compiled.sql, compiled.parameters(values))
        if cursor.description is not None:
            rows = cursor.fetchall()
            return rows[0][0] if rows else None
        return cursor.lastrowid if cursor.rowcount == 1 else None


def transaction(engine: Engine) -> AbstractContextManager[Transaction]:
    """One transaction: committed when the block ends, rolled back on an exception.

    On SQLite it runs on the process's own writer connection (`_SqliteWriter`) and takes the write lock at
    BEGIN (BEGIN IMMEDIATE, as infra.db does for sessions), so a read and a write in the block are
    serialisable. Elsewhere it runs on a connection from the engine's pool (PostgreSQL's driver begins
    implicitly; the pool's pre-ping replaces connections the server has dropped).
    """
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        return _sqlite_writer(engine)
    return _pooled_transaction(engine)


@contextmanager
def _pooled_transaction(engine: Engine) -> Iterator[Transaction]:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
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


class _SqliteWriter:
    """The hot path's writer for one SQLite file in one process: one held connection, taken in turns.

    Turns: a thread lock within the process and an flock of a file beside the database between processes.
    Two web workers that met at BEGIN IMMEDIATE would otherwise meet SQLite's busy handler, which sleeps
    1, 2, 5 … ms before retrying, for a lock held about a tenth of a millisecond; the kernel wakes an flock
    waiter the moment the lock is released. This only schedules: SQLite's own lock is still what excludes,
    and other writers (sessions, jobs) meet the busy handler as before.

    One connection: since the turns admit one transaction per process at a time, a single connection,
    created by the engine (so its connect events set the pragmas) and then detached from its pool, serves
    them all. Checking one out of SQLAlchemy's QueuePool and back costs ~10 µs in a tight loop but ~180 µs
    when the caches are cold, as they are between two requests of a busy web worker (docs/benchmarks.md,
    Webhook). It is closed with the engine (`Engine.dispose`), and discarded after an error.

    Used as `with writer as tx:` (through `transaction()`); a plain class rather than a generator-based
    context manager, which cost a third of an empty transaction's time.
    """

    def __init__(self, engine: Engine) -> None:
        self._dialect = engine.dialect
        self._engine = weakref.ref(engine)  # not the engine itself: the WeakKeyDictionary value would pin its key
        self._lock = threading.Lock()
        database = engine.url.database
        assert database
        # An flock belongs to the open file, which a forked child would share with its parent: opened per
        # process (writers are looked up per pid).
        self._fd: int | None = os.open(database + ".writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._conn: Any = None
        self._cursor: Any = None  # of the transaction in progress (one at a time: the lock)

    def _connection(self) -> Any:
        if self._conn is None:
            engine = self._engine()
            assert engine is not None  # it is the caller's
            fairy = engine.raw_connection()
            fairy.detach()  # out of the pool: this connection is ours until close()
            self._conn = fairy.dbapi_connection
        return self._conn

    def __enter__(self) -> Transaction:
        """Take this process's and thread's turn, then BEGIN IMMEDIATE on the held connection."""
        self._lock.acquire()
        try:
            if self._fd is None:
                raise RuntimeError("the engine of this SQLite writer was disposed")
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                cursor = self._connection().cursor()
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                except BaseException:
                    cursor.close()
                    raise
            except BaseException:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                raise
        except BaseException:
            self._lock.release()
            raise
        self._cursor = cursor
        return Transaction(cursor, self._dialect)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        """COMMIT, or ROLLBACK when the block raised (or the COMMIT did); then end the turn."""
        cursor, self._cursor = self._cursor, None
        conn = self._conn
        try:
            cursor.close()
            if exc_type is None:
                try:
                    conn.commit()
                except BaseException:
                    self._abort(conn)
                    raise
            else:
                self._abort(conn)
        finally:
            assert self._fd is not None
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._lock.release()

    def _abort(self, conn: Any) -> None:
        # Roll back what the block did. If even that fails (a disk error, an interrupted COMMIT), the
        # connection's state is unknown: drop it, and the next transaction starts on a new one.
        try:
            if conn.in_transaction:
                conn.rollback()
        except BaseException:
            self._conn = None
            conn.close()
            raise

    def close(self) -> None:
        """Close the connection and the lock file (the engine is being disposed)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


_writers: weakref.WeakKeyDictionary[Engine, tuple[int, _SqliteWriter]] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()
# A forked child keeps its parent's writers referenced, never closed: SQLite connections must not be used
# (closing included) in a child of fork(): https://www.sqlite.org/howtocorrupt.html, "Carrying an open database
# connection across a fork()".
_inherited: list[_SqliteWriter] = []


def _sqlite_writer(engine: Engine) -> _SqliteWriter:
    """The writer of `engine` in this process (a child of fork() makes its own; the parent's are left alone)."""
    entry = _writers.get(engine)
    pid = os.getpid()
    if entry is not None and entry[0] == pid:
        return entry[1]
    with _writers_lock:
        entry = _writers.get(engine)
        if entry is None or entry[0] != pid:
            if entry is not None:
                _inherited.append(entry[1])
            if not event.contains(engine, "engine_disposed", _close_writer):
                event.listen(engine, "engine_disposed", _close_writer)
            entry = _writers[engine] = (pid, _SqliteWriter(engine))
        return entry[1]


def _close_writer(engine: Engine) -> None:
    # A module-level listener: it holds no reference to the engine. Engine.dispose() in a forked child
    # (infra/db.py) leaves the parent's writer alone.
    entry = _writers.get(engine)
    if entry is not None and entry[0] == os.getpid():
        del _writers[engine]
        entry[1].close()
