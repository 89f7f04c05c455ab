"""管理 › routing rules, SLA policies, the holiday calendar and the duty roster: valid create and edit, each error in
Chinese with a 4xx and nothing saved, another community's rows refused, settings of every community kept for
admins, and every change audited."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.audit import AuditEntry
from models.calendar import CalendarDay
from models.deadlines import SlaPolicy
from models.duty import DutyShift
from models.org import Community
from models.routing import RoutingRule
from models.staff import Staff
from services.appeals.calendar import is_workday
from services.appeals.duty import on_duty
from services.appeals.routing import find_rule, seed_routing
from tests.console.pages.conftest import csrf_of
from tests.console.pages.test_admin_places import _post


@pytest.fixture
def admin(session: Session, org: Any) -> Staff:
    """The community's 管理员 (who also keeps the settings shared by every community)."""
    member = Staff(name="系统管理员", role="admin", community_id=org.community.id)
    session.add(member)
    session.commit()
    org.staff["admin"] = member
    return member


def _count(session: Session, model: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)))


def _error_of(html: str, field: str) -> str:
    assert f'id="{field}-error"' in html, html[-3000:]
    return html.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]


def _rule(org: Any, **values: Any) -> dict[str, Any]:
    return {"category": "sanitation", "community_id": org.community.id, "estate_id": 0, "grid_id": org.grids["G1"].id,
            "handler_type": "department", "department_id": org.departments["chengguan"].id, "property_company_id": 0,
            "priority": 0, "active": "y", "note": "G1 的环境卫生由城管中队处理"} | values  # fmt: skip


def test_a_grid_routing_rule_is_created_and_wins_over_the_default(session: Session, browser_for: Any, org: Any) -> None:
    seed_routing(session)
    session.commit()
    desk = browser_for("secretary")
    resp = _post(desk, "/console/admin/routing/new", _rule(org))
    assert resp.status_code == 303, resp.get_data(as_text=True)
    session.expire_all()
    rule = find_rule(session, "sanitation", community_id=org.community.id, grid_id=org.grids["G1"].id)
    assert rule is not None
    assert (rule.handler_type, rule.department_id) == ("department", org.departments["chengguan"].id)
    default = find_rule(session, "sanitation", community_id=org.community.id, grid_id=org.grids["G2"].id)
    assert default is not None
    assert default.handler_type == "grid"
    resp = _post(desk, f"/console/admin/routing/{rule.id}", _rule(org, active=""))
    assert resp.status_code == 303
    session.expire_all()
    assert find_rule(session, "sanitation", community_id=org.community.id, grid_id=org.grids["G1"].id).id == default.id
    actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.object_type == "routing_rule"))]
    assert actions == ["admin_create", "admin_update"]


def test_routing_rule_errors_are_explained_and_nothing_is_saved(session: Session, browser_for: Any, org: Any) -> None:
    desk = browser_for("secretary")
    before = _count(session, RoutingRule)
    cases = [
        (_rule(org, department_id=0), "department_id", "派给部门时须选择部门。", 422),
        (_rule(org, estate_id=org.estates["E-LZ"].id), "grid_id", "只能是一个小区或一个网格", 422),
        (_rule(org, priority="很高"), "priority", "不是有效的整数", 422),
        (_rule(org, priority="5000"), "priority", "优先级应在 -1000 到 1000 之间。", 422),
        (_rule(org, community_id=0), "community_id", "不是有效的选择", 422),  # defaults are for admins only
    ]
    for values, field, message, status in cases:
        resp = _post(desk, "/console/admin/routing/new", values)
        assert resp.status_code == status, (values, resp.get_data(as_text=True)[-2000:])
        assert message in _error_of(resp.get_data(as_text=True), field)
    assert _count(session, RoutingRule) == before


