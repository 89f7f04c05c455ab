"""Co-building figures like the seeds report: per unit and community over a month (or any window) — resources
listed, orders placed / accepted / declined / completed, beneficiaries, evaluation, activities held.

Each event counts in the window it happened in: an order placed in October and completed in November counts as
placed in October and completed in November. Completed means confirmed by both sides; beneficiaries and
activities are those of the orders completed in the window; the evaluation is the mean score given in it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from infra.clock import LOCAL_TZ
from models.cobuilding import CobuildingOrder, CobuildingResource, CobuildingUnit
from models.staff import Staff
from services.cobuilding import units
from services.errors import DomainError

# Kinds whose delivery is a co-building activity held in the community (funding and goods are handovers).
ACTIVITY_KINDS = frozenset({"activity", "venue", "service", "expertise"})

REPORT_COLUMNS: tuple[tuple[str, int], ...] = (
    ("成员单位", 26), ("类型", 10), ("新增资源", 10), ("下单", 8), ("接单", 8), ("婉拒", 8), ("完成", 8),
    ("受益人次", 10), ("评价数", 8), ("平均评分", 10), ("开展活动", 10),
)  # fmt: skip


@dataclass
class UnitFigures:
    """One unit's figures over a window."""

    unit_id: int
    unit_name: str
    kind: str
    resources_listed: int = 0
    orders_placed: int = 0
    orders_accepted: int = 0
    orders_declined: int = 0
    orders_completed: int = 0
    beneficiaries: int = 0
    evaluations: int = 0
    score_total: int = 0
    activities_held: int = 0

    @property
    def average_score(self) -> float | None:
        """Mean evaluation score, None without evaluations."""
        return round(self.score_total / self.evaluations, 2) if self.evaluations else None

    def add(self, other: UnitFigures) -> None:
        """Add another row's counts into this one."""
        for name in ("resources_listed", "orders_placed", "orders_accepted", "orders_declined", "orders_completed",
                     "beneficiaries", "evaluations", "score_total", "activities_held"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values."""
        data = asdict(self)
        data.pop("score_total")
        data["average_score"] = self.average_score
        return data


def month_window(month: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a local (Asia/Shanghai) month written YYYY-MM."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        first = date(year, mon, 1)
    except ValueError as exc:
        raise DomainError("月份格式须为 YYYY-MM", code="bad_month") from exc
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=LOCAL_TZ).astimezone(UTC)
    end = datetime.combine(nxt, datetime.min.time(), tzinfo=LOCAL_TZ).astimezone(UTC)
    return start, end


def _within(value: datetime | None, start: datetime, end: datetime) -> bool:
    return value is not None and start <= value < end


def by_unit(
    session: Session, community_id: int, start: datetime, end: datetime, *, unit_id: int | None = None
) -> list[UnitFigures]:
    """Figures of each member unit of a community over [start, end), by unit name."""
    unit_stmt = select(CobuildingUnit).where(CobuildingUnit.community_id == community_id)
    if unit_id is not None:
        unit_stmt = unit_stmt.where(CobuildingUnit.id == unit_id)
    rows = {u.id: UnitFigures(u.id, u.name, u.kind) for u in session.scalars(unit_stmt.order_by(CobuildingUnit.name))}
    if not rows:
        return []
    for (uid,) in session.execute(
        select(CobuildingResource.unit_id).where(
            CobuildingResource.unit_id.in_(rows), CobuildingResource.created_at >= start,
            CobuildingResource.created_at < end,
        )
    ):  # fmt: skip
        rows[uid].resources_listed += 1
    touched = or_(
        *(
            (col >= start) & (col < end)
            for col in (CobuildingOrder.placed_at, CobuildingOrder.accepted_at, CobuildingOrder.declined_at,
                        CobuildingOrder.confirmed_at, CobuildingOrder.evaluated_at)
        )
    )  # fmt: skip
    stmt = (
        select(CobuildingOrder, CobuildingResource.kind)
        .join(CobuildingResource, CobuildingResource.id == CobuildingOrder.resource_id)
        .where(CobuildingOrder.unit_id.in_(rows), touched)
    )
    for order, kind in session.execute(stmt):
        row = rows[order.unit_id]
        row.orders_placed += _within(order.placed_at, start, end)
        row.orders_accepted += _within(order.accepted_at, start, end)
        row.orders_declined += _within(order.declined_at, start, end)
        if _within(order.confirmed_at, start, end):
            row.orders_completed += 1
            row.beneficiaries += order.beneficiaries
            row.activities_held += kind in ACTIVITY_KINDS
        if _within(order.evaluated_at, start, end) and order.score is not None:
            row.evaluations += 1
            row.score_total += order.score
    return list(rows.values())


def community_total(rows: list[UnitFigures]) -> UnitFigures:
    """The community's totals over its units' rows."""
    total = UnitFigures(0, "合计", "")
    for row in rows:
        total.add(row)
    return total


def figures_for(session: Session, staff: Staff, month: str, *, community_id: int | None = None) -> dict[str, Any]:
    """A month's figures the caller may see: a unit its own row; staff their community's units and total."""
    start, end = month_window(month)
    own = units.unit_of(session, staff)
    if staff.role == units.UNIT_ROLE:
        if own is None:
            return {"month": month, "community_id": None, "units": [], "total": None}
        rows = by_unit(session, own.community_id, start, end, unit_id=own.id)
        return {"month": month, "community_id": own.community_id, "units": [r.as_dict() for r in rows], "total": None}
    if staff.role in units.CROSS_COMMUNITY_ROLES and community_id is not None:
        cid = community_id
    else:
        cid = units.community_of(staff)
    rows = by_unit(session, cid, start, end)
    return {
        "month": month,
        "community_id": cid,
        "units": [r.as_dict() for r in rows],
        "total": community_total(rows).as_dict(),
    }


def report_lines(session: Session, community_id: int, start: datetime, end: datetime) -> list[list[Any]]:
    """Lines of the weekly report's co-building sheet: one per unit with any activity, then the total."""
    rows = by_unit(session, community_id, start, end)
    lines = []
    for r in rows:
        if not (r.resources_listed or r.orders_placed or r.orders_accepted or r.orders_declined
                or r.orders_completed or r.evaluations):  # fmt: skip
            continue
        lines.append(_line(r, units.KIND_LABELS.get(r.kind, r.kind)))
    lines.append(_line(community_total(rows), ""))
    return lines


def _line(r: UnitFigures, kind_label: str) -> list[Any]:
    return [
        r.unit_name, kind_label, r.resources_listed, r.orders_placed, r.orders_accepted, r.orders_declined,
        r.orders_completed, r.beneficiaries, r.evaluations,
        r.average_score if r.average_score is not None else "—", r.activities_held,
    ]  # fmt: skip
