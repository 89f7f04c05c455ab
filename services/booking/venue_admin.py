"""Administration of venues (场馆): rules, opening hours (which make the bookable slots) and closed days.

A venue belongs to a community and is edited by its administrators (`admin_scope`). Opening hours are typed one
weekday a line ("周一 09:00-12:00, 14:00-21:00"); the slots are those hours cut into `slot_minutes` pieces.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.booking import Venue, VenueClosure
from models.staff import Staff
from services.booking.venues import create_venue, set_capacity
from services.errors import DomainError, NotFound
from services.organisation.admin_scope import DuplicateField, InvalidField, check_community, clean

WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_DAY_NAMES = (
    {name: i for i, name in enumerate(WEEKDAYS)}
    | {alias: i for i, alias in enumerate(("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"))}
    | {"星期天": 6, "周天": 6}
)
_PERIOD = re.compile(r"(\d{1,2}):(\d{2})\s*[-–~至到]\s*(\d{1,2}):(\d{2})")
CLOSURE_KINDS = {"blackout": "临时闭馆", "holiday": "节假日闭馆"}
# (field, label, low, high) of the venue's whole-number rules.
NUMBER_RULES = (
    ("capacity", "容量", 1, 500),
    ("slot_minutes", "每个时段的分钟数", 5, 24 * 60),
    ("max_slots_per_booking", "每次最多预约的时段数", 1, 48),
    ("min_notice_minutes", "最少提前预约的分钟数", 0, 30 * 24 * 60),
    ("max_advance_days", "最多提前预约的天数", 1, 365),
    ("cancel_cutoff_minutes", "取消截止（开始前分钟数）", 0, 30 * 24 * 60),
    ("quota_active", "每位居民同时有效的预约数", 1, 50),
)


def _period(text: str) -> tuple[time | None, time | None]:
    found = _PERIOD.fullmatch(text)
    if found is None:
        return None, None
    try:
        return time(int(found[1]), int(found[2])), time(int(found[3]), int(found[4]))
    except ValueError:
        return None, None


def parse_opening_hours(text: str | None) -> dict[str, list[list[str]]]:
    """Opening hours typed one weekday a line → {"0": [["09:00", "12:00"], …]} (Monday = "0"; absent = closed)."""
    hours: dict[str, list[list[str]]] = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        day = _DAY_NAMES.get(head.strip("：:"))
        if day is None:
            raise InvalidField(
                "opening_hours", f"第 {number} 行应以周一到周日开头，例如“周一 09:00-12:00, 14:00-21:00”。"
            )
        if str(day) in hours:
            raise InvalidField("opening_hours", f"第 {number} 行：{WEEKDAYS[day]}写了两次，请合并成一行。")
        periods: list[tuple[time, time]] = []
        for part in (p.strip() for p in re.split(r"[,，、;；]", rest) if p.strip()):
            start, end = _period(part)
            if start is None or end is None:
                raise InvalidField("opening_hours", f"第 {number} 行的“{part[:20]}”不是“09:00-12:00”这样的时间段。")
            if end <= start:
                raise InvalidField("opening_hours", f"第 {number} 行：{part} 的结束时间须晚于开始时间。")
            periods.append((start, end))
        periods.sort()
        for (_, a_end), (b_start, _) in itertools.pairwise(periods):
            if b_start < a_end:
                raise InvalidField("opening_hours", f"第 {number} 行：{WEEKDAYS[day]}的时间段有重叠。")
        if not periods:
            raise InvalidField(
                "opening_hours", f"第 {number} 行：{WEEKDAYS[day]}后面没有写时间段（不开放的日子不写即可）。"
            )
        hours[str(day)] = [[s.strftime("%H:%M"), e.strftime("%H:%M")] for s, e in periods]
    return hours


def hours_text(hours: dict[str, Any] | None) -> str:
    """Stored opening hours as the form's lines."""
    lines = []
    for day in range(7):
        periods = (hours or {}).get(str(day)) or []
        if periods:
            lines.append(f"{WEEKDAYS[day]} " + ", ".join(f"{s}-{e}" for s, e in periods))
    return "\n".join(lines)


