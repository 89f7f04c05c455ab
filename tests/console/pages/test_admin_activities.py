"""管理 › venues and their slots, closed days, events, points categories and the reward catalogue: valid create and
edit, errors in Chinese with a 4xx and nothing saved, another community's rows refused, every change audited."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.audit import AuditEntry
from models.booking import Venue, VenueClosure, VenueSeat
from models.events import Event
from models.org import Community
from models.points import PartnerUnit, Reward, TaskCategory
from models.staff import Staff
from services.booking.venues import closure_on, day_slots
from tests.console.pages.conftest import csrf_of
from tests.console.pages.test_admin_places import _post


def _count(session: Session, model: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)))


def _error_of(html: str, field: str) -> str:
    assert f'id="{field}-error"' in html, html[-3000:]
    return html.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]


def _venue(org: Any, **values: Any) -> dict[str, Any]:
    return {"community_id": org.community.id, "name": "党群服务中心活动室", "location": "社区服务中心 2 楼",
            "description": "", "capacity": "1", "slot_minutes": "60",
            "opening_hours": "周一 09:00-12:00, 14:00-17:00\n周六 09:00-11:00", "max_slots_per_booking": "2",
            "min_notice_minutes": "60", "max_advance_days": "14", "cancel_cutoff_minutes": "120",
            "quota_active": "2", "closed_on_holidays": "y", "active": "y"} | values  # fmt: skip


def test_a_venue_is_created_with_opening_hours_that_make_its_slots(
    session: Session, browser_for: Any, org: Any, clock: Any
) -> None:
    desk = browser_for("community_staff")
    resp = _post(desk, "/console/admin/venues/new", _venue(org))
    assert resp.status_code == 303, resp.get_data(as_text=True)
    venue = session.scalar(select(Venue).where(Venue.name == "党群服务中心活动室"))
    assert venue is not None
    assert venue.opening_hours == {"0": [["09:00", "12:00"], ["14:00", "17:00"]], "5": [["09:00", "11:00"]]}
    monday = date(2026, 11, 23)
    assert len(day_slots(venue, monday)) == 6
    page = desk.get(resp.headers["Location"]).get_data(as_text=True)
    assert "未来 7 天的可预约时段" in page
    assert "09:00–10:00" in page
    resp = _post(desk, f"/console/admin/venues/{venue.id}", _venue(org, capacity="4", slot_minutes="30"))
    assert resp.status_code == 303, resp.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(VenueSeat).where(VenueSeat.venue_id == venue.id)) == 4
    assert len(day_slots(session.get(Venue, venue.id), monday)) == 12
    actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.object_type == "venue"))]
    assert actions == ["admin_create", "admin_update"]


def test_venue_errors_are_explained_and_nothing_is_saved(session: Session, browser_for: Any, org: Any) -> None:
    desk = browser_for("community_staff")
    cases = [
        (_venue(org, opening_hours="礼拜一 09:00-12:00"), "opening_hours", "第 1 行应以周一到周日开头"),
        (_venue(org, opening_hours="周一 12:00-09:00"), "opening_hours", "结束时间须晚于开始时间"),
        (_venue(org, opening_hours="周一 09:00-12:00, 11:00-13:00"), "opening_hours", "时间段有重叠"),
        (_venue(org, opening_hours="周一 9点到12点"), "opening_hours", "不是“09:00-12:00”这样的时间段"),
        (_venue(org, capacity="0"), "capacity", "容量应为 1 到 500 之间的整数"),
        (_venue(org, slot_minutes="半小时"), "slot_minutes", "不是有效的整数"),
        (_venue(org, name=""), "name", "请填写场馆名称。"),
    ]
    for values, field, message in cases:
        resp = _post(desk, "/console/admin/venues/new", values)
        assert resp.status_code == 422, (values, resp.get_data(as_text=True)[-2000:])
        assert message in _error_of(resp.get_data(as_text=True), field)
    assert _count(session, Venue) == 0
    assert _count(session, VenueSeat) == 0


def test_a_closed_day_stops_bookings_and_can_be_deleted(session: Session, browser_for: Any, org: Any) -> None:
    desk = browser_for("secretary")
    assert _post(desk, "/console/admin/venues/new", _venue(org)).status_code == 303
    venue = session.scalar(select(Venue))
    closed = {"community_id": org.community.id, "venue_id": venue.id, "day": "2026-11-23", "kind": "blackout"}
    resp = _post(desk, "/console/admin/closures/new", closed | {"reason": "换届选举"})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    session.expire_all()
    assert closure_on(session, venue, date(2026, 11, 23)) is not None
    resp = _post(desk, "/console/admin/closures/new", closed | {"reason": ""})
    assert resp.status_code == 409
    assert "2026-11-23 已设为闭馆" in _error_of(resp.get_data(as_text=True), "day")
    row = session.scalar(select(VenueClosure))
    page = desk.get(f"/console/admin/closures/{row.id}").get_data(as_text=True)
    assert desk.post(f"/console/admin/closures/{row.id}/delete", data={"csrf_token": csrf_of(page)}).status_code == 303
    assert _count(session, VenueClosure) == 0


def _event(org: Any, **values: Any) -> dict[str, Any]:
    return {"community_id": org.community.id, "title": "重阳节敬老活动", "location": "社区服务中心", "description": "",
            "starts_at": "2026-12-05T09:00", "ends_at": "2026-12-05T11:00", "signup_opens_at": "2026-11-20T09:00",
            "signup_closes_at": "2026-12-04T18:00", "capacity": "30", "waitlist_capacity": "10",
            "points_on_attendance": "5", "grid_id": 0} | values  # fmt: skip


def test_an_event_is_created_in_beijing_time_and_its_errors_are_explained(
    session: Session, browser_for: Any, org: Any
) -> None:
    desk = browser_for("secretary")
    resp = _post(desk, "/console/admin/events/new", _event(org, grid_id=org.grids["G1"].id))
    assert resp.status_code == 303, resp.get_data(as_text=True)
    event = session.scalar(select(Event))
    assert event is not None
    assert event.starts_at == datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 09:00 Beijing
    assert (event.grid_id, event.capacity, event.points_on_attendance) == (org.grids["G1"].id, 30, 5)
    cases = [
        (_event(org, ends_at="2026-12-05T08:00"), "ends_at", "活动结束时间须晚于开始时间。"),
        (_event(org, signup_closes_at="2026-12-06T08:00"), "signup_closes_at", "报名须在活动开始前截止。"),
        (_event(org, capacity="0"), "capacity", "名额应为 1 到 100000 之间的整数。"),
        (_event(org, title=""), "title", "请填写活动标题。"),
        (_event(org, starts_at="明天上午"), "starts_at", "不是有效的日期与时间值"),
    ]
    for values, field, message in cases:
        resp = _post(desk, "/console/admin/events/new", values)
        assert resp.status_code == 422, (values, resp.get_data(as_text=True)[-2000:])
        assert message in _error_of(resp.get_data(as_text=True), field)
    assert _count(session, Event) == 1
    resp = _post(desk, f"/console/admin/events/{event.id}", _event(org, title="重阳节敬老茶话会", capacity="40"))
    assert resp.status_code == 303
    session.expire_all()
    assert (session.get(Event, event.id).title, session.get(Event, event.id).capacity) == ("重阳节敬老茶话会", 40)


def test_another_communitys_venues_events_and_rewards_are_refused(session: Session, browser_for: Any, org: Any) -> None:
    other = Community(code="C-OTHER", name="邻近社区")
    session.add(other)
    session.flush()
    venue = Venue(community_id=other.id, name="邻近活动室")
    partner = PartnerUnit(community_id=other.id, code="P-OTHER", name="邻近超市")
    session.add_all([venue, partner])
    session.flush()
    event = Event(community_id=other.id, title="邻近活动", starts_at=datetime(2026, 12, 5, 1, tzinfo=UTC),
                  ends_at=datetime(2026, 12, 5, 3, tzinfo=UTC), signup_opens_at=datetime(2026, 11, 1, tzinfo=UTC),
                  signup_closes_at=datetime(2026, 12, 4, tzinfo=UTC), capacity=10)  # fmt: skip
    reward = Reward(partner_id=partner.id, name="大米一袋", cost_points=100, stock=5)
    session.add_all([event, reward])
    session.commit()
    desk = browser_for("secretary")
    for url in (f"/console/admin/venues/{venue.id}", f"/console/admin/events/{event.id}",
                f"/console/admin/rewards/{reward.id}"):  # fmt: skip
        assert desk.get(url).status_code == 403, url
    assert "邻近超市" not in desk.get("/console/admin/rewards/new").get_data(as_text=True)


@pytest.fixture
def admin(session: Session, org: Any) -> Staff:
    """The community's 管理员."""
    member = Staff(name="系统管理员", role="admin", community_id=org.community.id)
    session.add(member)
    session.commit()
    org.staff["admin"] = member
    return member


