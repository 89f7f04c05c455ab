"""Co-building in the mini-program: a grid branch secretary orders in one call, the unit's 兼职委员 accepts."""

from __future__ import annotations

from datetime import timedelta

from infra.web import get_db
from models.resident import Resident
from models.staff import Staff
from services.appeals.calendar import seed_calendar
from services.cobuilding import resources
from services.cobuilding.demo import seed_units


def _as_staff(app, login_as, staff_id: int, n: str) -> dict[str, str]:
    with get_db(app).transaction() as s:
        s.get(Staff, staff_id).unionid = f"ounion-cob-{n}"
        r = Resident(miniapp_openid=f"omini-cob-{n}", unionid=f"ounion-cob-{n}")
        s.add(r)
        s.flush()
        rid = r.id
    return login_as(rid)


def test_order_accept_and_scopes_in_the_mini_program(app, client, session, org, clock, login_as):
    seed_calendar(session)
    seeded = seed_units(session, org.community.id, org.staff["secretary"])
    now = clock.now()
    res = resources.publish(session, org.staff["secretary"], seeded.units["CB-HOSP"], kind="service", title="社区义诊",
                            description="测血压血糖", capacity=2, available_from=now,
                            available_until=now + timedelta(days=20), contact_phone="13811112222")  # fmt: skip
    session.commit()
    res_id = res.id
    leader = _as_staff(app, login_as, org.staff["g1_leader"].id, "leader")
    hosp = _as_staff(app, login_as, seeded.logins["CB-HOSP"].id, "hosp")
    bank = _as_staff(app, login_as, seeded.logins["CB-BANK"].id, "bank")
    resident = login_as(None)

    assert client.get("/api/v1/cobuilding/resources", headers=resident).status_code == 403
    listed = client.get("/api/v1/cobuilding/resources?orderable=true", headers=leader).get_json()
    item = next(i for i in listed["items"] if i["id"] == res_id)
    assert item["contact_phone"] == "138****2222"

    key = {"Idempotency-Key": "order-once-1"}
    r = client.post("/api/v1/cobuilding/orders", json={"resource_id": res_id}, headers={**leader, **key})
    assert r.status_code == 201, r.get_json()
    again = client.post("/api/v1/cobuilding/orders", json={"resource_id": res_id}, headers={**leader, **key})
    assert again.get_json()["id"] == r.get_json()["id"]  # a retried tap does not order twice
    order_id = r.get_json()["id"]

    assert client.post(f"/api/v1/cobuilding/orders/{order_id}/accept", headers=bank).status_code == 404
    assert client.post(f"/api/v1/cobuilding/orders/{order_id}/accept", headers=leader).status_code == 403
    r = client.post(f"/api/v1/cobuilding/orders/{order_id}/accept", headers=hosp)
    assert r.status_code == 200
    assert r.get_json()["status"] == "accepted"
    mine = client.get("/api/v1/cobuilding/orders", headers=hosp).get_json()
    assert [o["id"] for o in mine["items"]] == [order_id]

    r = client.post("/api/v1/cobuilding/orders", json={"resource_id": res_id, "quantity": 2}, headers=leader)
    assert (r.status_code, r.get_json()["code"]) == (409, "over_capacity")


def test_the_openapi_document_lists_the_co_building_operations(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/cobuilding/orders" in paths
    assert "/api/v1/cobuilding/orders/{id}/accept" in paths
    assert "/console/api/cobuilding/figures" in paths
