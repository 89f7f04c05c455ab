"""Co-building figures per unit, community and month, and their sheet in the weekly report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from services.cobuilding import figures, orders, resources
from services.errors import DomainError
from services.reporting.weekly import generate_weekly_report


def _complete(session, cob, clock, *, score, beneficiaries, quantity=1, resource=None):
    leader = cob.org.staff["g1_leader"]
    order = orders.place(session, leader, resource_id=(resource or cob.lecture).id, quantity=quantity).order
    orders.accept(session, cob.school_login, order)
    orders.schedule(session, cob.school_login, order, at=clock.now() + timedelta(days=1))
    orders.deliver(session, cob.school_login, order)
    orders.confirm(session, cob.school_login, order)
    orders.confirm(session, leader, order)
    orders.evaluate(session, leader, order, score=score, beneficiaries=beneficiaries)
    return order


def test_a_months_figures_per_unit_and_community(session, cob, clock):
    _complete(session, cob, clock, score=5, beneficiaries=30)
    _complete(session, cob, clock, score=3, beneficiaries=12)
    declined = orders.place(session, cob.org.staff["g2_leader"], resource_id=cob.lecture.id).order
    orders.decline(session, cob.school_login, declined, reason="讲师外出")
    now = clock.now()
    goods = resources.publish(session, cob.org.staff["secretary"], cob.company, kind="goods", title="爱心米面油",
                              capacity=10, description="", available_from=now,
                              available_until=now + timedelta(days=9))  # fmt: skip
    orders.place(session, cob.org.staff["g1_leader"], resource_id=goods.id, quantity=4)

    month = now.astimezone(figures.LOCAL_TZ).strftime("%Y-%m")
    body = figures.figures_for(session, cob.org.staff["secretary"], month)
    rows = {r["unit_name"]: r for r in body["units"]}
    school = rows["星海实验中学"]
    assert (school["resources_listed"], school["orders_placed"], school["orders_accepted"]) == (1, 3, 2)
    assert (school["orders_declined"], school["orders_completed"], school["beneficiaries"]) == (1, 2, 42)
    assert (school["evaluations"], school["average_score"], school["activities_held"]) == (2, 4.0, 2)
    power = rows["供电公司"]
    assert (power["resources_listed"], power["orders_placed"], power["orders_completed"]) == (1, 1, 0)
    assert body["total"]["orders_placed"] == 4
    assert body["total"]["beneficiaries"] == 42

    # A unit sees its own row only, and no community total.
    own = figures.figures_for(session, cob.company_login, month)
    assert [r["unit_name"] for r in own["units"]] == ["供电公司"]
    assert own["total"] is None
    # Next month nothing happened yet.
    following = (now.replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
    assert figures.figures_for(session, cob.org.staff["secretary"], following)["total"]["orders_placed"] == 0


def test_a_month_is_the_local_calendar_month():
    start, end = figures.month_window("2026-12")
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    with pytest.raises(DomainError):
        figures.month_window("2026-13")


def test_the_weekly_report_has_a_co_building_sheet(app, session, cob, clock, tmp_path):
    _complete(session, cob, clock, score=4, beneficiaries=25)
    session.commit()
    report, _ = generate_weekly_report(session, community_id=cob.org.community.id, reports_dir=tmp_path,
                                       now=clock.now() + timedelta(days=7))  # fmt: skip
    session.commit()
    wb = load_workbook(tmp_path / report.filename, read_only=True)
    rows = [list(r) for r in wb["共建"].iter_rows(values_only=True)]
    assert rows[1][:4] == ["成员单位", "类型", "新增资源", "下单"]
    assert rows[2][:2] == ["星海实验中学", "学校"]
    assert rows[2][6:] == [1, 25, 1, 4, 1]  # completed, beneficiaries, evaluations, score, activities
    assert rows[-1][0] == "合计"