def test_points_categories_are_kept_for_admins_and_validated(
    session: Session, browser_for: Any, org: Any, admin: Staff
) -> None:
    values = {"code": "patrol", "name": "安全巡查", "description": "", "standard_points": "10", "max_per_period": "4",
              "cap_period": "month", "second_review_above": "50", "active": "y"}  # fmt: skip
    desk = browser_for("secretary")
    assert desk.get("/console/admin/points/new").status_code == 403
    keeper = browser_for("admin")
    resp = _post(keeper, "/console/admin/points/new", values)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    category = session.scalar(select(TaskCategory).where(TaskCategory.code == "patrol"))
    assert category is not None
    assert category.standard_points == 10
    resp = _post(keeper, "/console/admin/points/new", values | {"code": "patrol2", "standard_points": "0"})
    assert resp.status_code == 422
    assert "标准积分应为 1 到 10000 之间的整数" in _error_of(resp.get_data(as_text=True), "standard_points")
    resp = _post(keeper, "/console/admin/points/new", values)
    assert resp.status_code == 409
    assert "编码 patrol 已被另一个积分类别使用" in _error_of(resp.get_data(as_text=True), "code")
    assert _count(session, TaskCategory) == 1
    page = desk.get(f"/console/admin/points/{category.id}").get_data(as_text=True)
    assert 'id="read-only"' in page


