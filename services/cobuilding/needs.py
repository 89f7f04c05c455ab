"""The needs list (需求清单): what a community or grid branch asks member units for.

A need is typed in by staff, raised from an appeal that needs outside help, or from a deliberation item (议事);
it names its beneficiaries and the date it is wanted by.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from infra import privacy
from models.appeal import Appeal
from models.cobuilding import RESOURCE_KINDS, CobuildingNeed
from models.org import Grid
from models.staff import Staff
from services.cobuilding import units
from services.errors import DomainError, Forbidden, NotFound

SOURCE_LABELS = {"staff": "工作人员录入", "appeal": "民意诉求转入", "deliberation": "议事协商转入"}


def post(
    session: Session,
    staff: Staff,
    *,
    title: str,
    description: str = "",
    beneficiaries: int = 0,
    beneficiary_note: str = "",
    wanted_by: date | None = None,
    kind: str | None = None,
    grid_id: int | None = None,
    appeal_public_id: str | None = None,
    deliberation_ref: str | None = None,
) -> CobuildingNeed:
    """Post a need for the caller's community (or grid branch); from an appeal or a deliberation when named."""
    if staff.role not in units.REQUESTER_ROLES:
        raise Forbidden("只有社区和网格的工作人员可以发布需求")
    community_id = units.community_of(staff)
    if kind is not None and kind not in RESOURCE_KINDS:
        raise DomainError(f"需求类型须为：{'、'.join(RESOURCE_KINDS)}", code="bad_kind")
    if beneficiaries < 0:
        raise DomainError("受益人数不能为负", code="bad_beneficiaries")
    if appeal_public_id and deliberation_ref:
        raise DomainError("一条需求只能来自一件诉求或一项议事", code="two_sources")
    if staff.grid_id is not None:
        if grid_id is not None and grid_id != staff.grid_id:
            raise Forbidden("只能为本网格发布需求")
        grid_id = staff.grid_id
    elif grid_id is not None:
        grid = session.get(Grid, grid_id)
        if grid is None or grid.community_id != community_id:
            raise NotFound("本社区没有这个网格")
    source, appeal_id = "staff", None
    if appeal_public_id:
        appeal = session.scalar(select(Appeal).where(Appeal.public_id == appeal_public_id))
        if appeal is None or appeal.community_id != community_id:
            raise NotFound("本社区没有这件诉求")
        source, appeal_id = "appeal", appeal.id
        # The appeal's own words may carry a phone or a room number: the public list gets them redacted.
        description = description or privacy.redact_text(appeal.text)
        grid_id = grid_id or appeal.grid_id
    elif deliberation_ref:
        source = "deliberation"
    need = CobuildingNeed(
        community_id=community_id,
        grid_id=grid_id,
        source=source,
        appeal_id=appeal_id,
        deliberation_ref=deliberation_ref,
        kind=kind,
        title=title,
        description=description,
        beneficiaries=beneficiaries,
        beneficiary_note=beneficiary_note,
        wanted_by=wanted_by,
        created_by_staff_id=staff.id,
    )
    session.add(need)
    session.flush()
    return need


def visible(session: Session, staff: Staff) -> Select[tuple[CobuildingNeed]]:
    """Needs the caller may list: their community's (a grid's staff: their grid's and the community-wide ones)."""
    stmt = select(CobuildingNeed)
    if staff.role in units.CROSS_COMMUNITY_ROLES:
        return stmt
    if staff.role == units.UNIT_ROLE:
        unit = units.unit_of(session, staff)
        return stmt.where(CobuildingNeed.community_id == (unit.community_id if unit else -1))
    stmt = stmt.where(CobuildingNeed.community_id == units.community_of(staff))
    if staff.role in ("grid_worker", "grid_leader") and staff.grid_id is not None:
        stmt = stmt.where((CobuildingNeed.grid_id == staff.grid_id) | CobuildingNeed.grid_id.is_(None))
    return stmt


def get(session: Session, staff: Staff, need_id: int) -> CobuildingNeed:
    """One need the caller may see (404 otherwise)."""
    need = session.scalar(visible(session, staff).where(CobuildingNeed.id == need_id))
    if need is None:
        raise NotFound("没有这条需求")
    return need


def close(session: Session, staff: Staff, need: CobuildingNeed, *, met: bool) -> None:
    """Mark a need met or close it unmet (its poster or a coordinator)."""
    if need.created_by_staff_id != staff.id and not units.is_coordinator(staff, need.community_id):
        raise Forbidden("只有发布人或社区工作人员可以关闭需求")
    if need.status in ("met", "closed"):
        raise DomainError("需求已关闭", code="need_closed")
    need.status = "met" if met else "closed"
    session.flush()


def view(need: CobuildingNeed) -> dict[str, Any]:
    """A need as shown."""
    return {
        "id": need.id,
        "community_id": need.community_id,
        "grid_id": need.grid_id,
        "source": need.source,
        "source_label": SOURCE_LABELS[need.source],
        "deliberation_ref": need.deliberation_ref,
        "kind": need.kind,
        "title": need.title,
        "description": need.description,
        "beneficiaries": need.beneficiaries,
        "beneficiary_note": need.beneficiary_note,
        "wanted_by": need.wanted_by.isoformat() if need.wanted_by else None,
        "status": need.status,
    }