def load_venue(session: Session, member: Staff, venue_id: int) -> Venue:
    """A venue of a community the member administers."""
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise NotFound("没有这个场馆。")
    check_community(session, member, venue.community_id)
    return venue


def save_venue(
    session: Session, member: Staff, venue: Venue | None, *, community_id: int, values: dict[str, Any]
) -> Venue:
    """Create or edit a venue from the form's values (name, place, rules, opening hours, switches)."""
    community = check_community(session, member, community_id)
    if venue is not None:
        load_venue(session, member, venue.id)
    rules: dict[str, Any] = {
        "name": clean(values.get("name"), "name", "场馆名称", high=100),
        "location": clean(values.get("location"), "location", "位置", high=200, required=False),
        "description": clean(values.get("description"), "description", "介绍", high=2000, required=False),
        "opening_hours": parse_opening_hours(values.get("opening_hours")),
        "requires_approval": bool(values.get("requires_approval")),
        "closed_on_holidays": bool(values.get("closed_on_holidays")),
        "active": bool(values.get("active")),
    }
    for name, label, low, high in NUMBER_RULES:
        number = values.get(name)
        if not isinstance(number, int) or not low <= number <= high:
            raise InvalidField(name, f"{label}应为 {low} 到 {high} 之间的整数。")
        rules[name] = number
    capacity = rules.pop("capacity")
    clash = session.scalar(select(Venue).where(Venue.community_id == community.id, Venue.name == rules["name"]))
    if clash is not None and clash is not venue:
        raise DuplicateField("name", f"本社区已有名为“{rules['name']}”的场馆。")
    if venue is None:
        return create_venue(session, community_id=community.id, capacity=capacity, **rules)
    venue.community_id = community.id
    for name, value in rules.items():
        setattr(venue, name, value)
    session.flush()
    if capacity != venue.capacity:
        try:
            set_capacity(session, venue, capacity)
        except DomainError as e:  # seats beyond the new capacity are booked
            raise InvalidField("capacity", e.message) from e
    return venue


def load_closure(session: Session, member: Staff, closure_id: int) -> VenueClosure:
    """A closed day of a community the member administers."""
    row = session.get(VenueClosure, closure_id)
    if row is None:
        raise NotFound("没有这个闭馆日。")
    check_community(session, member, row.community_id)
    return row


def save_closure(
    session: Session,
    member: Staff,
    row: VenueClosure | None,
    *,
    community_id: int,
    venue_id: int | None,
    day: date,
    kind: str,
    reason: str,
) -> VenueClosure:
    """Close one venue (or, without one, every venue of the community) on a day."""
    community = check_community(session, member, community_id)
    if row is not None:
        load_closure(session, member, row.id)
    if venue_id is not None:
        venue = session.get(Venue, venue_id)
        if venue is None or venue.community_id != community.id:
            raise InvalidField("venue_id", "场馆须属于所选社区。")
    if kind not in CLOSURE_KINDS:
        raise InvalidField("kind", "请选择闭馆类型。")
    clash = session.scalar(
        select(VenueClosure).where(
            VenueClosure.community_id == community.id,
            VenueClosure.day == day,
            VenueClosure.venue_id.is_(None) if venue_id is None else VenueClosure.venue_id == venue_id,
        )
    )
    target = row or VenueClosure()
    if clash is not None and clash is not target:
        raise DuplicateField("day", f"{day.isoformat()} 已设为闭馆，请直接编辑那一条。")
    target.community_id, target.venue_id, target.day, target.kind = community.id, venue_id, day, kind
    target.reason = clean(reason, "reason", "原因", high=100, required=False)
    session.add(target)
    session.flush()
    return target


def delete_closure(session: Session, member: Staff, row: VenueClosure) -> None:
    """Open the venue again on that day."""
    load_closure(session, member, row.id)
    session.delete(row)
    session.flush()
