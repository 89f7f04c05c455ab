"""管理 › what residents book, join and earn: venues with their opening hours (the bookable slots) and closed days,
events, points categories and standards, and the reward catalogue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import BooleanField, DateField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from console.pages.admin import AdminForm, Resource, none_if_zero, options, register
from console.pages.admin_org import community_choices, community_ids, grid_rows, names
from console.pages.web import local
from infra import clock
from infra.clock import LOCAL_TZ
from infra.web import db_session
from models.booking import Venue, VenueClosure
from models.events import Event
from models.org import Grid
from models.points import PartnerUnit, Reward, TaskCategory
from models.staff import Staff
from services.booking import venue_admin
from services.booking.venues import day_slots
from services.organisation import admin_points

FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


def _number(label: str, *, default: int | None = None, required: bool = True, hint: str = "") -> IntegerField:
    checks = [InputRequired(message=f"请填写{label}（整数）。")] if required else [Optional()]
    return IntegerField(label, checks, default=default, description=hint)


def _when(label: str) -> DateTimeLocalField:
    return DateTimeLocalField(label, [InputRequired(message=f"请填写{label}。")], format=FORMATS)


def _beijing(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=LOCAL_TZ) if value is not None else None


def _wall(value: datetime) -> datetime:
    return value.astimezone(LOCAL_TZ).replace(tzinfo=None)


def _data(form: Any, *skip: str) -> dict[str, Any]:
    return {name: field.data for name, field in form._fields.items() if name not in ("csrf_token", *skip)}


# ---------------------------------------------------------------- venues and their slots


class VenueForm(AdminForm):
    """A venue: where it is, how many seats, its opening hours and booking rules."""

    community_id = SelectField("所属社区", coerce=int)
    name = StringField(
        "场馆名称", [DataRequired(message="请填写场馆名称。"), Length(max=100, message="场馆名称最多 100 个字。")]
    )
    location = StringField("位置", [Optional(), Length(max=200, message="位置最多 200 个字。")])
    description = TextAreaField("介绍", [Optional(), Length(max=2000, message="介绍最多 2000 个字。")])
    capacity = _number("容量", default=1, hint="1 表示整间预约；N 表示 N 个座位，每个时段可有 N 人预约。")
    slot_minutes = _number("每个时段的分钟数", default=60)
    opening_hours = TextAreaField(
        "开放时间", [Optional(), Length(max=1000, message="开放时间最多 1000 个字。")],
        description="每行一天：“周一 09:00-12:00, 14:00-21:00”；不开放的日子不写。"
        "开放时间按上面的分钟数切成可预约时段。",
        render_kw={"rows": 7},
    )  # fmt: skip
    max_slots_per_booking = _number("每次最多预约的时段数", default=2)
    min_notice_minutes = _number("最少提前预约（分钟）", default=60)
    max_advance_days = _number("最多提前预约（天）", default=14)
    cancel_cutoff_minutes = _number("取消截止（开始前分钟）", default=120)
    quota_active = _number("每位居民同时有效的预约数", default=2)
    requires_approval = BooleanField("预约需工作人员审核")
    closed_on_holidays = BooleanField("法定节假日闭馆", default=True)
    active = BooleanField("开放预约", default=True)


def _venue_rows(session: Session, member: Staff) -> list[Venue]:
    ids = community_ids(session, member)
    return list(session.scalars(select(Venue).where(Venue.community_id.in_(ids)).order_by(Venue.name)))


def _venue_values(session: Session, v: Venue) -> dict[str, Any]:
    fields = ("community_id", "name", "location", "description", "capacity", "slot_minutes", "max_slots_per_booking",
              "min_notice_minutes", "max_advance_days", "cancel_cutoff_minutes", "quota_active", "requires_approval",
              "closed_on_holidays", "active")  # fmt: skip
    return {f: getattr(v, f) for f in fields} | {"opening_hours": venue_admin.hours_text(v.opening_hours)}


def _venue_slots(session: Session, member: Staff, venue: Venue | None, form: Any) -> dict[str, Any]:
    """The bookable slots of the coming week, as residents see them (before bookings and closures)."""
    if venue is None:
        return {"week": None}
    today = clock.now().astimezone(LOCAL_TZ).date()
    week = []
    for offset in range(7):
        day = today + timedelta(days=offset)
        slots = [f"{local(s)[-5:]}–{local(e)[-5:]}" for s, e in day_slots(venue, day)]
        week.append((f"{day.isoformat()} {venue_admin.WEEKDAYS[day.weekday()]}", slots))
    return {"week": week}


register(Resource(
    name="venues", title="场馆与时段", audit_type="venue", form=VenueForm, rows=_venue_rows,
    columns=(("名称", lambda v: v.name), ("容量", lambda v: v.capacity), ("时段", lambda v: f"{v.slot_minutes} 分钟"),
             ("开放时间", lambda v: venue_admin.hours_text(v.opening_hours) or "未设置"),
             ("状态", lambda v: "开放" if v.active else "停用")),
    load=venue_admin.load_venue,
    save=lambda session, member, obj, form: venue_admin.save_venue(
        session, member, obj, community_id=form.community_id.data, values=_data(form, "community_id")),
    values=_venue_values, choices=community_choices, extra="console/_admin_venue_slots.html", context=_venue_slots,
    hint="居民在小程序里按开放时间切出的时段预约；容量大于 1 时每个时段可多人预约。",
    section="服务与积分",
))  # fmt: skip


class ClosureForm(AdminForm):
    """A day one venue, or every venue of the community, is closed."""

    community_id = SelectField("社区", coerce=int)
    venue_id = SelectField("场馆", coerce=int)
    day = DateField("日期", [InputRequired(message="请填写日期（年-月-日）。")])
    kind = SelectField("类型", choices=options(venue_admin.CLOSURE_KINDS.items()))
    reason = StringField("原因", [Optional(), Length(max=100, message="原因最多 100 个字。")])


def _closure_choices(form: Any, session: Session, member: Staff) -> None:
    community_choices(form, session, member)
    form.venue_id.choices = options([(0, "本社区所有场馆"), *((v.id, v.name) for v in _venue_rows(session, member))])


def _closure_rows(session: Session, member: Staff) -> list[VenueClosure]:
    since = clock.now().astimezone(LOCAL_TZ).date() - timedelta(days=30)
    stmt = select(VenueClosure).where(
        VenueClosure.community_id.in_(community_ids(session, member)), VenueClosure.day >= since
    )
    return list(session.scalars(stmt.order_by(VenueClosure.day)))


def _venue_name(session: Session, venue_id: int | None) -> str:
    return names(session, Venue, {venue_id}).get(venue_id, "?") if venue_id else "所有场馆"


register(Resource(
    name="closures", title="闭馆日", audit_type="venue_closure", form=ClosureForm, rows=_closure_rows,
    columns=(("日期", lambda c: c.day.isoformat()), ("场馆", lambda c: _venue_name(db_session(), c.venue_id)),
             ("类型", lambda c: venue_admin.CLOSURE_KINDS.get(c.kind, c.kind)), ("原因", lambda c: c.reason)),
    load=venue_admin.load_closure,
    save=lambda session, member, obj, form: venue_admin.save_closure(
        session, member, obj, community_id=form.community_id.data, venue_id=none_if_zero(form.venue_id.data),
        day=form.day.data, kind=form.kind.data, reason=form.reason.data or ""),
    values=lambda session, c: {"community_id": c.community_id, "venue_id": c.venue_id or 0, "day": c.day,
                               "kind": c.kind, "reason": c.reason},
    choices=_closure_choices, delete=venue_admin.delete_closure, label=lambda c: c.day.isoformat(),
    hint="闭馆的日子不能预约；列表显示 30 天前以来的闭馆日。",
    section="服务与积分",
))  # fmt: skip


# ---------------------------------------------------------------- events


class EventForm(AdminForm):
    """An event residents sign up for."""

    community_id = SelectField("所属社区", coerce=int)
    title = StringField(
        "活动标题", [DataRequired(message="请填写活动标题。"), Length(max=100, message="活动标题最多 100 个字。")]
    )
    location = StringField("地点", [Optional(), Length(max=200, message="地点最多 200 个字。")])
    description = TextAreaField("介绍", [Optional(), Length(max=5000, message="介绍最多 5000 个字。")])
    starts_at = _when("活动开始（北京时间）")
    ends_at = _when("活动结束（北京时间）")
    signup_opens_at = _when("开始报名（北京时间）")
    signup_closes_at = _when("报名截止（北京时间）")
    capacity = _number("名额", default=30)
    waitlist_capacity = _number("候补名额", default=20, hint="0 表示不设候补。")
    points_on_attendance = _number("签到积分", default=0, hint="参加者现场扫码签到后获得的志愿积分。")
    grid_id = SelectField("只限这个网格的居民", coerce=int)
    volunteers_only = BooleanField("只限志愿者报名")


def _event_choices(form: Any, session: Session, member: Staff) -> None:
    community_choices(form, session, member)
    form.grid_id.choices = options([(0, "—（全社区）"), *((g.id, g.name) for g in grid_rows(session, member))])


def _event_rows(session: Session, member: Staff) -> list[Event]:
    stmt = select(Event).where(Event.community_id.in_(community_ids(session, member)))
    return list(session.scalars(stmt.order_by(Event.starts_at.desc()).limit(200)))


def _event_values(session: Session, e: Event) -> dict[str, Any]:
    return {"community_id": e.community_id, "title": e.title, "location": e.location, "description": e.description,
            "starts_at": _wall(e.starts_at), "ends_at": _wall(e.ends_at), "signup_opens_at": _wall(e.signup_opens_at),
            "signup_closes_at": _wall(e.signup_closes_at), "capacity": e.capacity,
            "waitlist_capacity": e.waitlist_capacity, "points_on_attendance": e.points_on_attendance,
            "grid_id": e.grid_id or 0, "volunteers_only": e.volunteers_only}  # fmt: skip


def _event_save(session: Session, member: Staff, obj: Event | None, form: Any) -> Event:
    values = _data(form, "community_id")
    for name in ("starts_at", "ends_at", "signup_opens_at", "signup_closes_at"):
        values[name] = _beijing(values[name])
    values["grid_id"] = none_if_zero(values["grid_id"])
    return admin_points.save_event(session, member, obj, community_id=form.community_id.data, values=values)


register(Resource(
    name="events", title="活动", audit_type="event", form=EventForm, rows=_event_rows,
    columns=(("活动", lambda e: e.title), ("开始", lambda e: local(e.starts_at)),
             ("报名", lambda e: f"{e.confirmed_count} / {e.capacity}"),
             ("范围", lambda e: names(db_session(), Grid, {e.grid_id}).get(e.grid_id or 0, "全社区")),
             ("状态", lambda e: "已取消" if e.status == "cancelled" else "报名中")),
    load=admin_points.load_event, save=_event_save, values=_event_values, choices=_event_choices,
    label=lambda e: e.title,
    hint="居民在小程序里报名；名额满后进入候补，有人取消时按顺序递补。",
    section="服务与积分",
))  # fmt: skip


# ---------------------------------------------------------------- points categories and rewards


class CategoryForm(AdminForm):
    """A kind of volunteer work with its standard points and cap."""

    code = StringField("编码", [DataRequired(message="请填写编码。"), Length(max=32, message="编码最多 32 位。")])
    name = StringField(
        "类别名称", [DataRequired(message="请填写类别名称。"), Length(max=50, message="类别名称最多 50 个字。")]
    )
    description = StringField("说明", [Optional(), Length(max=300, message="说明最多 300 个字。")])
    standard_points = _number("标准积分", default=10, hint="每次审核通过记的积分。")
    max_per_period = _number("每周期上限次数", default=4)
    cap_period = SelectField("上限周期", choices=options(admin_points.CAP_PERIODS.items()), default="month")
    second_review_above = _number("复核门槛（积分）", default=50, hint="单次积分高于此数时，须社区再复核一次才入账。")
    active = BooleanField("启用", default=True)


register(Resource(
    name="points", title="积分类别与标准", audit_type="task_category", form=CategoryForm,
    rows=lambda session, member: list(session.scalars(select(TaskCategory).order_by(TaskCategory.code))),
    columns=(("编码", lambda c: c.code), ("类别", lambda c: c.name), ("标准积分", lambda c: c.standard_points),
             ("上限", lambda c: f"{admin_points.CAP_PERIODS.get(c.cap_period, c.cap_period)} {c.max_per_period} 次"),
             ("状态", lambda c: "启用" if c.active else "停用")),
    load=admin_points.load_category,
    save=lambda session, member, obj, form: admin_points.save_category(session, member, obj, values=_data(form)),
    values=lambda session, c: {f: getattr(c, f) for f in ("code", "name", "description", "standard_points",
                                                         "max_per_period", "cap_period", "second_review_above",
                                                         "active")},
    read_only=lambda member: not admin_points.may_edit_categories(member),
    hint="志愿服务的类别、每次的标准积分和上限，所有社区通用，只有管理员可以修改。",
    section="服务与积分",
))  # fmt: skip


class RewardForm(AdminForm):
    """A reward of the points catalogue."""

    partner_id = SelectField("提供单位（共建单位）", coerce=int)
    name = StringField(
        "奖品名称", [DataRequired(message="请填写奖品名称。"), Length(max=100, message="奖品名称最多 100 个字。")]
    )
    description = StringField("说明", [Optional(), Length(max=300, message="说明最多 300 个字。")])
    cost_points = _number("所需积分", default=100)
    stock = _number("库存", default=10)
    per_person_limit = _number("每人限兑（份）", required=False, hint="留空表示不限。")
    pickup_days = _number("领取期限（天）", default=7, hint="兑换码在这么多天后过期，积分退回。")
    active = BooleanField("上架", default=True)


def _reward_choices(form: Any, session: Session, member: Staff) -> None:
    partners = admin_points.partners_of(session, community_ids(session, member))
    form.partner_id.choices = options([(0, "请选择"), *((p.id, p.name) for p in partners)])


def _reward_rows(session: Session, member: Staff) -> list[Reward]:
    stmt = (
        select(Reward)
        .join(PartnerUnit, PartnerUnit.id == Reward.partner_id)
        .where(PartnerUnit.community_id.in_(community_ids(session, member)))
    )
    return list(session.scalars(stmt.order_by(Reward.name)))


register(Resource(
    name="rewards", title="奖品目录", audit_type="reward", form=RewardForm, rows=_reward_rows,
    columns=(("奖品", lambda r: r.name),
             ("单位", lambda r: names(db_session(), PartnerUnit, {r.partner_id})[r.partner_id]),
             ("积分", lambda r: r.cost_points), ("库存", lambda r: r.stock),
             ("状态", lambda r: "上架" if r.active else "下架")),
    load=admin_points.load_reward,
    save=lambda session, member, obj, form: admin_points.save_reward(session, member, obj, values=_data(form)),
    values=lambda session, r: {f: getattr(r, f) for f in ("partner_id", "name", "description", "cost_points", "stock",
                                                         "per_person_limit", "pickup_days", "active")},
    choices=_reward_choices,
    hint="居民用志愿积分兑换共建单位提供的奖品；共建单位本身在共建单位页面维护。",
    section="服务与积分",
))  # fmt: skip
