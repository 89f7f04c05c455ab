"""Administration of the appeal loop's data: routing rules, SLA policies, the holiday calendar and the duty roster.

Routing rules and duty shifts belong to a community and are edited by its administrators (`admin_scope`). A
routing rule without a community (the street-wide default), the SLA policies and the calendar (national
holidays and 调休 days) apply to every community, so only an admin (管理员) changes them; the others see them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.calendar import CalendarDay
from models.deadlines import SlaPolicy
from models.duty import DutyShift
from models.org import Department, Estate, Grid, PropertyCompany
from models.routing import RoutingRule
from models.staff import Staff
from nlp.taxonomy import BY_CODE
from services.appeals.duty import SHIFT_KINDS
from services.errors import Forbidden, NotFound
from services.organisation.admin_scope import DuplicateField, InvalidField, check_community, clean, require_admin

HANDLER_TYPES = {"grid": "所在网格", "department": "部门", "property_company": "物业公司"}
TIERS = {"urgent": "紧急", "general": "一般", "complex": "复杂"}
MAX_SLA_MINUTES = 60 * 24 * 365
MAX_SHIFT_HOURS = 24 * 31


def may_edit_shared(member: Staff) -> bool:
    """Whether this staff member changes what applies to every community (SLA, calendar, default rules)."""
    return member.role == "admin" and member.active


def _require_shared(member: Staff) -> None:
    require_admin(member)
    if not may_edit_shared(member):
        raise Forbidden("时限标准、节假日和全街道默认派单规则适用于所有社区，只有管理员可以修改。")


# ---------------------------------------------------------------- routing rules


def load_rule(session: Session, member: Staff, rule_id: int) -> RoutingRule:
    """A routing rule of a community the member administers, or a street-wide default rule."""
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound("没有这条派单规则。")
    if rule.community_id is None:
        require_admin(member)  # a default rule is shown to every administrator; `save_rule` keeps it for admins
    else:
        check_community(session, member, rule.community_id)
    return rule


def save_rule(
    session: Session,
    member: Staff,
    rule: RoutingRule | None,
    *,
    category: str,
    community_id: int | None,
    estate_id: int | None,
    grid_id: int | None,
    handler_type: str,
    department_id: int | None,
    property_company_id: int | None,
    priority: int,
    active: bool,
    note: str,
) -> RoutingRule:
    """Create or edit a rule: appeals of `category` in this scope go to this unit (the most specific rule wins)."""
    if rule is not None:
        load_rule(session, member, rule.id)
        if rule.community_id is None:
            _require_shared(member)
    if community_id is None:
        _require_shared(member)
        if estate_id is not None or grid_id is not None:
            raise InvalidField("community_id", "只对某个小区或网格生效的规则须选择它所在的社区。")
    else:
        check_community(session, member, community_id)
    if category not in BY_CODE:
        raise InvalidField("category", "请选择诉求类别。")
    if estate_id is not None and grid_id is not None:
        raise InvalidField("grid_id", "规则的范围只能是一个小区或一个网格，不能同时选择。")
    if estate_id is not None:
        estate = session.get(Estate, estate_id)
        if estate is None or estate.community_id != community_id:
            raise InvalidField("estate_id", "小区须属于所选社区。")
    if grid_id is not None:
        grid = session.get(Grid, grid_id)
        if grid is None or grid.community_id != community_id:
            raise InvalidField("grid_id", "网格须属于所选社区。")
    if handler_type not in HANDLER_TYPES:
        raise InvalidField("handler_type", "请选择承办单位类型。")
    if handler_type == "department":
        if department_id is None or session.get(Department, department_id) is None:
            raise InvalidField("department_id", "派给部门时须选择部门。")
    else:
        department_id = None
    if handler_type == "property_company":
        if property_company_id is not None and session.get(PropertyCompany, property_company_id) is None:
            raise InvalidField("property_company_id", "没有这家物业公司。")
    else:
        property_company_id = None
    if not -1000 <= priority <= 1000:
        raise InvalidField("priority", "优先级应在 -1000 到 1000 之间。")
    target = rule or RoutingRule()
    target.category, target.community_id, target.estate_id, target.grid_id = category, community_id, estate_id, grid_id
    target.handler_type, target.department_id = handler_type, department_id
    target.property_company_id, target.priority, target.active = property_company_id, priority, active
    target.note = clean(note, "note", "说明", high=200, required=False) or None
    session.add(target)
    session.flush()
    return target


# ---------------------------------------------------------------- SLA policies


def load_policy(session: Session, member: Staff, policy_id: int) -> SlaPolicy:
    """An SLA policy (anyone administering may read it; `save_policy` checks who may change it)."""
    require_admin(member)
    policy = session.get(SlaPolicy, policy_id)
    if policy is None:
        raise NotFound("没有这条时限标准。")
    return policy


def save_policy(
    session: Session,
    member: Staff,
    policy: SlaPolicy | None,
    *,
    category: str | None,
    urgent: bool,
    tier: str,
    accept_minutes: int,
    resolve_minutes: int,
) -> SlaPolicy:
    """Create or edit the time a unit has to accept and resolve appeals of a category and urgency."""
    _require_shared(member)
    if category is not None and category not in BY_CODE:
        raise InvalidField("category", "请选择诉求类别。")
    if tier not in TIERS:
        raise InvalidField("tier", "请选择时限档次。")
    if not 1 <= accept_minutes <= MAX_SLA_MINUTES:
        raise InvalidField("accept_minutes", "签收时限应为 1 分钟到 1 年之间。")
    if not 1 <= resolve_minutes <= MAX_SLA_MINUTES:
        raise InvalidField("resolve_minutes", "办结时限应为 1 分钟到 1 年之间。")
    if resolve_minutes < accept_minutes:
        raise InvalidField("resolve_minutes", "办结时限不能短于签收时限。")
    taken = session.scalar(
        select(SlaPolicy).where(
            SlaPolicy.category.is_(None) if category is None else SlaPolicy.category == category,
            SlaPolicy.urgent.is_(urgent),
        )
    )
    target = policy or SlaPolicy()
    if taken is not None and taken is not target:
        raise DuplicateField("category", "这个类别和紧急程度已有时限标准，请直接编辑那一条。")
    target.category, target.urgent, target.tier = category, urgent, tier
    target.accept_minutes, target.resolve_minutes = accept_minutes, resolve_minutes
    session.add(target)
    session.flush()
    return target


# ---------------------------------------------------------------- the holiday calendar


def load_day(session: Session, member: Staff, day_id: int) -> CalendarDay:
    """A calendar exception (readable by every administrator)."""
    require_admin(member)
    row = session.get(CalendarDay, day_id)
    if row is None:
        raise NotFound("没有这一天的设置。")
    return row


def save_day(
    session: Session, member: Staff, row: CalendarDay | None, *, day: date, is_workday: bool, name: str
) -> CalendarDay:
    """Create or edit a holiday (放假) or a make-up working day (调休上班) on the working calendar."""
    _require_shared(member)
    weekend = day.weekday() >= 5
    if is_workday and not weekend:
        raise InvalidField("is_workday", "周一到周五本来就是工作日；调休上班只用于周六、周日。")
    taken = session.scalar(select(CalendarDay).where(CalendarDay.day == day))
    target = row or CalendarDay()
    if taken is not None and taken is not target:
        raise DuplicateField("day", f"{day.isoformat()} 已经设置过，请直接编辑那一天。")
    target.day, target.is_workday = day, is_workday
    target.name = clean(name, "name", "名称", high=50)
    session.add(target)
    session.flush()
    return target


def delete_day(session: Session, member: Staff, row: CalendarDay) -> None:
    """Remove a calendar exception (the day goes back to the ordinary Monday–Friday week)."""
    _require_shared(member)
    session.delete(row)
    session.flush()


# ---------------------------------------------------------------- the duty roster


def load_shift(session: Session, member: Staff, shift_id: int) -> DutyShift:
    """A duty shift of a community the member administers."""
    row = session.get(DutyShift, shift_id)
    if row is None:
        raise NotFound("没有这个值班班次。")
    check_community(session, member, row.community_id)
    return row


def save_shift(
    session: Session,
    member: Staff,
    row: DutyShift | None,
    *,
    community_id: int,
    staff_id: int,
    starts_at: datetime,
    ends_at: datetime,
    shift: str,
    note: str,
) -> DutyShift:
    """Create or edit a shift: this staff member answers for the community from `starts_at` to `ends_at`."""
    community = check_community(session, member, community_id)
    if row is not None:
        load_shift(session, member, row.id)
    person = session.get(Staff, staff_id)
    if person is None or not person.active or person.community_id != community.id:
        raise InvalidField("staff_id", "值班人员须是本社区在职的工作人员。")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:  # pragma: no cover - the page gives Beijing time
        raise InvalidField("starts_at", "时间须带时区。")
    if ends_at <= starts_at:
        raise InvalidField("ends_at", "结束时间须晚于开始时间。")
    if (ends_at - starts_at).total_seconds() > MAX_SHIFT_HOURS * 3600:
        raise InvalidField("ends_at", "一个班次最长 31 天；更长的安排请分成多个班次。")
    if shift not in SHIFT_KINDS:
        raise InvalidField("shift", "请选择班次类型。")
    taken = session.scalar(
        select(DutyShift).where(
            DutyShift.community_id == community.id, DutyShift.staff_id == person.id, DutyShift.starts_at == starts_at
        )
    )
    target = row or DutyShift()
    if taken is not None and taken is not target:
        raise DuplicateField("starts_at", "这位工作人员在这个时间已有一个班次。")
    target.community_id, target.staff_id, target.starts_at, target.ends_at = (
        community.id, person.id, starts_at, ends_at,
    )  # fmt: skip
    target.shift = shift
    target.note = clean(note, "note", "备注", high=100, required=False)
    session.add(target)
    session.flush()
    return target


def delete_shift(session: Session, member: Staff, row: DutyShift) -> None:
    """Remove a shift from the roster."""
    load_shift(session, member, row.id)
    session.delete(row)
    session.flush()
