"""Residents' own appeals over HTTP: submit from the form, list, detail with timeline, rate, chase, ownership."""

from __future__ import annotations


def test_submit_list_detail_and_ownership(client, login_as, resident_headers, org, clock):
    r = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "小区门口路灯坏了，晚上很黑"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["reply"]
    appeal = body["appeal"]
    assert appeal["id"]
    assert appeal["number"]
    listing = client.get("/api/v1/appeals?status=open", headers=resident_headers).get_json()
    assert [a["id"] for a in listing["items"]] == [appeal["id"]]
    assert listing["total"] == 1
    detail = client.get(f"/api/v1/appeals/{appeal['id']}", headers=resident_headers).get_json()
    assert detail["timeline"]
    assert all("actor_id" not in e for e in detail["timeline"])
    other = login_as(None)
    assert client.get(f"/api/v1/appeals/{appeal['id']}", headers=other).status_code == 404
    assert client.post(f"/api/v1/appeals/{appeal['id']}/chase", headers=other).status_code == 404
    assert client.get("/api/v1/appeals", headers=other).get_json()["total"] == 0


def test_rate_needs_a_resolved_appeal_and_chase_is_rate_limited(client, resident_headers, org, clock):
    appeal = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "楼道里堆满杂物，存在消防隐患"})
    pid = appeal.get_json()["appeal"]["id"]
    r = client.post(f"/api/v1/appeals/{pid}/rate", headers=resident_headers, json={"rating": "satisfied"})
    assert r.status_code == 409
    assert r.get_json()["message"]
    first = client.post(f"/api/v1/appeals/{pid}/chase", headers=resident_headers)
    assert first.status_code == 200
    second = client.post(f"/api/v1/appeals/{pid}/chase", headers=resident_headers)
    assert second.status_code == 429
    r = client.post(f"/api/v1/appeals/{pid}/rate", headers=resident_headers, json={"rating": "great"})
    assert r.status_code == 422


def test_unknown_building_is_a_422(client, resident_headers, org):
    r = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "噪音扰民", "building_id": 999999})
    assert (r.status_code, r.get_json()["code"]) == (422, "invalid_building")
