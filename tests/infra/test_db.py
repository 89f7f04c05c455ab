"""SQLite transactions take the write lock at BEGIN, so a check-then-insert cannot interleave."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select, text

from infra.db import Database
from models import Base, Community


def test_sqlite_check_then_insert_is_serialised(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'lock.db'}")
    Base.metadata.create_all(db.engine)
    barrier = threading.Barrier(8)
    created: list[bool] = []

    def claim(n: int) -> None:
        barrier.wait()
        with db.transaction() as s:
            exists = s.scalar(select(func.count()).select_from(Community).where(Community.code == "only-one"))
            time.sleep(0.02)  # the window in which a deferred transaction would let another one in
            if not exists:
                s.add(Community(code="only-one", name=f"claimed by {n}"))
                created.append(True)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Community)) == 1
    assert created == [True]
    db.dispose()


def test_deferred_session_does_not_block_writers(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    Base.metadata.create_all(db.engine)
    reader = db.session(deferred=True)
    reader.execute(text("SELECT 1 FROM community")).all()  # an open read transaction
    with db.transaction() as writer:  # would wait for the busy timeout if the reader held the write lock
        writer.add(Community(code="c1", name="written while a reader is open"))
    reader.rollback()
    assert reader.scalar(select(func.count()).select_from(Community)) == 1
    reader.close()
    db.dispose()
