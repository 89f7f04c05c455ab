"""管理 › the appeal loop's settings: routing rules (category → handling unit), SLA policies, the holiday calendar
(调休) and the duty roster (值班表)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from wtforms import BooleanField, DateField, DateTimeLocalField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from console.pages.admin import AdminForm, Resource, none_if_zero, options, register
from console.pages.admin_org import community_choices, community_ids, estate_rows, grid_rows, names
from console.pages.web import ROLE_LABELS, local
from infra import clock
from infra.clock import LOCAL_TZ
from infra.web import db_session
from models.calendar import CalendarDay
from models.deadlines import SlaPolicy
from models.duty import DutyShift
from models.org import Department, Estate, Grid, PropertyCompany
from models.routing import RoutingRule
from models.staff import Staff
from nlp.taxonomy import CATEGORIES, label_of
from services.appeals import settings_admin as loop
from services.appeals.deadlines import WORKDAY_MINUTES
from services.organisation.admin_scope import communities_of

PRIORITY_HINT = "范围越具体（网格 > 小区 > 社区 > 默认）越优先；范围相同时优先级高的生效。"
SHIFT_LABELS = {"day": "白班", "night": "夜班", "custom": "自定义"}
SHARED_HINT = "适用于所有社区，只有管理员可以修改；社区书记和社区工作人员可以查看。"


def _not_shared(member: Staff) -> bool:
    return not loop.may_edit_shared(member)


# ---------------------------------------------------------------- routing rules


class RuleForm(AdminForm):
    """A routing rule: appeals of a category in a scope go to a unit."""

    category = SelectField("诉求类别")
    community_id = SelectField("生效社区", coerce=int)
    estate_id = SelectField("只对这个小区", coerce=int)
    grid_id = SelectField("只对这个网格", coerce=int)
    handler_type = SelectField("派给", choices=options(loop.HANDLER_TYPES.items()))
    department_id = SelectField("部门（派给部门时）", coerce=int)
    property_company_id = SelectField("物业公司（派给物业时）", coerce=int,
                                      description="不选时派给诉求所在小区自己的物业公司。")  # fmt: skip
    priority = IntegerField("优先级", [InputRequired(message="请填写优先级（数字，默认 0）。"),
                                      NumberRange(-1000, 1000, message="优先级应在 -1000 到 1000 之间。")],
                            default=0, description=PRIORITY_HINT)  # fmt: skip
    active = BooleanField("启用", default=True)
    note = StringField("说明", [Optional(), Length(max=200, message="说明最多 200 个字。")])


def _rule_choices(form: Any, session: Session, member: Staff) -> None:
    form.category.choices = options((c.code, c.label) for c in CATEGORIES)
    communities = [(c.id, c.name) for c in communities_of(session, member)]
    if loop.may_edit_shared(member):
        communities = [(0, "所有社区（全街道默认规则）"), *communities]
    form.community_id.choices = options(communities)
    form.estate_id.choices = options([(0, "—（整个社区）"), *((e.id, e.name) for e in estate_rows(session, member))])
    form.grid_id.choices = options([(0, "—（整个社区）"), *((g.id, g.name) for g in grid_rows(session, member))])
    departments = ((d.id, d.name) for d in session.scalars(select(Department).order_by(Department.code)))
    form.department_id.choices = options([(0, "—"), *departments])
    companies = ((c.id, c.name) for c in session.scalars(select(PropertyCompany).order_by(PropertyCompany.code)))
    form.property_company_id.choices = options([(0, "小区自己的物业公司"), *companies])


def _rule_rows(session: Session, member: Staff) -> list[RoutingRule]:
    ids = community_ids(session, member)
    stmt = select(RoutingRule).where(or_(RoutingRule.community_id.in_(ids), RoutingRule.community_id.is_(None)))
    return list(session.scalars(stmt.order_by(RoutingRule.category, RoutingRule.community_id, RoutingRule.id)))


def _rule_scope(rule: RoutingRule) -> str:
    session = db_session()
    if rule.grid_id:
        return "网格 " + names(session, Grid, {rule.grid_id}).get(rule.grid_id, "?")
    if rule.estate_id:
        return "小区 " + names(session, Estate, {rule.estate_id}).get(rule.estate_id, "?")
    return "本社区" if rule.community_id else "全街道默认"


def _rule_handler(rule: RoutingRule) -> str:
    session = db_session()
    if rule.handler_type == "department":
        return names(session, Department, {rule.department_id}).get(rule.department_id or 0, "部门")
    if rule.handler_type == "property_company":
        if rule.property_company_id:
            return names(session, PropertyCompany, {rule.property_company_id})[rule.property_company_id]
        return "小区的物业公司"
    return "所在网格"


def _rule_values(session: Session, r: RoutingRule) -> dict[str, Any]:
    return {"category": r.category, "community_id": r.community_id or 0, "estate_id": r.estate_id or 0,
            "grid_id": r.grid_id or 0, "handler_type": r.handler_type, "department_id": r.department_id or 0,
            "property_company_id": r.property_company_id or 0, "priority": r.priority, "active": r.active,
            "note": r.note or ""}  # fmt: skip


register(Resource(
    name="routing", title="派单规则", audit_type="routing_rule", form=RuleForm, rows=_rule_rows,
    columns=(("类别", lambda r: label_of(r.category)), ("范围", _rule_scope), ("派给", _rule_handler),
             ("优先级", lambda r: r.priority), ("状态", lambda r: "启用" if r.active else "停用")),
    load=loop.load_rule,
    save=lambda session, member, obj, form: loop.save_rule(
        session, member, obj, category=form.category.data, community_id=none_if_zero(form.community_id.data),
        estate_id=none_if_zero(form.estate_id.data), grid_id=none_if_zero(form.grid_id.data),
        handler_type=form.handler_type.data, department_id=none_if_zero(form.department_id.data),
        property_company_id=none_if_zero(form.property_company_id.data), priority=form.priority.data,
        active=form.active.data, note=form.note.data or ""),
    values=_rule_values, choices=_rule_choices,
    label=lambda r: f"{label_of(r.category)} → {_rule_handler(r)}",
    hint="分类后的诉求按规则派给承办单位：网格、小区的规则优先于社区规则，社区规则优先于全街道默认规则"
         "（默认规则由管理员维护）。停用的规则不再生效。",
    section="诉求办理",
))  # fmt: skip


# ---------------------------------------------------------------- SLA policies


class PolicyForm(AdminForm):
    """An SLA policy: minutes to accept and to resolve, by category and urgency."""

    category = SelectField("诉求类别")
    urgent = BooleanField("紧急诉求（按自然时间计，昼夜不停）")
    tier = SelectField("档次", choices=options(loop.TIERS.items()))
    accept_minutes = IntegerField("签收时限（分钟）", [InputRequired(message="请填写签收时限（分钟）。"),
                                                 NumberRange(min=1, message="签收时限至少 1 分钟。")],
                                  description="一般诉求按工作时间计（工作日 09:00–17:00）。")  # fmt: skip
    resolve_minutes = IntegerField("办结时限（分钟）", [InputRequired(message="请填写办结时限（分钟）。"),
                                                  NumberRange(min=1, message="办结时限至少 1 分钟。")],
                                   description=f"一个工作日 = {WORKDAY_MINUTES} 分钟。")  # fmt: skip


def _policy_choices(form: Any, session: Session, member: Staff) -> None:
    form.category.choices = options([("", "所有类别（默认）"), *((c.code, c.label) for c in CATEGORIES)])


def _minutes(value: int, urgent: bool) -> str:
    if urgent or value % WORKDAY_MINUTES:
        return f"{value // 60} 小时 {value % 60} 分" if value % 60 else f"{value // 60} 小时"
    return f"{value // WORKDAY_MINUTES} 个工作日"


register(Resource(
    name="sla", title="时限标准", audit_type="sla_policy", form=PolicyForm,
    rows=lambda session, member: list(session.scalars(
        select(SlaPolicy).order_by(SlaPolicy.category.is_not(None), SlaPolicy.category, SlaPolicy.urgent))),
    columns=(("类别", lambda p: label_of(p.category) if p.category else "所有类别（默认）"),
             ("紧急", lambda p: "是" if p.urgent else "否"), ("档次", lambda p: loop.TIERS.get(p.tier, p.tier)),
             ("签收", lambda p: _minutes(p.accept_minutes, p.urgent)),
             ("办结", lambda p: _minutes(p.resolve_minutes, p.urgent))),
    load=loop.load_policy,
    save=lambda session, member, obj, form: loop.save_policy(
        session, member, obj, category=form.category.data or None, urgent=form.urgent.data, tier=form.tier.data,
        accept_minutes=form.accept_minutes.data, resolve_minutes=form.resolve_minutes.data),
    values=lambda session, p: {"category": p.category or "", "urgent": p.urgent, "tier": p.tier,
                               "accept_minutes": p.accept_minutes, "resolve_minutes": p.resolve_minutes},
    choices=_policy_choices, read_only=_not_shared,
    label=lambda p: (label_of(p.category) if p.category else "默认") + ("（紧急）" if p.urgent else ""),
    hint="每类诉求签收和办结的时限；没有单独标准的类别用默认标准。" + SHARED_HINT,
    section="诉求办理",
))  # fmt: skip


# ---------------------------------------------------------------- the holiday calendar


class DayForm(AdminForm):
    """A holiday or a make-up working day (调休)."""

    day = DateField("日期", [InputRequired(message="请填写日期（年-月-日）。")])
    is_workday = SelectField(
        "这一天", coerce=int, choices=options([(0, "放假（不计工作时间）"), (1, "调休上班（周末计工作时间）")])
    )
    name = StringField("名称", [DataRequired(message="请填写名称，例如“国庆节”或“国庆节调休上班”。"),
                                Length(max=50, message="名称最多 50 个字。")])  # fmt: skip


register(Resource(
    name="calendar", title="节假日与调休", audit_type="calendar_day", form=DayForm,
    rows=lambda session, member: list(session.scalars(select(CalendarDay).order_by(CalendarDay.day.desc()))),
    columns=(("日期", lambda d: d.day.isoformat()), ("", lambda d: "调休上班" if d.is_workday else "放假"),
             ("名称", lambda d: d.name)),
    load=loop.load_day,
    save=lambda session, member, obj, form: loop.save_day(
        session, member, obj, day=form.day.data, is_workday=bool(form.is_workday.data), name=form.name.data),
    values=lambda session, d: {"day": d.day, "is_workday": int(d.is_workday), "name": d.name},
    delete=loop.delete_day, read_only=_not_shared, label=lambda d: f"{d.day.isoformat()} {d.name}",
    hint="周一到周五上班、周末休息之外的例外：法定节假日放假，调休的周末上班。时限按它计算工作时间。" + SHARED_HINT,
    section="诉求办理",
))  # fmt: skip


# ---------------------------------------------------------------- the duty roster


class ShiftForm(AdminForm):
    """A duty shift (值班): who answers for the community, from when to when (Beijing time)."""

    community_id = SelectField("社区", coerce=int)
    staff_id = SelectField("值班人员", coerce=int)
    starts_at = DateTimeLocalField("开始（北京时间）", [InputRequired(message="请填写开始时间。")],
                                   format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])  # fmt: skip
    ends_at = DateTimeLocalField("结束（北京时间）", [InputRequired(message="请填写结束时间。")],
                                 format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])  # fmt: skip
    shift = SelectField("班次", choices=options(SHIFT_LABELS.items()))
    note = StringField("备注", [Optional(), Length(max=100, message="备注最多 100 个字。")])


def _shift_choices(form: Any, session: Session, member: Staff) -> None:
    community_choices(form, session, member)
    people = session.scalars(
        select(Staff).where(Staff.community_id.in_(community_ids(session, member)), Staff.active.is_(True))
        .order_by(Staff.name, Staff.id)
    )  # fmt: skip
    form.staff_id.choices = options((p.id, f"{p.name}（{ROLE_LABELS.get(p.role, p.role)}）") for p in people)


def _shift_rows(session: Session, member: Staff) -> list[DutyShift]:
    since = clock.now() - timedelta(days=7)
    stmt = select(DutyShift).where(
        DutyShift.community_id.in_(community_ids(session, member)), DutyShift.ends_at > since
    )
    return list(session.scalars(stmt.order_by(DutyShift.starts_at, DutyShift.id).limit(500)))


def _beijing(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=LOCAL_TZ) if value is not None else None


def _wall(value: datetime) -> datetime:
    return value.astimezone(LOCAL_TZ).replace(tzinfo=None)


register(Resource(
    name="duty", title="值班表", audit_type="duty_shift", form=ShiftForm, rows=_shift_rows,
    columns=(("开始", lambda s: local(s.starts_at)), ("结束", lambda s: local(s.ends_at)),
             ("值班人员", lambda s: names(db_session(), Staff, {s.staff_id}).get(s.staff_id, "?")),
             ("班次", lambda s: SHIFT_LABELS.get(s.shift, s.shift)), ("备注", lambda s: s.note)),
    load=loop.load_shift,
    save=lambda session, member, obj, form: loop.save_shift(
        session, member, obj, community_id=form.community_id.data, staff_id=form.staff_id.data,
        starts_at=_beijing(form.starts_at.data), ends_at=_beijing(form.ends_at.data), shift=form.shift.data,
        note=form.note.data or ""),
    values=lambda session, s: {"community_id": s.community_id, "staff_id": s.staff_id,
                               "starts_at": _wall(s.starts_at), "ends_at": _wall(s.ends_at), "shift": s.shift,
                               "note": s.note},
    choices=_shift_choices, delete=loop.delete_shift, label=lambda s: local(s.starts_at),
    hint="非工作时间（夜间、周末、节假日）由值班人员接收待分拣和紧急诉求的提醒；值班表为空时提醒社区工作人员。"
         "列表显示最近 7 天以来的班次。",
    section="诉求办理",
))  # fmt: skip
