"""Support thresholds: a new proposal reaches screening only once N residents of its scope support it in time.

As on Decidim and CONSUL, the community decides how many supports a proposal needs and within how many days
(`support_threshold`, one row per community, set by staff; none, or N = 0, sends proposals straight to
screening). A proposal made under the rule is `gathering` until it has N supports (then `submitted`, in the
screening queue) or its period ends (then `expired`).

One support per resident is the database's rule: `proposal_support` has UNIQUE(proposal_id, resident_id) and a
support inserts with INSERT … ON CONFLICT DO NOTHING, so however many requests of one resident race, one row is
written and the proposal's counter moves once (the counter is one conditional UPDATE, which also moves the
proposal to screening when it reaches N).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.micro_project import Proposal, ProposalSupport, SupportThreshold
from models.resident import Resident
from models.staff import Staff
from services.errors import Conflict, DomainError, Forbidden
from services.notifications.notify import notify_resident
from services.participation import proposals as proposal_service
from services.participation import scope as scopes

MAX_SUPPORTS_NEEDED = 100_000
MAX_WINDOW_DAYS = 365


@dataclass(frozen=True)
class Supported:
    """A support counted: the proposal's supports now, how many it needs, and whether it went to screening."""

    support_count: int
    supports_needed: int
    reached: bool


def set_threshold(session: Session, staff: Staff, *, supports_needed: int, window_days: int) -> SupportThreshold:
    """Set how many supports a new proposal of the community needs, and within how many days (0: none needed)."""
    community_id = scopes.check_organiser(staff)
    if not 0 <= supports_needed <= MAX_SUPPORTS_NEEDED:
        raise DomainError(f"所需支持数须在 0 到 {MAX_SUPPORTS_NEEDED} 之间", code="invalid_supports_needed")
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise DomainError(f"征集期须为 1 到 {MAX_WINDOW_DAYS} 天", code="invalid_window_days")
    rule = session.scalar(
        select(SupportThreshold).where(SupportThreshold.community_id == community_id).with_for_update()
    )
    if rule is None:
        rule = SupportThreshold(community_id=community_id, supports_needed=supports_needed, window_days=window_days)
        session.add(rule)
    else:
        rule.supports_needed, rule.window_days = supports_needed, window_days
    session.flush()
    return rule


def support(session: Session, proposal: Proposal, resident: Resident, *, now: datetime) -> Supported:
    """Count the resident's support of a gathering proposal of their scope, once; N supports send it to screening."""
    if proposal.status != "gathering":
        raise Conflict("这个提议不在征集支持阶段", code="not_gathering")
    if proposal.supports_until is not None and now >= proposal.supports_until:
        raise Conflict("这个提议的征集期已经结束", code="support_closed")
    if not scopes.contains(session, proposal_service.scope_of(proposal), resident):
        raise Forbidden("您不在这个提议的范围内（请先绑定本楼栋/小区的住址）", code="not_in_scope")
    if proposal.proposer_resident_id == resident.id:
        raise Conflict("提议人不能支持自己的提议", code="own_proposal")
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = session.execute(
        insert(ProposalSupport)
        .values(proposal_id=proposal.id, resident_id=resident.id, created_at=now)
        .on_conflict_do_nothing(index_elements=["proposal_id", "resident_id"])
        .returning(ProposalSupport.id)
    ).scalar()
    if inserted is None:
        raise Conflict("您已经支持过这个提议了", code="already_supported")
    reaches = Proposal.support_count + 1 >= Proposal.supports_needed
    row = session.execute(
        update(Proposal)
        .where(Proposal.id == proposal.id)
        .values(
            support_count=Proposal.support_count + 1,
            status=case((reaches & (Proposal.status == "gathering"), "submitted"), else_=Proposal.status),
        )
        .returning(Proposal.support_count, Proposal.supports_needed, Proposal.status)
        .execution_options(synchronize_session=False)
    ).one()
    session.refresh(proposal)
    reached = row.status == "submitted" and row.support_count == row.supports_needed
    if reached and proposal.proposer_resident_id is not None:
        notify_resident(
            session,
            proposal.proposer_resident_id,
            f"您提议的微实事「{proposal.title}」已获得 {row.supports_needed} 位居民支持，进入社区审核。",
            key=f"proposal:{proposal.id}:supported",
            related=("proposal", proposal.id),
        )
    return Supported(support_count=row.support_count, supports_needed=row.supports_needed, reached=reached)


def has_supported(session: Session, proposal: Proposal, resident: Resident) -> bool:
    """True when the resident has supported the proposal."""
    found = session.scalar(
        select(ProposalSupport.id).where(
            ProposalSupport.proposal_id == proposal.id, ProposalSupport.resident_id == resident.id
        )
    )
    return found is not None


def gathering_for(session: Session, resident: Resident, *, now: datetime) -> list[Proposal]:
    """Proposals of the resident's building, estate and community gathering supports now (ending soonest first)."""
    stmt = (
        proposal_service.visible_to(session, resident)
        .where(Proposal.status == "gathering", Proposal.supports_until > now)
        .order_by(None)
        .order_by(Proposal.supports_until, Proposal.id)
    )
    return [p for p in session.scalars(stmt) if scopes.contains(session, proposal_service.scope_of(p), resident)]


def expire_due(session: Session, *, now: datetime) -> int:
    """Close the gathering of proposals whose period has ended without enough supports; how many expired."""
    done = session.execute(
        update(Proposal)
        .where(Proposal.status == "gathering", Proposal.supports_until <= now)
        .values(status="expired")
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(done.rowcount or 0)
