"""Shared fixtures: a real Redis server, real SQLite files, a real PostgreSQL cluster, the WeChat sandbox.

Every test gets its own SQLite file (copied from a template built once) and an empty Redis database.
PostgreSQL starts once per session, only if a test asks for it, and each such test gets a fresh database
cloned from a template.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

import models
from infra import clock as clock_module
from infra.db import make_engine
from infra.embedded import EmbeddedPostgres, EmbeddedRedis
from infra.web import get_db, get_redis

# A fixed test timezone moment: Friday 2026-11-20 10:00 in Suzhou (a working day).
FROZEN_AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One real redis-server for the whole test session."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    """URL of an emptied Redis database."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()  # a test stopped it to simulate an outage
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the full schema, copied for each test (faster than create_all per test)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    models.Base.metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    """The project's WeChat sandbox on loopback, shared by the session."""
    from wechat.sandbox import SandboxServer

    server = SandboxServer(port=0).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: Any) -> Any:
    """The sandbox with its records and failure switches reset."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def app_config(tmp_path: Path, redis_url: str, sqlite_template: Path, sandbox: Any) -> dict[str, Any]:
    """Configuration of the test app; tests may edit it before asking for `app`."""
    db_path = tmp_path / "hongguan.db"
    shutil.copy(sqlite_template, db_path)
    return {
        "ENV": "development",
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{db_path}",
        "REDIS_URL": redis_url,
        "WECHAT_API_BASE": sandbox.url,
        "WECHAT_APPID": sandbox.appid,
        "WECHAT_SECRET": sandbox.secret,
        "MINIAPP_APPID": sandbox.miniapp_appid,
        "MINIAPP_SECRET": sandbox.miniapp_secret,
        "WECHAT_TOKEN": "test-token",
        "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "WECHAT_ACCOUNT_ID": "gh_test",
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The hongguan app on a fresh SQLite file, a clean Redis and the sandbox."""
    from wsgi import create_app

    application = create_app(app_config)
    yield application
    get_db(application).dispose()
    get_redis(application).close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A DB session on the app's database (commit to make rows visible to requests and jobs).

    Deferred on SQLite: a test that keeps this session open while requests and jobs run must not hold the
    write lock that the app's own (IMMEDIATE) transactions need.
    """
    s = get_db(app).session(deferred=True)
    _end_snapshot_on_expire(s)
    yield s
    s.rollback()
    s.close()


def _end_snapshot_on_expire(s: Session) -> None:
    """Make `session.expire_all()` mean "show me what requests and jobs wrote since".

    A deferred SQLite transaction reads from a WAL snapshot taken at its first read; expiring objects alone
    would re-read that old snapshot. Committing first ends the transaction, so the next read starts afresh.
    """
    expire_all = s.expire_all

    def fresh_expire_all() -> None:
        s.commit()
        expire_all()

    s.expire_all = fresh_expire_all  # type: ignore[method-assign]


@pytest.fixture
def org(session: Session) -> Any:
    """The demo community: 3 grids, 2 estates, 2 property companies, departments and staff."""
    from services.demo import seed_org

    result = seed_org(session)
    session.commit()
    return result


@pytest.fixture
def clock() -> Iterator[Any]:
    """The project clock frozen at FROZEN_AT; use clock.advance(timedelta) to move it."""
    clock_module.freeze(FROZEN_AT)
    yield clock_module
    clock_module.unfreeze()


@pytest.fixture
def run_jobs(app: Flask) -> Callable[..., int]:
    """Run every queued RQ job to completion in-process (a real SimpleWorker in burst mode), after relaying the
    webhook's stored messages to RQ."""
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    from infra.web import get_redis
    from jobs.queue import QUEUES, get_queue
    from jobs.worker import HongguanSimpleWorker

    def _done(queue_objects: list[Any]) -> int:
        return sum(FinishedJobRegistry(queue=q).count + FailedJobRegistry(queue=q).count for q in queue_objects)

    def run(queues: tuple[str, ...] = QUEUES) -> int:
        """Relay stored messages to RQ (as the scheduler's relay thread does), then work until the queues are
        empty; return how many jobs finished or failed."""
        from infra.web import db_session
        from jobs.relay import relay_inbound

        with app.app_context():
            while relay_inbound(db_session(), get_redis()) > 0:
                pass
            queue_objects = [get_queue(q) for q in queues]
            worker = HongguanSimpleWorker(queue_objects, connection=get_redis(), app=app)
        before = _done(queue_objects)
        worker.work(burst=True)
        return _done(queue_objects) - before

    return run


# ---------------------------------------------------------------- PostgreSQL

_pg_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """A real PostgreSQL cluster in a temp dir, started on first use (needs initdb; see the Makefile)."""
    server = EmbeddedPostgres().start()
    engine = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE hongguan_template"))
    engine.dispose()
    template_url = server.url.rsplit("/", 1)[0] + "/hongguan_template"
    engine = make_engine(template_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS btree_gist"))
    models.Base.metadata.create_all(engine)
    engine.dispose()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: EmbeddedPostgres) -> str:
    """URL of a fresh PostgreSQL database with the full schema (cloned from the template)."""
    name = f"t{next(_pg_counter)}"
    admin = sa.create_engine(pg_server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE hongguan_template"))
    admin.dispose()
    return pg_server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def pg_app(app_config: dict[str, Any], pg_url: str) -> Iterator[Flask]:
    """The hongguan app on PostgreSQL instead of SQLite."""
    from wsgi import create_app

    application = create_app({**app_config, "DATABASE_URL": pg_url})
    yield application
    get_db(application).dispose()
    get_redis(application).close()
