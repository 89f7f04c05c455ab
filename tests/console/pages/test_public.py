"""The public 红黑榜 page: no sign-in, companies ranked with score, method and sample sizes, no personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from models import Appeal, Resident
from services.appeals.property_ranking import compute_snapshot
from tests.console.pages.test_dashboards import table
from tests.services.appeals.test_kpi import Script, h

PHONE = "13912345678"
TEXT = "我是张秀英，住2幢301室，电梯坏了三天没人修"


@pytest.fixture
def ranked(session: Session, org: Any) -> None:
    """Residents with names and phones rate property companies: 绿洲 6 of 7 satisfied, 星苑 1 of 5, a third 2."""
    s = Script(session, org)
    resident = Resident(openid="o-public-resident-1", name="张秀英", phone=PHONE, room="2幢301",
                        community_id=org.community.id)  # fmt: skip
    session.add(resident)
    session.flush()
    for company, ratings in (
        ("PC-LH", ["satisfied"] * 6 + ["unsatisfied"]),
        ("PC-XY", ["satisfied"] + ["unsatisfied"] * 4),
    ):
        for i, rating in enumerate(ratings):
            appeal = s.appeal(h(i))
            appeal.text, appeal.resident_id = TEXT, resident.id
            s.dispatch(appeal, h(i + 1), grid="G1", company=company)
            s.close(appeal, h(i + 30))
            s.rate(appeal, h(i + 31), rating)
    compute_snapshot(session, now=datetime(2026, 12, 5, tzinfo=UTC))
    session.commit()


def test_the_public_page_ranks_companies_with_method_and_sample_sizes(ranked: None, client: FlaskClient) -> None:
    resp = client.get("/public/rankings")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    rows = table(html, "public-ranking")
    assert rows["1"][0] == "绿洲物业"
    assert rows["1"][1] == "红榜"
    assert rows["1"][3] == "86% (6/7)"
    assert rows["2"][0] == "星苑物业"
    assert rows["2"][3] == "20% (1/5)"
    assert "计算方法" in html
    assert "贝叶斯平滑" in html
    assert "2026-12" in html
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert " style=" not in html
    assert "<script" not in html


def test_the_public_page_shows_no_personal_data(ranked: None, client: FlaskClient, session: Session, org: Any) -> None:
    html = client.get("/public/rankings").get_data(as_text=True)
    staff_names = [member.name for member in org.staff.values()]
    resident = session.query(Resident).filter_by(openid="o-public-resident-1").one()
    for secret in (PHONE, PHONE[-4:], "张秀英", "301", TEXT[:6], resident.openid, *staff_names):
        assert secret not in html, secret
    assert session.query(Appeal).filter_by(text=TEXT).count() == 12  # the data was there to leak


def test_before_any_snapshot_and_for_a_bad_month(client: FlaskClient) -> None:
    empty = client.get("/public/rankings")
    assert empty.status_code == 200
    assert "尚未发布" in empty.get_data(as_text=True)
    assert client.get("/public/rankings?period=2026-13x").status_code == 400
    assert client.get("/public/rankings?period=2025-01").status_code == 404


def test_the_page_needs_no_sign_in_and_sets_no_cookie(ranked: None, client: FlaskClient) -> None:
    resp = client.get("/public/rankings")
    assert "Set-Cookie" not in resp.headers
    assert resp.headers["Cache-Control"].startswith("public")
    assert timedelta(seconds=int(resp.headers["Cache-Control"].rsplit("=", 1)[1])) <= timedelta(minutes=5)
