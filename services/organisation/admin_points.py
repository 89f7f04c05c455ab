"""Administration of points (积分): task categories and their standards, the reward catalogue, and events.

Task categories (信息采集, 隐患排查 … with standard points and a cap) are the same for every community, so only an
admin (管理员) changes them. A reward belongs to a partner unit of the community; an event to the community (or
one of its grids). Both are edited by the community's administrators (`admin_scope`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.events import Event
from models.org import Grid
from models.points import PartnerUnit, Reward, TaskCategory
from models.staff import Staff
from services.errors import Forbidden, NotFound
from services.organisation.admin_places import check_code, unique_code
from services.organisation.admin_scope import InvalidField, check_community, clean, require_admin

CAP_PERIODS = {"day": "每天", "week": "每周", "month": "每月", "year": "每年"}


def may_edit_categories(member: Staff) -> bool:
    """Whether this staff member changes the task categories every community shares."""
    return member.role == "admin" and member.active


def _whole(value: Any, field: str, label: str, low: int, high: int) -> int:
    if not isinstance(value, int) or not low <= value <= high:
        raise InvalidField(field, f"{label}应为 {low} 到 {high} 之间的整数。")
    return value


# ---------------------------------------------------------------- task categories


def load_category(session: Session, member: Staff, category_id: int) -> TaskCategory:
    """A task category (readable by every administrator)."""
    require_admin(member)
    row = session.get(TaskCategory, category_id)
    if row is None:
        raise NotFound("没有这个积分类别。")
    return row


def save_category(session: Session, member: Staff, row: TaskCategory | None, *, values: dict[str, Any]) -> TaskCategory:
    """Create or edit a kind of volunteer work: its standard points, cap per period and second-review threshold."""
    require_admin(member)
    if not may_edit_categories(member):
        raise Forbidden("积分类别和标准适用于所有社区，只有管理员可以修改。")
    target = row or TaskCategory()
    code = check_code(values.get("code"))
    unique_code(session, TaskCategory, code, target, "积分类别")
    if values.get("cap_period") not in CAP_PERIODS:
        raise InvalidField("cap_period", "请选择上限周期。")
    target.code, target.cap_period = code, values["cap_period"]
    target.name = clean(values.get("name"), "name", "类别名称", high=50)
    target.description = clean(values.get("description"), "description", "说明", high=300, required=False)
    target.standard_points = _whole(values.get("standard_points"), "standard_points", "标准积分", 1, 10000)
    target.max_per_period = _whole(values.get("max_per_period"), "max_per_period", "每周期上限次数", 1, 1000)
    target.second_review_above = _whole(values.get("second_review_above"), "second_review_above", "复核门槛", 0, 100000)
    target.active = bool(values.get("active"))
    session.add(target)
    session.flush()
    return target


# ---------------------------------------------------------------- rewards


def partners_of(session: Session, community_ids: list[int]) -> list[PartnerUnit]:
    """The active partner units (共建单位) of these communities, by name."""
    stmt = select(PartnerUnit).where(PartnerUnit.community_id.in_(community_ids), PartnerUnit.active.is_(True))
    return list(session.scalars(stmt.order_by(PartnerUnit.name)))


def load_reward(session: Session, member: Staff, reward_id: int) -> Reward:
    """A reward of a partner unit of a community the member administers."""
    reward = session.get(Reward, reward_id)
    if reward is None:
        raise NotFound("没有这件奖品。")
    partner = session.get(PartnerUnit, reward.partner_id)
    check_community(session, member, partner.community_id if partner else None)
    return reward


def save_reward(session: Session, member: Staff, reward: Reward | None, *, values: dict[str, Any]) -> Reward:
    """Create or edit a reward: its partner unit, cost, stock, per-person limit and pickup days."""
    if reward is not None:
        load_reward(session, member, reward.id)
    partner = session.get(PartnerUnit, values.get("partner_id") or 0)
    if partner is None:
        raise InvalidField("partner_id", "请选择提供奖品的共建单位。")
    check_community(session, member, partner.community_id)
    target = reward or Reward()
    target.partner_id = partner.id
    target.name = clean(values.get("name"), "name", "奖品名称", high=100)
    target.description = clean(values.get("description"), "description", "说明", high=300, required=False)
    target.cost_points = _whole(values.get("cost_points"), "cost_points", "所需积分", 1, 1000000)
    target.stock = _whole(values.get("stock"), "stock", "库存", 0, 1000000)
    limit = values.get("per_person_limit")
    target.per_person_limit = None if not limit else _whole(limit, "per_person_limit", "每人限兑", 1, 1000)
    target.pickup_days = _whole(values.get("pickup_days"), "pickup_days", "领取期限（天）", 1, 365)
    target.active = bool(values.get("active"))
    session.add(target)
    session.flush()
    return target


# ---------------------------------------------------------------- events


def load_event(session: Session, member: Staff, event_id: int) -> Event:
    """An event of a community the member administers."""
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("没有这个活动。")
    check_community(session, member, event.community_id)
    return event


def save_event(
    session: Session, member: Staff, event: Event | None, *, community_id: int, values: dict[str, Any]
) -> Event:
    """Create or edit an event: title, place, times, signup window, seats, waitlist, points, eligibility."""
    community = check_community(session, member, community_id)
    if event is not None:
        load_event(session, member, event.id)
    grid_id = values.get("grid_id") or None
    if grid_id is not None:
        grid = session.get(Grid, grid_id)
        if grid is None or grid.community_id != community.id:
            raise InvalidField("grid_id", "限定的网格须属于本社区。")
    starts, ends = values.get("starts_at"), values.get("ends_at")
    opens, closes = values.get("signup_opens_at"), values.get("signup_closes_at")
    if not all(isinstance(t, datetime) for t in (starts, ends, opens, closes)):  # pragma: no cover - the form
        raise InvalidField("starts_at", "请填写活动和报名的时间。")
    if ends <= starts:
        raise InvalidField("ends_at", "活动结束时间须晚于开始时间。")
    if closes <= opens:
        raise InvalidField("signup_closes_at", "报名截止时间须晚于开始报名时间。")
    if closes > starts:
        raise InvalidField("signup_closes_at", "报名须在活动开始前截止。")
    capacity = _whole(values.get("capacity"), "capacity", "名额", 1, 100000)
    if event is not None and capacity < event.confirmed_count:
        raise InvalidField("capacity", f"已有 {event.confirmed_count} 人报名成功，名额不能少于这个数。")
    target = event or Event(created_by_staff_id=member.id, confirmed_count=0)
    target.community_id, target.grid_id = community.id, grid_id
    target.title = clean(values.get("title"), "title", "活动标题", high=100)
    target.description = clean(values.get("description"), "description", "介绍", high=5000, required=False)
    target.location = clean(values.get("location"), "location", "地点", high=200, required=False)
    target.starts_at, target.ends_at, target.signup_opens_at, target.signup_closes_at = starts, ends, opens, closes
    target.capacity = capacity
    target.waitlist_capacity = _whole(values.get("waitlist_capacity"), "waitlist_capacity", "候补名额", 0, 100000)
    target.points_on_attendance = _whole(
        values.get("points_on_attendance"), "points_on_attendance", "签到积分", 0, 10000
    )
    target.volunteers_only = bool(values.get("volunteers_only"))
    session.add(target)
    session.flush()
    return target
