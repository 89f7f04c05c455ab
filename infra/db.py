"""Database engine and sessions: one transaction per request or job, committed by the caller.

Domain services take a `Session`, call `flush()` when they need ids, and never commit: the HTTP handler,
the job or the CLI command that called them commits once (or rolls back on error).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
DEFERRED_OPTION = "hongguan_sqlite_deferred"


def _dispose_after_fork() -> None:
    # Pooled connections must not cross fork() (RQ forks a work horse per job): the child starts clean.
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_after_fork)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE for every transaction.

    pysqlite defers BEGIN until the first write, so a check-then-insert runs its check outside any lock and
    double-books under concurrency (eight races out of eight in our measurements). Taking the write lock at BEGIN
    makes every transaction serialisable on SQLite. See SQLAlchemy's "Serializable isolation / Savepoints /
    Transactional DDL" recipe for the pysqlite driver.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's begin event emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # The default page cache (2 MiB) stays: under WAL a connection drops its whole cache whenever another
        # connection has committed, so the web workers' short transactions re-read their pages whatever its
        # size (measured: 12.7 page reads per hot-path transaction with two writers taking turns, 0.5 with
        # one; docs/benchmarks.md, Webhook).
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A session made with `Database.session(deferred=True)` only reads (or writes when nothing else
        # does): under WAL a deferred transaction never blocks writers, which an open IMMEDIATE one would.
        deferred = conn.get_execution_options().get(DEFERRED_OPTION, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url` with the project's dialect settings."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            os.makedirs(os.path.dirname(url.removeprefix("sqlite:///")) or ".", exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)
    _engines.add(engine)
    return engine


class Database:
    """An engine plus its session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._deferred_sessionmaker = sessionmaker(
            self.engine.execution_options(**{DEFERRED_OPTION: True}), expire_on_commit=False
        )

    @property
    def is_postgres(self) -> bool:
        """True when running on PostgreSQL (enables exclusion constraints and row locks)."""
        return self.engine.dialect.name == "postgresql"

    def session(self, *, deferred: bool = False) -> Session:
        """A new session; the caller owns commit/rollback/close.

        `deferred=True` (SQLite only; a no-op elsewhere) begins transactions without taking the write lock:
        for read-mostly sessions that may stay open while other connections write (reports, tests).
        """
        return (self._deferred_sessionmaker if deferred else self.sessionmaker)()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any exception."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