def test_a_reward_is_added_to_a_partner_units_catalogue(session: Session, browser_for: Any, org: Any) -> None:
    partner = PartnerUnit(community_id=org.community.id, code="P-SHOP", name="便民超市")
    session.add(partner)
    session.commit()
    desk = browser_for("community_staff")
    values = {"partner_id": partner.id, "name": "洗衣液一瓶", "description": "", "cost_points": "120", "stock": "20",
              "per_person_limit": "", "pickup_days": "7", "active": "y"}  # fmt: skip
    resp = _post(desk, "/console/admin/rewards/new", values)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    reward = session.scalar(select(Reward))
    assert (reward.cost_points, reward.stock, reward.per_person_limit) == (120, 20, None)
    for case, field, message in [
        (values | {"partner_id": 0}, "partner_id", "请选择提供奖品的共建单位。"),
        (values | {"cost_points": "0"}, "cost_points", "所需积分应为 1 到 1000000 之间的整数。"),
        (values | {"stock": "-1"}, "stock", "库存应为 0 到 1000000 之间的整数。"),
    ]:
        resp = _post(desk, "/console/admin/rewards/new", case)
        assert resp.status_code == 422, case
        assert message in _error_of(resp.get_data(as_text=True), field)
    assert _count(session, Reward) == 1
