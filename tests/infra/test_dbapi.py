"""infra/dbapi.py on real SQLite and PostgreSQL: compiled statements, the columns' own conversions, transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from infra import dbapi
from infra.db import make_engine
from models.base import UTCDateTime

metadata = sa.MetaData()
probe = sa.Table(
    "probe",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(32), unique=True, nullable=False),
    sa.Column("at", UTCDateTime(timezone=True), nullable=False),
    sa.Column("flag", sa.Boolean, nullable=False),
)


def _insert(dialect: str) -> sa.ClauseElement:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {c: bindparam(c) for c in ("name", "at", "flag")}
    return insert(probe).values(values).on_conflict_do_nothing().returning(probe.c.id)


INSERT = dbapi.Statements(_insert)
INSERT_NO_RETURNING = dbapi.Statements(
    lambda _: sqlite_insert(probe).values({c: bindparam(c) for c in ("name", "at", "flag")}).on_conflict_do_nothing()
)
BY_NAME = dbapi.Statements(lambda _: select(probe.c.at, probe.c.flag).where(probe.c.name == bindparam("name")).limit(1))
WHEN = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=UTC)
CST = timezone(timedelta(hours=8))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'probe.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    eng = make_engine(url)
    metadata.create_all(eng)
    yield eng
    eng.dispose()


def test_rows_written_raw_read_back_like_orm_rows(engine: Engine) -> None:
    local = WHEN.astimezone(CST)  # a local time is stored as the same instant in UTC
    with dbapi.transaction(engine) as tx:
        (row_id,) = tx.first(INSERT, {"name": "a", "at": local, "flag": True})
        assert tx.first(INSERT, {"name": "a", "at": local, "flag": False}) is None  # conflict: nothing stored
        assert tx.first(BY_NAME, {"name": "missing"}) is None
    with engine.connect() as conn:  # read through SQLAlchemy: the column types' own result processing
        at, flag = conn.execute(select(probe.c.at, probe.c.flag).where(probe.c.id == row_id)).one()
    assert (at, flag) == (WHEN, True)
    assert at.tzinfo is not None


def test_insert_gives_the_new_rows_id_or_none_on_a_conflict(engine: Engine) -> None:
    statements = [INSERT] + ([INSERT_NO_RETURNING] if engine.dialect.name == "sqlite" else [])
    new_ids = {}
    with dbapi.transaction(engine) as tx:
        for i, statement in enumerate(statements):
            new_ids[f"n{i}"] = tx.insert(statement, {"name": f"n{i}", "at": WHEN, "flag": True})
            assert tx.insert(statement, {"name": f"n{i}", "at": WHEN, "flag": False}) is None  # stored nothing
    with engine.connect() as conn:
        stored = {name: id_ for name, id_ in conn.execute(select(probe.c.name, probe.c.id))}
    assert stored == new_ids


def _insert_then_fail(engine: Engine) -> None:
    with dbapi.transaction(engine) as tx:
        tx.first(INSERT, {"name": "b", "at": WHEN, "flag": False})
        raise RuntimeError("handler failed")


def test_an_exception_rolls_the_transaction_back(engine: Engine) -> None:
    with pytest.raises(RuntimeError):
        _insert_then_fail(engine)
    with engine.connect() as conn:
        assert conn.execute(select(sa.func.count()).select_from(probe)).scalar() == 0


def test_a_missing_value_is_a_key_error_not_a_null(engine: Engine) -> None:
    with pytest.raises(KeyError, match="flag"), dbapi.transaction(engine) as tx:
        tx.first(INSERT, {"name": "c", "at": WHEN})


def test_on_sqlite_the_write_lock_is_held_from_begin_to_commit(tmp_path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    metadata.create_all(eng)
    other = sqlite3.connect(tmp_path / "lock.db", timeout=0.05, isolation_level=None)
    try:
        with dbapi.transaction(eng) as tx:
            assert tx.first(BY_NAME, {"name": "x"}) is None  # only a read so far, and still the lock is held
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
        eng.dispose()


def test_on_sqlite_hot_path_writers_take_turns_on_a_lock_file(tmp_path) -> None:
    import fcntl
    import os

    db = tmp_path / "turns.db"
    eng = make_engine(f"sqlite:///{db}")
    metadata.create_all(eng)
    with dbapi.transaction(eng):
        pass
    other = os.open(f"{db}.writer-lock", os.O_RDWR)  # another process's view: its own open file
    try:
        with dbapi.transaction(eng), pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a second writer waits for its turn
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # and gets it once the transaction has ended
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)
        eng.dispose()


def test_on_sqlite_one_held_connection_serves_every_transaction_and_closes_with_the_engine(tmp_path) -> None:
    import gc
    import weakref

    eng = make_engine(f"sqlite:///{tmp_path / 'held.db'}")
    metadata.create_all(eng)
    checkouts = []
    sa.event.listen(eng.pool, "checkout", lambda *a: checkouts.append(1))
    connections = set()
    for name in ("a", "b", "c"):
        with dbapi.transaction(eng) as tx:
            tx.first(INSERT, {"name": name, "at": WHEN, "flag": True})
            connections.add(id(tx._cursor.connection))
    assert len(connections) == 1
    assert len(checkouts) == 1  # created once through the pool, then held
    held = dbapi._writers[eng][1]._conn
    assert held.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # the engine's connect events ran
    eng.dispose()
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the engine
        held.execute("SELECT 1")
    ref = weakref.ref(eng)
    del eng
    gc.collect()
    assert ref() is None  # the writer registry does not keep a disposed engine alive


def _insert_then_violate(engine: Engine) -> None:
    with dbapi.transaction(engine) as tx:
        tx.first(INSERT, {"name": "d", "at": WHEN, "flag": True})
        tx._cursor.execute("INSERT INTO probe (name, at, flag) VALUES ('e', '2026-01-01', NULL)")  # NOT NULL


def test_on_sqlite_a_failed_transaction_leaves_the_held_connection_usable(tmp_path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'again.db'}")
    metadata.create_all(eng)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            _insert_then_violate(eng)
        with dbapi.transaction(eng) as tx:
            (row_id,) = tx.first(INSERT, {"name": "d", "at": WHEN, "flag": True})  # the first insert was undone
        assert row_id is not None
    finally:
        eng.dispose()


def test_on_sqlite_a_begin_that_fails_ends_the_turn(tmp_path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    metadata.create_all(eng)
    with dbapi.transaction(eng):
        pass
    dbapi._writers[eng][1]._conn.execute("PRAGMA busy_timeout=10")  # fail fast instead of waiting 15 s
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's write lock
        with pytest.raises(sqlite3.OperationalError, match="locked"), dbapi.transaction(eng):
            pass
        other.execute("ROLLBACK")
        with dbapi.transaction(eng) as tx:  # the thread lock and the flock were released
            assert tx.insert(INSERT, {"name": "after", "at": WHEN, "flag": True}) is not None
    finally:
        other.close()
        eng.dispose()
