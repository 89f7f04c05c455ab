"""Staff bearer tokens: hashed at rest, required on every console call, revocable, dead with the staff row."""

from __future__ import annotations

import hashlib
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.auth import issue_staff_token, revoke_staff_tokens
from models.staff import StaffToken


def test_token_is_stored_only_as_a_hash(session: Session, org: Any, client: FlaskClient) -> None:
    raw = issue_staff_token(session, org.staff["pc_lh"].id)
    session.commit()
    row = session.scalar(select(StaffToken).where(StaffToken.staff_id == org.staff["pc_lh"].id))
    assert raw.startswith("hgs_")
    assert len(raw) > 40
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in row.token_hash
    session.commit()
    response = client.get("/console/api/me", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    assert response.json["name"] == "绿洲物业客服"
    assert response.json["role"] == "property_staff"
    assert response.json["property_company_id"] == org.companies["PC-LH"].id
    session.refresh(row)
    assert row.last_used_at is not None
    session.commit()


def test_missing_wrong_revoked_and_inactive(session: Session, org: Any, client: FlaskClient) -> None:
    response = client.get("/console/api/appeals")
    assert response.status_code == 401
    assert response.json["code"] == "unauthorized"
    assert client.get("/console/api/me", headers={"Authorization": "Bearer hgs_not-a-token"}).status_code == 401
    assert client.get("/console/api/me", headers={"Authorization": "Basic abc"}).status_code == 401

    raw = issue_staff_token(session, org.staff["g1_worker"].id)
    session.commit()
    auth = {"Authorization": f"Bearer {raw}"}
    assert client.get("/console/api/me", headers=auth).status_code == 200
    assert revoke_staff_tokens(session, org.staff["g1_worker"].id) == 1
    session.commit()
    response = client.get("/console/api/me", headers=auth)
    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"

    raw = issue_staff_token(session, org.staff["g2_worker"].id)
    org.staff["g2_worker"].active = False  # left the job: the token dies with the staff row
    session.commit()
    assert client.get("/console/api/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_openapi_documents_the_console(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").json
    assert "/console/api/appeals/{public_id}/return" in doc["paths"]
    assert doc["components"]["securitySchemes"]["staff_bearer"]["scheme"] == "bearer"
    op = doc["paths"]["/console/api/appeals/{public_id}/accept"]["post"]
    assert op["security"] == [{"staff_bearer": []}]
