"""Funded micro-projects: the yearly budget cap per community, funding, progress reports to completion.

The cap holds in the database: `community_budget` has CHECK(committed_yuan <= cap_yuan), and funding commits
money with one conditional UPDATE … WHERE committed_yuan + :amount <= cap_yuan, so two staff members funding
at once can never overspend (on PostgreSQL the second UPDATE waits for the first row lock and re-checks).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from infra import clock
from models.ballot import Ballot, BallotOption
from models.micro_project import CommunityBudget, MicroProject, ProjectUpdate, Proposal
from models.resident import Resident
from models.staff import Staff
from services.errors import Conflict, DomainError, NotFound
from services.participation import proposals as proposal_service
from services.participation import scope as scopes


def set_budget(session: Session, staff: Staff, *, year: int, cap_yuan: int) -> CommunityBudget:
    """Set the community's micro-project budget for a year (never below what is already committed)."""
    community_id = scopes.check_organiser(staff)
    if cap_yuan <= 0:
        raise DomainError("年度预算必须大于 0", code="invalid_cap")
    budget = session.scalar(
        select(CommunityBudget)
        .where(CommunityBudget.community_id == community_id, CommunityBudget.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)  # funding moves committed_yuan by a plain UPDATE
    )
    if budget is None:
        budget = CommunityBudget(community_id=community_id, year=year, cap_yuan=cap_yuan, committed_yuan=0)
        session.add(budget)
    else:
        if cap_yuan < budget.committed_yuan:
            raise Conflict(f"已立项 {budget.committed_yuan} 元，预算不能低于此数", code="cap_below_committed")
        budget.cap_yuan = cap_yuan
    session.flush()
    return budget


def _ballot_published(session: Session, proposal: Proposal) -> bool:
    published = session.scalar(
        select(Ballot.published_at)
        .join(BallotOption, BallotOption.ballot_id == Ballot.id)
        .where(BallotOption.proposal_id == proposal.id)
        .order_by(Ballot.id.desc())
        .limit(1)
    )
    return published is not None


