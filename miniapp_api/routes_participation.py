"""Residents decide, in the mini-program: propose micro-projects, see and vote on ballots, follow results and
the funded projects of their building, estate and community."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from infra import clock
from infra.http import ApiError
from infra.web import db_session
from miniapp_api.auth import current_principal, login_required
from miniapp_api.blueprint import api_blueprint
from miniapp_api.idempotency import idempotent
from miniapp_api.pagination import Page, PageQuery, paginate
from miniapp_api.schemas import WRITE_ERRORS, Ok, responses
from models.micro_project import Proposal
from models.resident import Resident
from services.participation import ballots, projects, proposals, supports, tally

bp = api_blueprint(
    "miniapp_participation", __name__, "participation", "和谐微实事: proposals, ballots, results, funded projects"
)

PublicId = Field(min_length=8, max_length=32, pattern=r"^[0-9a-f]+$")


class ProposalCreate(BaseModel):
    """A micro-project idea for my building, estate or community."""

    title: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=5000)
    scope: Literal["building", "estate", "community"] = "building"
    photos: list[str] = Field(default_factory=list, max_length=9, description="uploaded image URLs, at most 9")
    rough_cost_yuan: int = Field(0, ge=0, le=100_000_000, description="rough cost in yuan")


class ProposalOut(BaseModel):
    """A proposal (the proposer is never shown)."""

    id: str
    title: str
    description: str
    scope: str
    estate_id: int | None
    building_id: int | None
    photos: list[str]
    rough_cost_yuan: int
    source: str
    status: str = Field(
        description="gathering (collecting supports) | expired | submitted | feasible | merged | declined | on_ballot"
        " | funded"
    )
    screening_reason: str | None
    merged_into: str | None
    created_at: datetime
    supports_needed: int = Field(description="supports from residents of the scope it needs (0: none)")
    support_count: int
    supports_until: datetime | None = Field(description="end of the period for gathering supports")


class ProposalPath(BaseModel):
    """A proposal by public id."""

    proposal_id: str = PublicId


class SupportOut(BaseModel):
    """My support counted: the proposal's supports now, how many it needs, whether it went to screening."""

    support_count: int
    supports_needed: int
    reached: bool


class BallotPath(BaseModel):
    """A ballot by public id."""

    ballot_id: str = PublicId


class ProjectPath(BaseModel):
    """A funded project by public id."""

    project_id: str = PublicId


class OptionOut(BaseModel):
    """A project on a ballot."""

    id: str
    title: str
    description: str
    rough_cost_yuan: int


class BallotOut(BaseModel):
    """A ballot: window, rule, options, and whether my household (or I) has voted."""

    id: str
    title: str
    scope: str
    estate_id: int | None
    building_id: int | None
    rule: str = Field(description="household: one ballot per bound room | resident: one per person")
    max_choices: int
    opens_at: datetime
    closes_at: datetime
    status: str = Field(description="upcoming | open | closed")
    published: bool
    options: list[OptionOut]
    voted: bool


class VoteBody(BaseModel):
    """My choices: 1 … max_choices distinct project ids of the ballot."""

    choices: list[str] = Field(min_length=1, max_length=50)


class ResultOption(BaseModel):
    """A project's count."""

    id: str
    title: str
    votes: int
    rank: int


class ResultsOut(BaseModel):
    """Published results: counts, voters, eligible households or residents, turnout."""

    ballot: str
    rule: str
    published_at: datetime
    voters: int
    eligible: int
    turnout: float
    options: list[ResultOption]


class UpdateOut(BaseModel):
    """A progress report."""

    note: str
    photos: list[str]
    progress_percent: int
    spent_yuan: int
    at: datetime


class ProjectOut(BaseModel):
    """A funded project."""

    id: str
    proposal: str
    title: str
    scope: str
    year: int
    budget_yuan: int
    spent_yuan: int
    status: str = Field(description="funded | in_progress | completed")
    progress_percent: int
    completed_at: datetime | None


class ProjectDetail(ProjectOut):
    """A funded project with its progress reports."""

    updates: list[UpdateOut]


def _resident() -> Resident:
    resident = db_session().get(Resident, current_principal().resident_id)
    if resident is None:  # pragma: no cover - the session names an existing resident
        raise ApiError(401, "unauthorized", "请重新登录")
    return resident


def _proposal_out(p: Proposal) -> dict[str, Any]:
    session = db_session()
    target = session.get(Proposal, p.merged_into_id) if p.merged_into_id else None
    return proposals.view(p, merged_into_public_id=target.public_id if target else None)


def _ballot_out(ballot: Any, resident: Resident) -> dict[str, Any]:
    session = db_session()
    body = ballots.view(session, ballot, now=clock.now())
    body["voted"] = ballots.has_voted(session, ballot, resident)
    return BallotOut.model_validate(body).model_dump(mode="json")