def test_default_rules_are_shown_to_a_secretary_but_kept_for_admins(
    session: Session, browser_for: Any, org: Any, admin: Staff
) -> None:
    seed_routing(session)
    session.commit()
    default = find_rule(session, "noise")
    assert default is not None
    assert default.community_id is None
    desk = browser_for("secretary")
    page = desk.get(f"/console/admin/routing/{default.id}")
    assert page.status_code == 200
    resp = desk.post(
        f"/console/admin/routing/{default.id}",
        data={"csrf_token": csrf_of(page.get_data(as_text=True)), **_rule(org, community_id=org.community.id)},
    )
    assert resp.status_code == 403
    assert "只有管理员可以修改" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(RoutingRule, default.id).category == "noise"
    keeper = browser_for("admin")
    resp = _post(
        keeper,
        f"/console/admin/routing/{default.id}",
        _rule(org, category="noise", community_id=0, grid_id=0, department_id=org.departments["environment"].id),
    )
    assert resp.status_code == 303, resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(RoutingRule, default.id).department_id == org.departments["environment"].id


def test_another_communitys_rules_and_shifts_are_refused(session: Session, browser_for: Any, org: Any) -> None:
    other = Community(code="C-OTHER", name="邻近社区")
    session.add(other)
    session.flush()
    stranger = Staff(name="外社区值班员", role="community_staff", community_id=other.id)
    session.add(stranger)
    session.flush()
    rule = RoutingRule(category="noise", community_id=other.id, handler_type="grid")
    shift = DutyShift(community_id=other.id, staff_id=stranger.id, starts_at=datetime(2026, 11, 20, 9, tzinfo=UTC),
                      ends_at=datetime(2026, 11, 21, 0, tzinfo=UTC))  # fmt: skip
    session.add_all([rule, shift])
    session.commit()
    desk = browser_for("secretary")
    assert desk.get(f"/console/admin/routing/{rule.id}").status_code == 403
    assert desk.get(f"/console/admin/duty/{shift.id}").status_code == 403
    page = desk.get("/console/admin/duty/").get_data(as_text=True)
    resp = desk.post(f"/console/admin/duty/{shift.id}/delete", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 403
    assert _count(session, DutyShift) == 1
    assert "外社区值班员" not in desk.get("/console/admin/duty/new").get_data(as_text=True)


def _policy(**values: Any) -> dict[str, Any]:
    return {"category": "noise", "urgent": "y", "tier": "urgent", "accept_minutes": "15", "resolve_minutes": "120",
            **values}  # fmt: skip


def test_sla_policies_are_edited_by_an_admin_with_errors_explained(
    session: Session, browser_for: Any, org: Any, admin: Staff
) -> None:
    keeper = browser_for("admin")
    resp = _post(keeper, "/console/admin/sla/new", _policy())
    assert resp.status_code == 303, resp.get_data(as_text=True)
    policy = session.scalar(select(SlaPolicy).where(SlaPolicy.category == "noise", SlaPolicy.urgent.is_(True)))
    assert policy is not None
    assert (policy.accept_minutes, policy.resolve_minutes) == (15, 120)
    before = _count(session, SlaPolicy)
    cases = [
        (_policy(), "category", "已有时限标准", 409),
        (_policy(category="fire_safety", resolve_minutes="10"), "resolve_minutes", "办结时限不能短于签收时限。", 422),
        (_policy(category="fire_safety", accept_minutes="0"), "accept_minutes", "签收时限至少 1 分钟。", 422),
        (_policy(category="fire_safety", accept_minutes=""), "accept_minutes", "请填写签收时限（分钟）。", 422),
    ]
    for values, field, message, status in cases:
        resp = _post(keeper, "/console/admin/sla/new", values)
        assert resp.status_code == status, (values, resp.get_data(as_text=True)[-2000:])
        assert message in _error_of(resp.get_data(as_text=True), field)
    assert _count(session, SlaPolicy) == before
    desk = browser_for("secretary")
    page = desk.get(f"/console/admin/sla/{policy.id}").get_data(as_text=True)
    assert 'id="read-only"' in page
    assert 'id="save"' not in page
    resp = desk.post(f"/console/admin/sla/{policy.id}", data={"csrf_token": csrf_of(page),
                                                              **_policy(resolve_minutes="9999")})  # fmt: skip
    assert resp.status_code == 403
    session.expire_all()
    assert session.get(SlaPolicy, policy.id).resolve_minutes == 120


def test_a_make_up_working_day_is_added_refused_on_a_weekday_and_deleted(
    session: Session, browser_for: Any, org: Any, admin: Staff
) -> None:
    keeper = browser_for("admin")
    saturday = date(2026, 12, 12)
    assert not is_workday(session, saturday)
    session.commit()
    resp = _post(
        keeper, "/console/admin/calendar/new", {"day": "2026-12-12", "is_workday": "1", "name": "元旦调休上班"}
    )
    assert resp.status_code == 303, resp.get_data(as_text=True)
    session.expire_all()
    assert is_workday(session, saturday)
    before = _count(session, CalendarDay)
    cases = [
        ({"day": "2026-12-14", "is_workday": "1", "name": "调休"}, "is_workday", "周一到周五本来就是工作日", 422),
        ({"day": "2026-12-12", "is_workday": "0", "name": "重复"}, "day", "2026-12-12 已经设置过", 409),
        ({"day": "12月12日", "is_workday": "0", "name": "元旦"}, "day", "不是有效的日期值", 422),
        ({"day": "2026-12-19", "is_workday": "0", "name": ""}, "name", "请填写名称", 422),
    ]
    for values, field, message, status in cases:
        resp = _post(keeper, "/console/admin/calendar/new", values)
        assert resp.status_code == status, (values, resp.get_data(as_text=True)[-2000:])
        assert message in _error_of(resp.get_data(as_text=True), field)
    assert _count(session, CalendarDay) == before
    row = session.scalar(select(CalendarDay).where(CalendarDay.day == saturday))
    page = keeper.get(f"/console/admin/calendar/{row.id}").get_data(as_text=True)
    resp = keeper.post(f"/console/admin/calendar/{row.id}/delete", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 303
    session.expire_all()
    assert not is_workday(session, saturday)
    actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.object_type == "calendar_day"))]
    assert actions == ["admin_create", "admin_delete"]


