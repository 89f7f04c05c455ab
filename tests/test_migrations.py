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
