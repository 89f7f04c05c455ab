"""The API framework: OpenAPI document, bearer auth, roles, pagination, one error shape, Idempotency-Key."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from models.miniapp import IdempotencyRecord
from models.notice import Notice
from models.resident import Resident
from models.staff import Staff


def link_staff(session: Any, login_as: Any, org: Any, key: str = "community_staff") -> dict[str, str]:
    """A resident who is also the demo staff member `key` (same unionid)."""
    unionid = f"ounion-staff-{key}"
    staff = session.get(Staff, org.staff[key].id)
    staff.unionid = unionid
    resident = Resident(miniapp_openid=f"omini-staff-{key}", unionid=unionid, community_id=org.community.id)
    session.add(resident)
    session.commit()
    return login_as(resident.id)


def test_openapi_document_lists_the_api_with_bearer_security(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "/api/v1/auth/login" in doc["paths"]
    assert "security" not in doc["paths"]["/api/v1/auth/login"]["post"]
    notices = doc["paths"]["/api/v1/notices"]["get"]
    assert notices["security"] == [{"bearer": []}]
    names = {p["name"] for p in notices["parameters"]}
    assert {"page", "page_size"} <= names
    assert client.get("/api/v1").status_code in (200, 308)  # interactive docs


def test_swagger_ui_answers_with_or_without_a_trailing_slash(client):
    page = client.get("/api/v1/swagger")
    assert page.status_code == 200
    assert b"swagger-ui" in page.data.lower()
    slashed = client.get("/api/v1/swagger/")
    assert (slashed.status_code, slashed.headers["Location"]) == (308, "/api/v1/swagger")
    assert client.get("/api/v1/swagger/", follow_redirects=True).data == page.data


def test_unknown_list_filters_are_a_422(client, login_as):
    headers = login_as(None)
    for url in ("/api/v1/appeals?status=bogus", "/api/v1/bookings?status=bogus"):
        r = client.get(url, headers=headers)
        assert (r.status_code, r.get_json()["code"]) == (422, "validation_error"), url


def test_requests_without_or_with_a_bad_token_get_401_in_the_error_shape(client, org):
    r = client.get("/api/v1/notices")
    assert r.status_code == 401
    assert r.get_json()["code"] == "unauthorized"
    assert "Bearer" in r.get_json()["message"]
    r = client.get("/api/v1/notices", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.get_json()["code"] == "session_expired"


def test_a_session_expires_and_logout_revokes_it(client, login_as, clock):
    headers = login_as(None)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.advance(timedelta(days=7, seconds=1))
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    headers = login_as(None)
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 200
    assert client.get("/api/v1/me", headers=headers).get_json()["code"] == "session_expired"


def test_roles_come_from_the_data(client, session, login_as, org):
    plain = login_as(None)
    assert client.get("/api/v1/me", headers=plain).get_json()["roles"] == ["resident"]
    volunteer = login_as(None, is_volunteer=True)
    assert client.get("/api/v1/me", headers=volunteer).get_json()["roles"] == ["resident", "volunteer"]
    leader = link_staff(session, login_as, org, "g1_leader")
    me = client.get("/api/v1/me", headers=leader).get_json()
    assert me["roles"] == ["grid_leader", "resident", "staff"]
    assert me["staff_id"] == org.staff["g1_leader"].id
    # Deactivating the staff record removes the role at once (roles are recomputed per request).
    session.get(Staff, org.staff["g1_leader"].id).active = False
    session.commit()
    assert client.get("/api/v1/me", headers=leader).get_json()["roles"] == ["resident"]


def test_require_roles_refuses_with_403(client, login_as, org):
    r = client.post("/api/v1/notices", headers=login_as(None), json={"title": "t", "body": "b"})
    assert r.status_code == 403
    assert r.get_json() == {"code": "forbidden", "message": "需要以下角色之一：staff"}


def test_pagination_bounds_and_shape(client, session, login_as, org, clock):
    staff = link_staff(session, login_as, org)
    for i in range(25):
        assert client.post("/api/v1/notices", headers=staff, json={"title": f"n{i}", "body": "x"}).status_code == 201
    reader = login_as(None, community_id=org.community.id)
    page = client.get("/api/v1/notices?page=2&page_size=10", headers=reader).get_json()
    assert (page["page"], page["page_size"], page["total"], len(page["items"])) == (2, 10, 25, 10)
    last = client.get("/api/v1/notices?page=3&page_size=10", headers=reader).get_json()
    assert len(last["items"]) == 5
    r = client.get("/api/v1/notices?page_size=101", headers=reader)
    assert r.status_code == 422
    body = r.get_json()
    assert body["code"] == "validation_error"
    assert body["details"][0]["field"] == "page_size"
    assert client.get("/api/v1/notices?page=0", headers=reader).status_code == 422


def test_validation_errors_name_the_field(client, session, login_as, org):
    staff = link_staff(session, login_as, org)
    r = client.post("/api/v1/notices", headers=staff, json={"title": "", "body": "x", "category": "gossip"})
    assert r.status_code == 422
    fields = {d["field"] for d in r.get_json()["details"]}
    assert {"title", "category"} <= fields


def test_idempotent_replay_returns_the_first_answer_without_a_second_effect(client, session, login_as, org, count):
    staff = link_staff(session, login_as, org)
    headers = {**staff, "Idempotency-Key": "k-1"}
    first = client.post("/api/v1/notices", headers=headers, json={"title": "停水通知", "body": "明天停水"})
    again = client.post("/api/v1/notices", headers=headers, json={"body": "明天停水", "title": "停水通知"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(Notice) == 1
    # The same key with a different body is refused; a new key makes a second notice.
    r = client.post("/api/v1/notices", headers=headers, json={"title": "停电通知", "body": "明天停电"})
    assert r.status_code == 422
    assert r.get_json()["code"] == "idempotency_key_reused"
    other = {**staff, "Idempotency-Key": "k-2"}
    assert (
        client.post("/api/v1/notices", headers=other, json={"title": "停水通知", "body": "明天停水"}).status_code == 201
    )
    assert count(Notice) == 2


def test_keys_are_per_resident_and_refusals_are_not_stored(client, session, login_as, org, count):
    staff = link_staff(session, login_as, org)
    resident = login_as(None)
    # A refused request (403) stores nothing: the same key stays usable.
    r = client.post(
        "/api/v1/notices", headers={**resident, "Idempotency-Key": "same"}, json={"title": "a", "body": "b"}
    )
    assert r.status_code == 403
    r = client.post("/api/v1/notices", headers={**staff, "Idempotency-Key": "same"}, json={"title": "a", "body": "b"})
    assert r.status_code == 201
    assert count(IdempotencyRecord) == 1
    r = client.post(
        "/api/v1/notices", headers={**staff, "Idempotency-Key": "x" * 256}, json={"title": "a", "body": "b"}
    )
    assert r.status_code == 422
    assert r.get_json()["code"] == "invalid_idempotency_key"


def test_concurrent_duplicates_have_one_effect(app, session, login_as, org, count):
    staff = link_staff(session, login_as, org)
    headers = {**staff, "Idempotency-Key": "burst"}
    barrier = threading.Barrier(12)
    statuses: list[int] = []
    lock = threading.Lock()

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post("/api/v1/notices", headers=headers, json={"title": "并发", "body": "一次"})
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=post) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count(Notice) == 1
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}


def test_error_messages_are_chinese_and_codes_stay_english(client, login_as, org):
    import re

    han = re.compile(r"[\u4e00-\u9fff]")
    me = login_as(None)
    answers = [
        client.get("/api/v1/nowhere", headers=me),  # werkzeug's 404
        client.delete("/api/v1/notices", headers=me),  # werkzeug's 405
        client.get("/api/v1/notices"),  # no token
        client.get("/api/v1/appeals?page_size=0", headers=me),  # validation
        client.post("/api/v1/notices", headers=me, json={"title": "t", "body": "b"}),  # role
        client.get("/api/v1/appeals/nope", headers=me),  # domain NotFound
        client.post("/api/v1/bookings/999999/cancel", headers=me),
        client.get("/console/api/appeals"),  # the staff API too
    ]
    for r in answers:
        body = r.get_json()
        assert r.status_code >= 400, r.request.path
        assert re.fullmatch(r"[a-z_]+", body["code"]), body
        assert han.search(body["message"]), body
