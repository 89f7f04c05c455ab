"""Micro-project proposals: a resident (or a council decision) proposes, staff screen.

Where the community asks for it (`support_threshold`, data per community), a new proposal first gathers
supports from residents of its scope (`services.participation.supports`) and reaches screening only with
enough of them within the period.

Screening answers every proposal: feasible (it may go on a ballot), merged into another proposal of the same
community (the resident is pointed at that one), or declined with a reason the resident sees.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from infra import clock
from models.micro_project import Proposal, SupportThreshold
from models.org import Building
from models.resident import Resident
from models.staff import Staff
from services.errors import Conflict, DomainError, NotFound
from services.notifications.notify import notify_resident
from services.participation import scope as scopes

SCREEN_DECISIONS = ("feasible", "merged", "declined")
MAX_PHOTOS = 9  # wx.chooseMedia picks at most 9 images at a time


def _check_fields(title: str, description: str, photos: list[str], rough_cost_yuan: int) -> None:
    if not title.strip():
        raise DomainError("请填写项目名称", code="invalid_title")
    if not description.strip():
        raise DomainError("请说明要做什么", code="invalid_description")
    if len(photos) > MAX_PHOTOS:
        raise DomainError(f"照片最多 {MAX_PHOTOS} 张", code="too_many_photos")
    if rough_cost_yuan < 0:
        raise DomainError("估算费用不能为负数", code="invalid_cost")


def propose(
    session: Session,
    resident: Resident,
    *,
    title: str,
    description: str,
    scope: str = "building",
    photos: list[str] | None = None,
    rough_cost_yuan: int = 0,
    source: str = "miniapp",
) -> Proposal:
    """A resident proposes a project for their own building, estate or community."""
    photos = list(photos or [])
    _check_fields(title, description, photos, rough_cost_yuan)
    where = scopes.of_resident(session, resident, scope)
    rule = support_rule(session, where.community_id)
    gathering = rule is not None and rule.supports_needed > 0
    proposal = Proposal(
        community_id=where.community_id,
        scope=where.scope,
        estate_id=where.estate_id,
        building_id=where.building_id,
        title=title.strip(),
        description=description.strip(),
        photos=photos,
        rough_cost_yuan=rough_cost_yuan,
        source=source,
        proposer_resident_id=resident.id,
        status="gathering" if gathering else "submitted",
        supports_needed=rule.supports_needed if rule is not None and gathering else 0,
        supports_until=clock.now() + timedelta(days=rule.window_days) if rule is not None and gathering else None,
    )
    session.add(proposal)
    session.flush()
    return proposal


def support_rule(session: Session, community_id: int) -> SupportThreshold | None:
    """The community's support threshold for new proposals (None: proposals go straight to screening)."""
    return session.scalar(select(SupportThreshold).where(SupportThreshold.community_id == community_id))


def propose_for(
    session: Session,
    where: scopes.Scope,
    *,
    title: str,
    description: str,
    rough_cost_yuan: int = 0,
    source: str = "council",
) -> Proposal:
    """A proposal raised on the residents' behalf (a council decision): already screened feasible."""
    _check_fields(title, description, [], rough_cost_yuan)
    proposal = Proposal(
        community_id=where.community_id,
        scope=where.scope,
        estate_id=where.estate_id,
        building_id=where.building_id,
        title=title.strip(),
        description=description.strip(),
        photos=[],
        rough_cost_yuan=rough_cost_yuan,
        source=source,
        status="feasible",
        screened_at=clock.now(),
    )
    session.add(proposal)
    session.flush()
    return proposal


def scope_of(proposal: Proposal) -> scopes.Scope:
    """The proposal's scope."""
    return scopes.Scope(proposal.community_id, proposal.scope, proposal.estate_id, proposal.building_id)


def get_for_staff(session: Session, staff: Staff, public_id: str, *, for_update: bool = False) -> Proposal:
    """A proposal of the staff member's community (404 otherwise)."""
    stmt = select(Proposal).where(Proposal.public_id == public_id, Proposal.community_id == staff.community_id)
    proposal = session.scalar(stmt.with_for_update() if for_update else stmt)
    if proposal is None:
        raise NotFound("您的社区里没有这个提议")
    return proposal


