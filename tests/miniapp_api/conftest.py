"""Fixtures for the mini-program API: real sessions from services.organisation.auth (the code path of login)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from infra import clock as clock_module
from infra.web import get_db
from models.resident import Resident
from services.organisation import auth as auth_service

_seq = itertools.count(1)


def make_login(app: Flask) -> Callable[..., dict[str, str]]:
    """A function creating (or reusing) a resident and returning Authorization headers for it."""

    def login_as(resident: Resident | int | None = None, **fields: Any) -> dict[str, str]:
        with get_db(app).transaction() as s:
            if resident is None:
                n = next(_seq)
                row = Resident(miniapp_openid=f"omini-test-{n}", unionid=f"ounion-test-{n}", **fields)
                s.add(row)
                s.flush()
                resident_id = row.id
            else:
                resident_id = resident if isinstance(resident, int) else resident.id
            row2 = s.get(Resident, resident_id)
            assert row2 is not None
            openid = row2.miniapp_openid or f"omini-test-{next(_seq)}"
            token, _ = auth_service.login(
                s, openid=openid, session_key="sk-test", unionid=row2.unionid, now=clock_module.now()
            )
        return {"Authorization": f"Bearer {token}"}

    return login_as


@pytest.fixture
def login_as(app: Flask) -> Callable[..., dict[str, str]]:
    """login_as(resident | id | None, **resident_fields) -> headers with a live bearer token."""
    return make_login(app)


@pytest.fixture
def resident_headers(login_as: Callable[..., dict[str, str]], org: Any) -> dict[str, str]:
    """Headers of a resident bound to building E-LZ-1 (grid G1) of the demo community."""
    b = org.buildings["E-LZ-1"]
    return login_as(None, community_id=org.community.id, grid_id=b.grid_id, building_id=b.id, room="101")


def resident_id_of(session: Session, headers: dict[str, str]) -> int:
    """The resident behind a bearer header."""
    token = headers["Authorization"].split(" ", 1)[1]
    row = auth_service.resolve(session, token, now=clock_module.now())
    assert row is not None
    return row.resident_id


@pytest.fixture
def count(session: Session) -> Callable[..., int]:
    """count(Model, *where): COUNT(*) that ends its read transaction (on SQLite it would hold the write lock)."""
    from sqlalchemy import func, select

    def _count(model: Any, *where: Any) -> int:
        session.expire_all()
        try:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0
        finally:
            session.rollback()

    return _count


@pytest.fixture
def pg_login_as(pg_app: Flask) -> Callable[..., dict[str, str]]:
    """login_as on the PostgreSQL app."""
    return make_login(pg_app)
