"""A backup made with deploy/bin/hongguan-backup restores into a fresh PostgreSQL server with the same rows and
the same KPIs, and the restored schema passes `hongguan db check`."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import models
from infra import clock
from infra.embedded import EmbeddedPostgres
from infra.migrate import upgrade
from infra.web import get_db

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "deploy" / "bin"

pytestmark = pytest.mark.postgres


def _fresh_database(server: EmbeddedPostgres, name: str) -> str:
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.url.rsplit("/", 1)[0] + f"/{name}"


def _snapshot(url: str) -> tuple[dict[str, int], list[tuple]]:
    """Row count of every table, and the KPI table per grid, of the database at `url`."""
    from infra.db import make_engine
    from services.appeals.kpi import kpi_table

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            counts = {
                t.name: conn.scalar(sa.select(sa.func.count()).select_from(t))
                for t in models.Base.metadata.sorted_tables
            }
        with sa.orm.Session(engine) as session:
            now = clock.now()
            rows = kpi_table(session, start=now - timedelta(days=30), end=now + timedelta(days=1), group_by="grid")
            kpis = [dataclasses.astuple(r) for r in rows]
    finally:
        engine.dispose()
    return counts, kpis


def _populate(app_config: dict, url: str) -> None:
    """The demo community with a few appeals taken through the loop, written by the application itself."""
    from services.appeals.intake import handle_text
    from services.appeals.workflow import Actor, accept, handler_staff, resolve, start
    from services.demo import seed_all
    from services.organisation.residents import bind_to_building, get_or_create
    from wsgi import create_app

    app = create_app({**app_config, "DATABASE_URL": url, "RQ_SYNC": False})
    try:
        with app.app_context(), get_db(app).transaction() as session:
            seed_all(session)
            building = session.scalars(sa.select(models.Building).order_by(models.Building.id)).first()
            texts = ["3栋楼道的灯坏了好几天", "小区门口垃圾没人清理", "楼下烧烤店每天半夜很吵", "电梯又坏了"]
            appeals = []
            for i, text in enumerate(texts):
                resident = get_or_create(session, f"o-backup-{i:04d}")
                bind_to_building(session, resident, building.id)
                result = handle_text(session, resident, text)
                if result.appeal is not None:
                    appeals.append(result.appeal)
            assert len(appeals) >= 2
            for appeal in appeals[:2]:
                staff = handler_staff(session, appeal)
                if staff:
                    actor = Actor("staff", staff[0].id, staff[0].role)
                    accept(session, appeal, actor=actor)
                    start(session, appeal, actor=actor)
                    resolve(session, appeal, actor=actor, reply="已处理")
    finally:
        get_db(app).dispose()


def test_backup_restores_into_a_fresh_server(pg_server, app_config, tmp_path):
    source = _fresh_database(pg_server, "backup_source")
    upgrade(source)
    _populate(app_config, source)
    before = _snapshot(source)
    assert before[0]["appeal"] >= 2
    assert before[0]["appeal_event"] > before[0]["appeal"]

    env = {**os.environ, "HONGGUAN_DATABASE_URL": source}
    out = subprocess.run(
        [str(BIN / "hongguan-backup"), str(tmp_path / "backups"), "3"], env=env, capture_output=True, text=True,
        check=True, timeout=120,
    )  # fmt: skip
    dump = Path(out.stdout.strip())
    assert dump.is_file()
    assert dump.stat().st_size > 0
    assert not list((tmp_path / "backups").glob(".*partial"))

    fresh = EmbeddedPostgres().start()
    try:
        target = _fresh_database(fresh, "restored")
        restore_env = {
            **os.environ,
            "HONGGUAN_BIN": str(Path(sys.executable).parent / "hongguan"),
            "HONGGUAN_INSTANCE_PATH": str(tmp_path / "instance"),
        }
        done = subprocess.run(
            [str(BIN / "hongguan-restore"), str(dump), target], env=restore_env, capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "database is up to date" in done.stdout
        assert _snapshot(target) == before
        # A second restore into the now populated database is refused: a restore never merges into live data.
        again = subprocess.run(
            [str(BIN / "hongguan-restore"), str(dump), target], env=restore_env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert again.returncode != 0
        assert "already has" in again.stderr
    finally:
        fresh.stop()
