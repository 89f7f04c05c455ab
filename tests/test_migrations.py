"""Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import models
from infra.db import make_engine
from infra.migrate import alembic_config, is_up_to_date, upgrade


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, models.Base.metadata)
    finally:
        engine.dispose()


def test_sqlite_migrations_match_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    assert is_up_to_date(url)
    assert _diff(url) == []


@pytest.mark.postgres
def test_postgres_migrations_match_models(pg_server):
    admin = sa.create_engine(pg_server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE migrations_check"))
    admin.dispose()
    url = pg_server.url.rsplit("/", 1)[0] + "/migrations_check"
    upgrade(url)
    assert is_up_to_date(url)
    assert _diff(url) == []


def test_there_is_a_single_head():
    from alembic.script import ScriptDirectory

    from infra.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"parallel migrations must be merged: {heads}"


def _msg_id_after_upgrade(url: str) -> list:
    """Store a message under revision 0010 (msg_id BIGINT), upgrade to head, read its msg_id back."""
    upgrade(url, "0010_push_nonce")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO inbound_message (dedupe_key, openid, msg_type, msg_id, wx_create_time, body,"
                    " encrypted, status, deliveries, attempts, received_at)"
                    " VALUES ('msg:6054768590064713728', 'oA', 'text', 6054768590064713728, 1, '<xml/>',"
                    " false, 'handled', 1, 1, CURRENT_TIMESTAMP)"
                )
            )
        upgrade(url)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO inbound_message (dedupe_key, openid, msg_type, msg_id, wx_create_time, body,"
                    " encrypted, status, deliveries, attempts, received_at)"
                    " VALUES ('msg:18446744073709551615', 'oA', 'text', '18446744073709551615', 1, '<xml/>',"
                    " false, 'handled', 1, 1, CURRENT_TIMESTAMP)"
                )
            )
            upgraded = [tuple(r) for r in conn.execute(sa.text("SELECT msg_id FROM inbound_message ORDER BY id"))]
        # Downgrading keeps what fits a BIGINT; the id that does not becomes NULL (the row stays).
        command.downgrade(alembic_config(url), "0010_push_nonce")
        with engine.begin() as conn:
            downgraded = [tuple(r) for r in conn.execute(sa.text("SELECT msg_id FROM inbound_message ORDER BY id"))]
        assert downgraded == [(6054768590064713728,), (None,)]
        return upgraded
    finally:
        engine.dispose()


def test_sqlite_msg_ids_become_text_and_keep_their_digits(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert _msg_id_after_upgrade(url) == [("6054768590064713728",), ("18446744073709551615",)]


@pytest.mark.postgres
def test_postgres_msg_ids_become_text_and_keep_their_digits(pg_server):
    admin = sa.create_engine(pg_server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE msgid_check"))
    admin.dispose()
    url = pg_server.url.rsplit("/", 1)[0] + "/msgid_check"
    assert _msg_id_after_upgrade(url) == [("6054768590064713728",), ("18446744073709551615",)]


def test_appeals_without_a_community_get_one_from_their_place_unit_or_the_default(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'backfill.db'}"
    upgrade(url, "0010_push_nonce")
    t = models.Base.metadata.tables
    engine = make_engine(url)
    with engine.begin() as conn:
        for cid, code in ((1, "north"), (2, "south")):
            conn.execute(t["community"].insert().values(id=cid, code=code, name=code))
        conn.execute(t["grid"].insert().values(id=1, community_id=1, code="g", name="g"))
        for pid in (1, 2):
            conn.execute(t["property_company"].insert().values(id=pid, code=f"pc{pid}", name=f"pc{pid}"))
        # Company 1 serves estates in one community; company 2 in both (it names no single community).
        estates = ((1, 2, 1), (2, 2, 2), (3, 1, 2))
        for eid, cid, pid in estates:
            conn.execute(
                t["estate"].insert().values(id=eid, community_id=cid, code=f"e{eid}", name="e", property_company_id=pid)
            )
        conn.execute(t["building"].insert().values(id=1, estate_id=1, grid_id=1, name="b"))
        conn.execute(t["department"].insert().values(id=1, code="fire", name="消防"))
        rows = {
            "by_grid": {"grid_id": 1},
            "by_building": {"building_id": 1, "grid_id": None},
            "by_company": {"property_company_id": 1},
            "ambiguous_company": {"property_company_id": 2},
            "department": {"department_id": 1},
            "kept": {"community_id": 1, "department_id": 1},
        }
        for text, values in rows.items():
            conn.execute(t["appeal"].insert().values(text=text, **values))
    engine.dispose()
    monkeypatch.setenv("HONGGUAN_DEFAULT_COMMUNITY", "south")
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        got = dict(conn.execute(sa.text("SELECT text, community_id FROM appeal")).all())
    engine.dispose()
    assert got == {
        "by_grid": 1,
        "by_building": 1,  # no grid on the row: the building's grid decides, as in routing
        "by_company": 2,
        "ambiguous_company": 2,  # the default (south)
        "department": 2,  # the default (south)
        "kept": 1,
    }


# Application code a migration may use: the column types of the models' base (they must match the models).
MIGRATION_MAY_IMPORT = {"models.base"}
APPLICATION_PACKAGES = ("bot", "cli", "console", "infra", "jobs", "miniapp_api", "models", "nlp", "services", "wechat")


def test_migrations_freeze_what_they_need_instead_of_importing_the_application():
    import ast
    from pathlib import Path

    versions = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    imported: dict[str, set[str]] = {}
    for path in sorted(versions.glob("0*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in APPLICATION_PACKAGES and name not in MIGRATION_MAY_IMPORT:
                    imported.setdefault(path.name, set()).add(name)
    assert imported == {}


def test_the_workflow_migration_seeds_the_calendar_and_the_sla_policies(tmp_path):
    from services.appeals.calendar import HOLIDAYS_2026
    from services.appeals.deadlines import DEFAULT_POLICIES

    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        days = {(r.day, bool(r.is_workday), r.name) for r in conn.execute(sa.text("SELECT * FROM calendar_day"))}
        policies = {
            (r.category, bool(r.urgent), r.tier, r.accept_minutes, r.resolve_minutes)
            for r in conn.execute(sa.text("SELECT * FROM sla_policy"))
        }
    engine.dispose()
    # The frozen rows are today's seeds: a fresh database and `seed-demo` agree.
    assert days == {(d.isoformat(), w, n) for d, w, n in HOLIDAYS_2026}
    assert policies == set(DEFAULT_POLICIES)