def screen(
    session: Session,
    staff: Staff,
    proposal: Proposal,
    decision: str,
    *,
    reason: str | None = None,
    merged_into: Proposal | None = None,
) -> Proposal:
    """Screen a submitted proposal: feasible, merged into another, or declined with a reason."""
    scopes.check_organiser(staff, proposal.community_id)
    if decision not in SCREEN_DECISIONS:
        raise DomainError(f"未知的审核结论 {decision!r}", code="invalid_decision")
    if proposal.status == "gathering":
        raise Conflict("这个提议还在征集居民支持，达到支持数后才能审核", code="still_gathering")
    if proposal.status == "expired":
        raise Conflict("这个提议在征集期内没有达到支持数", code="support_expired")
    if proposal.status != "submitted":
        raise Conflict("这个提议已经审核过了", code="already_screened")
    if decision == "declined" and not (reason or "").strip():
        raise DomainError("不采纳时请写明理由", code="reason_required")
    if decision == "merged":
        if merged_into is None or merged_into.id == proposal.id or merged_into.community_id != proposal.community_id:
            raise DomainError("请指定本社区的另一个提议作为合并目标", code="invalid_merge_target")
        if merged_into.status in ("merged", "declined"):
            raise Conflict("合并目标已被合并或不采纳", code="invalid_merge_target")
        proposal.merged_into_id = merged_into.id
    proposal.status = decision
    proposal.screening_reason = (reason or "").strip() or None
    proposal.screened_by_staff_id = staff.id
    proposal.screened_at = clock.now()
    session.flush()
    if proposal.proposer_resident_id is not None:
        notify_resident(
            session,
            proposal.proposer_resident_id,
            _screening_text(proposal, merged_into),
            key=f"proposal:{proposal.id}:screened",
            related=("proposal", proposal.id),
        )
    return proposal


def _screening_text(proposal: Proposal, merged_into: Proposal | None) -> str:
    """What the proposer is told about the screening of their proposal."""
    if proposal.status == "feasible":
        return f"您提议的微实事「{proposal.title}」经社区审核可行，将交给居民投票决定。"
    if proposal.status == "merged" and merged_into is not None:
        return f"您提议的微实事「{proposal.title}」已与「{merged_into.title}」合并，一并交给居民投票。"
    return f"您提议的微实事「{proposal.title}」暂不采纳：{proposal.screening_reason}。感谢您的关心。"


def visible_to(session: Session, resident: Resident) -> Select[tuple[Proposal]]:
    """Proposals a resident may see: their community's, estate's and building's, and their own (newest first)."""
    if resident.community_id is None:
        return select(Proposal).where(Proposal.proposer_resident_id == resident.id).order_by(Proposal.id.desc())
    building = session.get(Building, resident.building_id) if resident.building_id else None
    estate_id = building.estate_id if building is not None else None
    in_scope = (
        (Proposal.community_id == resident.community_id)
        & (Proposal.estate_id.is_(None) | (Proposal.estate_id == estate_id))
        & (Proposal.building_id.is_(None) | (Proposal.building_id == resident.building_id))
    )
    return (
        select(Proposal).where(or_(in_scope, Proposal.proposer_resident_id == resident.id)).order_by(Proposal.id.desc())
    )


def get_for_resident(session: Session, resident: Resident, public_id: str) -> Proposal:
    """A proposal the resident may see (404 otherwise)."""
    proposal = session.scalar(visible_to(session, resident).where(Proposal.public_id == public_id))
    if proposal is None:
        raise NotFound("没有这个提议")
    return proposal


def for_staff(session: Session, staff: Staff, status: str | None = None) -> Select[tuple[Proposal]]:
    """Proposals of the staff member's community, optionally in one state (oldest first: screen in order)."""
    stmt = select(Proposal).where(Proposal.community_id == staff.community_id)
    if status:
        stmt = stmt.where(Proposal.status == status)
    return stmt.order_by(Proposal.id)


def view(proposal: Proposal, *, merged_into_public_id: str | None = None) -> dict[str, Any]:
    """A proposal as the APIs show it (no proposer identity)."""
    return {
        "id": proposal.public_id,
        "title": proposal.title,
        "description": proposal.description,
        "scope": proposal.scope,
        "estate_id": proposal.estate_id,
        "building_id": proposal.building_id,
        "photos": list(proposal.photos or []),
        "rough_cost_yuan": proposal.rough_cost_yuan,
        "source": proposal.source,
        "status": proposal.status,
        "screening_reason": proposal.screening_reason,
        "merged_into": merged_into_public_id,
        "created_at": proposal.created_at,
        "supports_needed": proposal.supports_needed,
        "support_count": proposal.support_count,
        "supports_until": proposal.supports_until,
    }
