"""bot/inbound.py on SQLite: the routing read holds no write lock, so only the insert serialises web workers."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select

from bot import inbound
from infra.web import get_db
from models import InboundMessage


def _writer(app) -> sqlite3.Connection:
    path = app.config["DATABASE_URL"].removeprefix("sqlite:///")
    return sqlite3.connect(path, timeout=0.05, isolation_level=None)


def test_the_routing_read_leaves_the_write_lock_free_and_the_insert_takes_it(app):
    session = get_db(app).session()
    other = _writer(app)
    try:
        assert inbound._sqlite_read_first(session)
        assert inbound._resident_state(session, "oNobody") is None
        other.execute("BEGIN IMMEDIATE")  # another web worker writes meanwhile: not blocked by the read
        other.execute("COMMIT")
        session.commit()
        # The next transaction (the insert's) is IMMEDIATE again: it holds the lock until it commits.
        session.execute(select(InboundMessage.id).limit(1)).all()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        session.rollback()
        # With a transaction already open nothing changes.
        session.execute(select(InboundMessage.id).limit(1)).all()
        assert not inbound._sqlite_read_first(session)
    finally:
        session.close()
        other.close()