def test_a_duty_shift_is_planned_and_the_person_is_on_duty(
    session: Session, browser_for: Any, org: Any, clock: Any
) -> None:
    desk = browser_for("secretary")
    person = org.staff["community_staff"]
    values = {"community_id": org.community.id, "staff_id": person.id, "starts_at": "2026-11-20T17:30",
              "ends_at": "2026-11-21T08:30", "shift": "night", "note": ""}  # fmt: skip
    resp = _post(desk, "/console/admin/duty/new", values)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    session.expire_all()
    assert [s.id for s in on_duty(session, org.community.id, datetime(2026, 11, 20, 12, tzinfo=UTC))] == [person.id]
    assert on_duty(session, org.community.id, datetime(2026, 11, 20, 9, tzinfo=UTC)) == []  # 17:00 Beijing
    before = _count(session, DutyShift)
    cases = [
        (values | {"ends_at": "2026-11-20T08:00"}, "ends_at", "结束时间须晚于开始时间。", 422),
        (values, "starts_at", "这位工作人员在这个时间已有一个班次。", 409),
        (values | {"starts_at": ""}, "starts_at", "请填写开始时间。", 422),
        (values | {"ends_at": "2027-01-30T08:00"}, "ends_at", "一个班次最长 31 天", 422),
    ]
    for case, field, message, status in cases:
        resp = _post(desk, "/console/admin/duty/new", case)
        assert resp.status_code == status, (case, resp.get_data(as_text=True)[-2000:])
        assert message in _error_of(resp.get_data(as_text=True), field)
    assert _count(session, DutyShift) == before
    assert "2026-11-20 17:30" in desk.get("/console/admin/duty/").get_data(as_text=True)
