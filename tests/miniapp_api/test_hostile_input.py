"""Deep JSON and NUL characters on authenticated endpoints, on SQLite and PostgreSQL alike: a 4xx, never a 500,
and nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from console.auth import issue_staff_token
from infra.web import get_db
from models.appeal import Appeal
from services.demo import seed_org
from tests.miniapp_api.conftest import make_login


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_app(request: pytest.FixtureRequest) -> Flask:
    """The app on SQLite, then on PostgreSQL."""
    return request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")


def _setup(app: Flask) -> tuple[dict[str, str], dict[str, str], Any]:
    with get_db(app).transaction() as s:
        org = seed_org(s)
        b = org.buildings["E-LZ-1"]
        staff_token = issue_staff_token(s, org.staff["secretary"].id)
        where = {"community_id": org.community.id, "grid_id": b.grid_id, "building_id": b.id}
    resident = make_login(app)(None, **where)
    return resident, {"Authorization": f"Bearer {staff_token}"}, where


def _appeals(app: Flask) -> int:
    with get_db(app).session() as s:
        return s.scalar(select(func.count()).select_from(Appeal)) or 0


def test_deep_json_on_an_authenticated_endpoint_is_400(any_db_app: Flask, clock: Any) -> None:
    resident, _, _ = _setup(any_db_app)
    client = any_db_app.test_client()
    body = '{"text": "楼道灯坏了", "extra": ' + "[" * 1000 + "]" * 1000 + "}"
    response = client.post("/api/v1/appeals", data=body, content_type="application/json", headers=resident)
    assert response.status_code == 400
    assert response.json["code"] == "json_too_deep"
    assert _appeals(any_db_app) == 0


def test_nul_characters_are_refused_with_422_on_every_database(any_db_app: Flask, clock: Any) -> None:
    resident, staff, _ = _setup(any_db_app)
    client = any_db_app.test_client()
    response = client.post("/api/v1/appeals", json={"text": "楼道灯坏了\u0000请修"}, headers=resident)
    assert (response.status_code, response.json["code"]) == (422, "nul_character")
    assert _appeals(any_db_app) == 0
    # The same text without the NUL is accepted: the refusal is about the character, not the request.
    ok = client.post("/api/v1/appeals", json={"text": "楼道灯坏了请修"}, headers=resident)
    assert ok.status_code == 201, ok.json
    for url in ("/console/api/appeals?category=%00", "/console/api/appeals?status=open%00"):
        response = client.get(url, headers=staff)
        assert (response.status_code, response.json["code"]) == (422, "nul_character"), url
    response = client.get("/api/v1/appeals/abc%00def", headers=resident)
    assert (response.status_code, response.json["code"]) == (422, "nul_character")