def fund(session: Session, staff: Staff, proposal: Proposal, *, budget_yuan: int, year: int) -> MicroProject:
    """Fund a proposal (feasible, or on a ballot whose results are out) within the year's budget cap."""
    community_id = scopes.check_organiser(staff, proposal.community_id)
    if budget_yuan <= 0:
        raise DomainError("立项金额必须大于 0", code="invalid_budget")
    if proposal.status == "on_ballot" and not _ballot_published(session, proposal):
        raise Conflict("投票结果公布后才能立项", code="ballot_not_published")
    if proposal.status not in ("feasible", "on_ballot"):
        raise Conflict("只有可行或已投票的提议能立项", code="proposal_not_fundable")
    committed = session.execute(
        update(CommunityBudget)
        .where(
            CommunityBudget.community_id == community_id,
            CommunityBudget.year == year,
            CommunityBudget.committed_yuan + budget_yuan <= CommunityBudget.cap_yuan,
        )
        .values(committed_yuan=CommunityBudget.committed_yuan + budget_yuan, updated_at=clock.now())
        .returning(CommunityBudget.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if committed is None:
        budget = session.scalar(
            select(CommunityBudget)
            .where(CommunityBudget.community_id == community_id, CommunityBudget.year == year)
            .execution_options(populate_existing=True)
        )
        if budget is None:
            raise Conflict(f"{year} 年还没有设定微实事预算", code="no_budget")
        raise Conflict(
            f"超出 {year} 年预算：上限 {budget.cap_yuan} 元，已立项 {budget.committed_yuan} 元",
            code="budget_exceeded",
        )
    project = MicroProject(
        proposal_id=proposal.id,
        community_id=community_id,
        year=year,
        budget_yuan=budget_yuan,
        funded_by_staff_id=staff.id,
        status="funded",
    )
    proposal.status = "funded"
    session.add(project)
    session.flush()
    return project


def report_progress(
    session: Session,
    staff: Staff,
    project: MicroProject,
    *,
    note: str,
    progress_percent: int,
    spent_yuan: int = 0,
    photos: list[str] | None = None,
) -> ProjectUpdate:
    """Record progress (note, photos, percent, money spent so far); 100 % completes the project."""
    scopes.check_organiser(staff, project.community_id)
    if project.status == "completed":
        raise Conflict("项目已经完工", code="project_completed")
    if not 0 <= progress_percent <= 100:
        raise DomainError("进度须在 0 到 100 之间", code="invalid_progress")
    if progress_percent < project.progress_percent:
        raise Conflict("进度不能倒退", code="progress_backwards")
    if spent_yuan < 0:
        raise DomainError("支出不能为负数", code="invalid_spent")
    if not note.strip():
        raise DomainError("请写明进展", code="invalid_note")
    now = clock.now()
    entry = ProjectUpdate(
        project_id=project.id,
        staff_id=staff.id,
        note=note.strip(),
        photos=list(photos or []),
        progress_percent=progress_percent,
        spent_yuan=spent_yuan,
        created_at=now,
    )
    project.progress_percent = progress_percent
    project.spent_yuan = spent_yuan
    project.status = "completed" if progress_percent == 100 else "in_progress"
    if progress_percent == 100:
        project.completed_at = now
    session.add(entry)
    session.flush()
    return entry


def get_for_staff(session: Session, staff: Staff, public_id: str) -> MicroProject:
    """A project of the staff member's community (404 otherwise)."""
    project = session.scalar(
        select(MicroProject).where(MicroProject.public_id == public_id, MicroProject.community_id == staff.community_id)
    )
    if project is None:
        raise NotFound("您的社区里没有这个项目")
    return project


def budget_of(session: Session, staff: Staff, year: int) -> CommunityBudget | None:
    """The staff member's community budget for a year (None when not set)."""
    return session.scalar(
        select(CommunityBudget)
        .where(CommunityBudget.community_id == staff.community_id, CommunityBudget.year == year)
        .execution_options(populate_existing=True)
    )


def for_staff(staff: Staff) -> Select[tuple[MicroProject]]:
    """Funded projects of the staff member's community, newest first."""
    return select(MicroProject).where(MicroProject.community_id == staff.community_id).order_by(MicroProject.id.desc())


def fundable(staff: Staff) -> Select[tuple[Proposal]]:
    """Proposals that may be funded now: feasible, or on a ballot whose results are published (oldest first)."""
    published = (
        select(BallotOption.proposal_id)
        .join(Ballot, Ballot.id == BallotOption.ballot_id)
        .where(Ballot.published_at.is_not(None))
    )
    return (
        select(Proposal)
        .where(
            Proposal.community_id == staff.community_id,
            (Proposal.status == "feasible") | ((Proposal.status == "on_ballot") & Proposal.id.in_(published)),
        )
        .order_by(Proposal.id)
    )


def visible_to(session: Session, resident: Resident) -> Select[tuple[MicroProject]]:
    """Funded projects of the resident's building, estate and community, newest first."""
    ids = proposal_service.visible_to(session, resident).with_only_columns(Proposal.id).order_by(None)
    return select(MicroProject).where(MicroProject.proposal_id.in_(ids)).order_by(MicroProject.id.desc())


def get_for_resident(session: Session, resident: Resident, public_id: str) -> MicroProject:
    """A project the resident may follow (404 otherwise)."""
    project = session.scalar(visible_to(session, resident).where(MicroProject.public_id == public_id))
    if project is None:
        raise NotFound("没有这个项目")
    return project


def view(session: Session, project: MicroProject, *, with_updates: bool = False) -> dict[str, Any]:
    """A project as the APIs show it, optionally with its progress reports (oldest first)."""
    proposal = session.get(Proposal, project.proposal_id)
    assert proposal is not None
    body: dict[str, Any] = {
        "id": project.public_id,
        "proposal": proposal.public_id,
        "title": proposal.title,
        "scope": proposal.scope,
        "year": project.year,
        "budget_yuan": project.budget_yuan,
        "spent_yuan": project.spent_yuan,
        "status": project.status,
        "progress_percent": project.progress_percent,
        "completed_at": project.completed_at,
    }
    if with_updates:
        updates = session.scalars(
            select(ProjectUpdate).where(ProjectUpdate.project_id == project.id).order_by(ProjectUpdate.id)
        )
        body["updates"] = [
            {
                "note": u.note,
                "photos": list(u.photos or []),
                "progress_percent": u.progress_percent,
                "spent_yuan": u.spent_yuan,
                "at": u.created_at,
            }
            for u in updates
        ]
    return body