@bp.post(
    "/participation/proposals",
    responses=responses(ProposalOut, status=201, errors=WRITE_ERRORS),
    summary="propose a micro-project",
)
@login_required
@idempotent
def create_proposal(body: ProposalCreate) -> Any:
    """Propose a project for my building, estate or community (I must be bound to a building)."""
    session = db_session()
    proposal = proposals.propose(
        session,
        _resident(),
        title=body.title,
        description=body.description,
        scope=body.scope,
        photos=body.photos,
        rough_cost_yuan=body.rough_cost_yuan,
        source="miniapp",
    )
    out = ProposalOut.model_validate(_proposal_out(proposal)).model_dump(mode="json")
    session.commit()
    return out, 201


@bp.get("/participation/proposals", responses=responses(Page[ProposalOut]), summary="proposals where I live")
@login_required
def list_proposals(query: PageQuery) -> Any:
    """Proposals of my building, estate and community, and my own, newest first."""
    session = db_session()
    stmt = proposals.visible_to(session, _resident())
    page = paginate(
        session, stmt, query, lambda p: ProposalOut.model_validate(_proposal_out(p)).model_dump(mode="json")
    )
    session.commit()
    return page


@bp.post(
    "/participation/proposals/<proposal_id>/support",
    responses=responses(SupportOut, status=201, errors=WRITE_ERRORS),
    summary="support a proposal gathering supports (once per resident)",
)
@login_required
@idempotent
def support_proposal(path: ProposalPath) -> Any:
    """Support a proposal of my scope while it gathers supports; a second support is 409 already_supported."""
    session = db_session()
    resident = _resident()
    proposal = proposals.get_for_resident(session, resident, path.proposal_id)
    counted = supports.support(session, proposal, resident, now=clock.now())
    out = SupportOut(
        support_count=counted.support_count, supports_needed=counted.supports_needed, reached=counted.reached
    ).model_dump(mode="json")
    session.commit()
    return out, 201


@bp.get("/participation/ballots", responses=responses(Page[BallotOut]), summary="ballots where I live")
@login_required
def list_ballots(query: PageQuery) -> Any:
    """Ballots of my building, estate and community (newest first), with a voted flag."""
    session = db_session()
    resident = _resident()
    rows = ballots.visible_to(session, resident)
    items = [_ballot_out(b, resident) for b in rows[query.offset : query.offset + query.page_size]]
    session.commit()
    return {"items": items, "page": query.page, "page_size": query.page_size, "total": len(rows)}


@bp.get("/participation/ballots/<ballot_id>", responses=responses(BallotOut), summary="one ballot")
@login_required
def get_ballot(path: BallotPath) -> Any:
    """A ballot of my scope with its projects."""
    session = db_session()
    resident = _resident()
    body = _ballot_out(ballots.get_for_resident(session, path.ballot_id, resident), resident)
    session.commit()
    return body


@bp.post(
    "/participation/ballots/<ballot_id>/vote",
    responses=responses(Ok, status=201, errors=WRITE_ERRORS),
    summary="vote (once per household or per resident, as the ballot says)",
)
@login_required
@idempotent
def vote(path: BallotPath, body: VoteBody) -> Any:
    """Cast my ballot; a second ballot from my household (or from me) is 409 already_voted."""
    session = db_session()
    resident = _resident()
    ballot = ballots.get_for_resident(session, path.ballot_id, resident)
    ballots.cast(session, ballot, resident, body.choices, now=clock.now())
    session.commit()
    return Ok().model_dump(), 201


@bp.get(
    "/participation/ballots/<ballot_id>/results",
    responses=responses(ResultsOut, errors={**WRITE_ERRORS}),
    summary="results (after the close only)",
)
@login_required
def ballot_results(path: BallotPath) -> Any:
    """Counts and turnout, once the ballot has closed (409 results_not_published before)."""
    session = db_session()
    ballot = ballots.get_for_resident(session, path.ballot_id, _resident())
    body = ResultsOut.model_validate(tally.results(session, ballot, now=clock.now())).model_dump(mode="json")
    session.commit()
    return body


@bp.get("/participation/projects", responses=responses(Page[ProjectOut]), summary="funded projects where I live")
@login_required
def list_projects(query: PageQuery) -> Any:
    """Funded projects of my building, estate and community, with progress."""
    session = db_session()
    stmt = projects.visible_to(session, _resident())
    page = paginate(
        session, stmt, query, lambda p: ProjectOut.model_validate(projects.view(session, p)).model_dump(mode="json")
    )
    session.commit()
    return page


@bp.get("/participation/projects/<project_id>", responses=responses(ProjectDetail), summary="a project's progress")
@login_required
def get_project(path: ProjectPath) -> Any:
    """A funded project with its progress reports and photos."""
    session = db_session()
    project = projects.get_for_resident(session, _resident(), path.project_id)
    body = ProjectDetail.model_validate(projects.view(session, project, with_updates=True)).model_dump(mode="json")
    session.commit()
    return body
