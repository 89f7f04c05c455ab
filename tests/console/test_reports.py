"""Console KPI, report and red/black list endpoints (auth, role scoping, downloads); the public KPIs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from console.auth import issue_staff_token
from infra.web import get_redis
from models import Appeal, AppealEvent, Resident
from services.appeals.property_ranking import compute_snapshot
from services.reporting.weekly import generate_weekly_report

T0 = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # Monday 09:00 Suzhou, in the frozen clock's week


def _event(session: Session, appeal: Appeal, action: str, at: datetime, **fields: Any) -> None:
    session.add(AppealEvent(appeal_id=appeal.id, action=action, actor_type="system", created_at=at, **fields))
    session.flush()


def _handled(session: Session, org: Any, *, company: str | None, rating: str, on_time: bool) -> Appeal:
    resident = Resident(name="李四", phone="13900001111", room="301", community_id=org.community.id)
    session.add(resident)
    session.flush()
    appeal = Appeal(
        text="电梯故障", community_id=org.community.id, resident_id=resident.id, grid_id=org.grids["G3"].id,
        number=f"HG{resident.id:010d}", created_at=T0,
    )  # fmt: skip
    session.add(appeal)
    session.flush()
    _event(session, appeal, "create", T0, payload={"kind": "appeal", "channel": "wechat"})
    payload = {
        "handler_type": "property_company" if company else "grid",
        "grid_id": org.grids["G3"].id,
        "department_id": None,
        "property_company_id": org.companies[company].id if company else None,
        "community_id": org.community.id,
        "accept_due_at": (T0 + timedelta(hours=3)).isoformat(),
        "due_at": (T0 + timedelta(days=3)).isoformat(),
    }
    _event(session, appeal, "dispatch", T0 + timedelta(hours=1), to_status="dispatched", payload=payload)
    _event(session, appeal, "accept", T0 + timedelta(hours=2 if on_time else 5), to_status="accepted")
    _event(session, appeal, "resolve", T0 + timedelta(hours=25), to_status="resolved")
    _event(session, appeal, "close", T0 + timedelta(hours=30), to_status="closed", reason_code="resolved")
    _event(session, appeal, "rate", T0 + timedelta(hours=31), payload={"rating": rating})
    return appeal


@pytest.fixture
def data(session: Session, org: Any, clock: Any) -> dict[str, str]:
    """Five appeals of 星苑物业 and one of 绿洲物业 in G3, plus a token per role used below."""
    for i in range(5):
        _handled(session, org, company="PC-XY", rating="satisfied" if i else "unsatisfied", on_time=i != 0)
    _handled(session, org, company="PC-LH", rating="unsatisfied", on_time=True)
    session.commit()
    tokens = {
        key: issue_staff_token(session, org.staff[key].id)
        for key in ("secretary", "pc_xy", "pc_lh", "g1_worker", "dept_police", "g3_leader")
    }
    session.commit()
    return tokens


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_kpi_needs_a_staff_token(client, data):
    assert client.get("/console/api/kpi").status_code == 401
    assert client.get("/console/api/kpi", headers=_auth("hgs_nope")).status_code == 401


def test_secretary_sees_every_unit_with_sample_sizes(client, org, data):
    resp = client.get("/console/api/kpi?group_by=property_company", headers=_auth(data["secretary"]))
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["start"], body["end"]) == ("2026-11-01", "2026-11-20")  # this month up to the frozen today
    rows = {r["label"]: r for r in body["rows"]}
    assert set(rows) == {"星苑物业", "绿洲物业"}
    xy = rows["星苑物业"]
    assert (xy["appeals"], xy["dispatched"], xy["accepted_on_time"], xy["rated"], xy["satisfied"]) == (
        5,
        5,
        4,
        5,
        4,
    )
    assert xy["response_rate"] == pytest.approx(0.8)
    assert xy["satisfaction_rate"] == pytest.approx(0.8)
    assert xy["avg_hours_to_resolve"] == pytest.approx(24.0)
    assert body["total"]["appeals"] == 6
    assert "响应率" in body["method"]

    grid = client.get("/console/api/kpi?group_by=grid", headers=_auth(data["secretary"])).get_json()
    assert [(r["label"], r["appeals"]) for r in grid["rows"]] == [("第三网格", 6)]


def test_scoped_roles_see_only_their_own_unit(client, org, data):
    body = client.get("/console/api/kpi?group_by=property_company", headers=_auth(data["pc_lh"])).get_json()
    assert [r["label"] for r in body["rows"]] == ["绿洲物业"]
    assert body["rows"][0]["satisfaction_rate"] == 0.0

    refused = client.get("/console/api/kpi?group_by=grid", headers=_auth(data["pc_lh"]))
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "forbidden"

    g1 = client.get("/console/api/kpi?group_by=grid", headers=_auth(data["g1_worker"])).get_json()
    assert g1["rows"] == []  # nothing happened in G1
    g3 = client.get("/console/api/kpi?group_by=grid", headers=_auth(data["g3_leader"])).get_json()
    assert [r["label"] for r in g3["rows"]] == ["第三网格"]
    police = client.get("/console/api/kpi?group_by=department", headers=_auth(data["dept_police"]))
    assert police.status_code == 200
    assert police.get_json()["rows"] == []
    # Month totals are aggregate figures anyone on the staff may see (they are public too).
    assert client.get("/console/api/kpi?group_by=month", headers=_auth(data["pc_lh"])).status_code == 200


def test_bad_filters_are_clear_4xx(client, data):
    headers = _auth(data["secretary"])
    resp = client.get("/console/api/kpi?start=2026-11-10&end=2026-11-01", headers=headers)
    assert resp.status_code == 400
    assert resp.get_json()["code"] == "bad_window"
    assert client.get("/console/api/kpi?start=2025-01-01&end=2026-11-01", headers=headers).status_code == 400
    assert client.get("/console/api/kpi?group_by=street", headers=headers).status_code == 422
    assert client.get("/console/api/kpi?start=yesterday", headers=headers).status_code == 422


def test_reports_list_and_download_respect_roles(app, client, session, org, data, clock):
    reports_dir = Path(app.instance_path) / "reports"
    clock.advance(timedelta(hours=7))  # Friday 17:00: this week's report
    report, created = generate_weekly_report(session, community_id=org.community.id, reports_dir=reports_dir)
    session.commit()
    assert created

    listing = client.get("/console/api/reports", headers=_auth(data["secretary"]))
    assert listing.status_code == 200
    items = listing.get_json()["items"]
    assert [(i["id"], i["period_key"], i["appeal_count"]) for i in items] == [(report.id, "2026-W47", 6)]

    download = client.get(items[0]["download_url"], headers=_auth(data["g3_leader"]))
    assert download.status_code == 200
    assert download.mimetype.endswith("spreadsheetml.sheet")
    assert download.data == (reports_dir / report.filename).read_bytes()
    assert "weekly-jinji-lake-2026-W47.xlsx" in download.headers["Content-Disposition"]
    download.close()  # the test client keeps send_file's file open until the response is closed

    assert client.get("/console/api/reports", headers=_auth(data["pc_lh"])).status_code == 403
    assert client.get(f"/console/api/reports/{report.id}", headers=_auth(data["pc_lh"])).status_code == 404
    assert client.get(f"/console/api/reports/{report.id}", headers=_auth(data["g1_worker"])).status_code == 404
    assert client.get("/console/api/reports/999", headers=_auth(data["secretary"])).status_code == 404


def test_red_black_list_endpoint(client, session, data):
    headers = _auth(data["pc_lh"])
    missing = client.get("/console/api/rankings/property-companies", headers=headers)
    assert missing.status_code == 404
    # The December list covers the 90 days before 1 December.
    compute_snapshot(session, now=datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    session.commit()
    body = client.get("/console/api/rankings/property-companies", headers=headers).get_json()
    assert body["period"] == "2026-12"
    assert [(e["name"], e["rank"], e["list_label"]) for e in body["entries"]] == [
        ("星苑物业", 1, "红榜"),
        ("绿洲物业", None, "样本不足"),  # one rating, below the minimum of five
    ]
    assert "贝叶斯平滑" in body["method"]
    assert client.get("/console/api/rankings/property-companies?period=2026-11", headers=headers).status_code == 404
    bad = client.get("/console/api/rankings/property-companies?period=last", headers=headers)
    assert bad.status_code == 422


def test_public_kpi_is_anonymous_aggregate_and_cached(app, client, session, org, data):
    redis = get_redis(app)
    resp = client.get("/api/v1/public/kpi?group_by=grid&months=1")
    assert resp.status_code == 200
    body = resp.get_json()
    assert [(r["label"], r["appeals"], r["rated"]) for r in body["rows"]] == [("第三网格", 6, 6)]
    text = resp.get_data(as_text=True)
    for personal in ("李四", "13900001111", "301", "HG0"):
        assert personal not in text
    assert "key" not in body["rows"][0]
    # Cached for 10 minutes: a new appeal shows up in the next cache period, not on every anonymous hit.
    assert redis.ttl("hongguan:public-kpi:grid:1:2026-11-20") > 0
    _handled(session, org, company=None, rating="satisfied", on_time=True)
    session.commit()
    again = client.get("/api/v1/public/kpi?group_by=grid&months=1").get_json()
    assert again["rows"][0]["appeals"] == 6
    redis.delete("hongguan:public-kpi:grid:1:2026-11-20")
    fresh = client.get("/api/v1/public/kpi?group_by=grid&months=1").get_json()
    assert fresh["rows"][0]["appeals"] == 7

    months = client.get("/api/v1/public/kpi").get_json()
    assert [r["label"] for r in months["rows"]] == ["2026-11"]
    assert client.get("/api/v1/public/kpi?group_by=property_company").status_code == 422
    assert client.get("/api/v1/public/kpi?months=99").status_code == 422


def test_openapi_documents_the_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/console/api/kpi", "/console/api/reports", "/console/api/rankings/property-companies",
                 "/api/v1/public/kpi"):  # fmt: skip
        assert path in paths


def test_console_and_public_kpis_agree_when_unbound_residents_report(client, session, org, data):
    from services.appeals import routing
    from services.appeals.intake import handle_text

    routing.seed_routing(session)
    # Residents who never bound an address: a department's case, a triaged one and a consultation.
    for i, text in enumerate(("楼道里闻到很重的煤气味", "你们能不能来看看门口那个坑", "居住证怎么办理？")):
        stranger = Resident(openid=f"o-unbound-kpi-{i}")
        session.add(stranger)
        session.flush()
        handle_text(session, stranger, text)
    session.commit()

    console = client.get("/console/api/kpi?group_by=all", headers=_auth(data["secretary"])).get_json()["total"]
    public = client.get("/api/v1/public/kpi?group_by=all&months=1").get_json()["rows"]
    assert len(public) == 1
    assert console["appeals"] == 6 + 2
    assert console["consultations"] == 1
    assert {k: console[k] for k in public[0] if k != "label"} == {k: v for k, v in public[0].items() if k != "label"}
    assert session.query(Appeal).filter(Appeal.community_id.is_(None)).count() == 0
