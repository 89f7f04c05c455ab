"""Login through the WeChat client and the sandbox: one resident per person, session_key never leaves the server."""

from __future__ import annotations

import logging

from sqlalchemy import select

from models.miniapp import MiniappSession
from models.resident import Resident
from models.staff import Staff


def test_login_issues_an_opaque_token_and_keeps_session_key_server_side(client, session, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    r = client.post("/api/v1/auth/login", json={"code": "alice:1"})
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == {"token", "expires_at", "roles"}
    assert body["roles"] == ["resident"]
    row = session.scalars(select(MiniappSession)).one()
    session.expunge(row)  # keep its loaded values; end the read transaction (SQLite holds the write lock)
    session.rollback()
    assert row.session_key
    assert row.session_key not in r.get_data(as_text=True)
    assert row.token_hash != body["token"]
    assert body["token"] not in row.token_hash
    assert row.session_key not in caplog.text
    assert row.session_key not in repr(row)
    assert row.openid not in caplog.text  # openids are pseudonymised in logs
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert row.session_key not in me.get_data(as_text=True)
    assert "access_token" not in str(sandbox.calls("/sns/jscode2session")[0])


def test_the_same_person_is_one_resident_across_logins_and_the_official_account(client, session, sandbox):
    first = client.post("/api/v1/auth/login", json={"code": "bob:1"}).get_json()
    # bob already follows the official account: a Resident with his unionid and OA openid exists.
    r1 = session.scalars(select(Resident)).one()
    session.rollback()
    r1.miniapp_openid = None
    r1.openid = "o-oa-bob-0000000000000000000"
    session.add(r1)
    session.commit()
    second = client.post("/api/v1/auth/login", json={"code": "bob:2"}).get_json()
    assert first["token"] != second["token"]
    residents = session.scalars(select(Resident)).all()
    session.rollback()
    assert len(residents) == 1
    assert residents[0].openid == "o-oa-bob-0000000000000000000"
    assert residents[0].miniapp_openid is not None  # filled in again from code2Session
    sessions = session.scalars(select(MiniappSession)).all()
    session.rollback()
    assert len({s.session_key for s in sessions}) == 1  # the newest session_key replaces older ones


def test_invalid_used_and_rate_limited_codes(client, sandbox):
    r = client.post("/api/v1/auth/login", json={"code": "invalid-code"})
    assert (r.status_code, r.get_json()["code"]) == (401, "invalid_code")
    assert client.post("/api/v1/auth/login", json={"code": "carol:1"}).status_code == 200
    r = client.post("/api/v1/auth/login", json={"code": "carol:1"})  # 40163: already used
    assert (r.status_code, r.get_json()["code"]) == (401, "invalid_code")
    sandbox.fail("/sns/jscode2session", errcode=45011)
    r = client.post("/api/v1/auth/login", json={"code": "carol:2"})
    assert (r.status_code, r.get_json()["code"]) == (429, "rate_limited")
    r = client.post("/api/v1/auth/login", json={})
    assert r.status_code == 422


def test_wechat_down_is_a_503(client, sandbox):
    sandbox.fail("/sns/jscode2session", status=502)
    r = client.post("/api/v1/auth/login", json={"code": "dave:1"})
    assert (r.status_code, r.get_json()["code"]) == (503, "wechat_unavailable")


def test_staff_role_by_unionid(client, session, org, sandbox):
    token = client.post("/api/v1/auth/login", json={"code": "erin:1"}).get_json()["token"]
    resident = session.scalars(select(Resident)).one()
    staff = session.get(Staff, org.staff["g2_leader"].id)
    staff.unionid = resident.unionid
    session.commit()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert me["roles"] == ["grid_leader", "resident", "staff"]
    assert me["staff_id"] == staff.id


def test_subscription_grants_are_recorded(client, session, sandbox):
    from services.notifications.notify import remaining_grants

    token = client.post("/api/v1/auth/login", json={"code": "fay:1"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        assert (
            client.post("/api/v1/subscriptions", headers=headers, json={"template_id": "booking-reminder"}).status_code
            == 200
        )
    resident = session.scalars(select(Resident)).one()
    assert remaining_grants(session, resident.miniapp_openid, "booking-reminder") == 2
    session.rollback()
