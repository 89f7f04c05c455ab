"""Staff API for residents' participation under /console/api/participation: screening proposals, ballots and
their results, the yearly budget, funded projects' progress, councils and the 四议两公开 procedure.

Same bearer auth as the appeals API (console.auth); every object is loaded within the caller's community
(another community's object is a 404) and the services check the organiser roles.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from console.auth import STAFF_BEARER, current_staff
from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from miniapp_api.schemas import DbId
from miniapp_api.schemas import ErrorBody as ErrorOut
from models.council import Council
from models.micro_project import Proposal
from services.participation import ballots, councils, procedure, projects, proposals, supports, tally

bp = APIBlueprint(
    "console_participation",
    __name__,
    url_prefix="/console/api/participation",
    abp_tags=[Tag(name="console participation", description="微实事 proposals, ballots, projects, 议事会")],
    abp_security=STAFF_BEARER,
)

PublicId = Field(min_length=8, max_length=32, pattern=r"^[0-9a-f]+$")


ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class Body(BaseModel):
    """A JSON object (see the operation's description for its fields)."""

    model_config = {"extra": "allow"}


class ProposalPath(BaseModel):
    """A proposal by public id."""

    proposal_id: str = PublicId


class BallotPath(BaseModel):
    """A ballot by public id."""

    ballot_id: str = PublicId


class ProjectPath(BaseModel):
    """A funded project by public id."""

    project_id: str = PublicId


class CouncilPath(BaseModel):
    """A council by public id."""

    council_id: str = PublicId


class MeetingPath(BaseModel):
    """A council meeting by id."""

    meeting_id: DbId


class ItemPath(BaseModel):
    """A council item by public id."""

    item_id: str = PublicId


class YearPath(BaseModel):
    """A budget year."""

    year: int = Field(ge=2000, le=2100)


class ProposalQuery(BaseModel):
    """Filter proposals by state."""

    status: (
        Literal[
            "gathering", "expired", "submitted", "feasible", "merged", "declined", "on_ballot", "funded", "not_funded"
        ]
        | None
    ) = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class ScreenBody(BaseModel):
    """Screening: feasible, merged into another proposal, or declined with a reason."""

    decision: Literal["feasible", "merged", "declined"]
    reason: str | None = Field(default=None, max_length=500)
    merged_into: str | None = Field(default=None, min_length=8, max_length=32, pattern=r"^[0-9a-f]+$")


class BallotCreate(BaseModel):
    """A ballot on feasible proposals of its scope."""

    title: str = Field(min_length=1, max_length=100)
    scope: Literal["building", "estate", "community"]
    estate_id: DbId | None = None
    building_id: DbId | None = None
    proposals: list[str] = Field(min_length=1, max_length=50, description="public ids of feasible proposals")
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    rule: Literal["household", "resident"] = Field(description="one ballot per bound room, or per resident")
    max_choices: int = Field(default=1, ge=1, le=50)


class ThresholdBody(BaseModel):
    """How many supports of residents of its scope a new proposal needs, within how many days (0: none)."""

    supports_needed: int = Field(ge=0, le=100_000)
    window_days: int = Field(ge=1, le=365)


class BudgetBody(BaseModel):
    """The community's micro-project budget for the year."""

    cap_yuan: int = Field(ge=1, le=10_000_000_000)


class FundBody(BaseModel):
    """Fund a proposal from a year's budget."""

    budget_yuan: int = Field(ge=1, le=10_000_000_000)
    year: int = Field(ge=2000, le=2100)


class ProgressBody(BaseModel):
    """A progress report on a funded project."""

    note: str = Field(min_length=1, max_length=2000)
    progress_percent: int = Field(ge=0, le=100)
    spent_yuan: int = Field(default=0, ge=0, le=10_000_000_000)
    photos: list[str] = Field(default_factory=list, max_length=9)


class CouncilCreate(BaseModel):
    """A council for my community or one of its estates."""

    name: str = Field(min_length=1, max_length=100)
    estate_id: DbId | None = None


class MemberCreate(BaseModel):
    """A council member."""

    name: str = Field(min_length=1, max_length=50)
    kind: Literal["party_member", "resident_rep", "property_company", "owners_committee", "staff", "co_building_unit"]
    organisation: str = Field(default="", max_length=100)


class MeetingCreate(BaseModel):
    """A council meeting with its agenda."""

    title: str = Field(min_length=1, max_length=100)
    held_at: AwareDatetime
    agenda: list[str] = Field(default_factory=list, max_length=50)
    location: str = Field(default="", max_length=100)


class MeetingRecord(BaseModel):
    """Attendance (members present) and minutes."""

    present_member_ids: list[DbId] = Field(default_factory=list, max_length=500)
    minutes: str | None = Field(default=None, max_length=20000)


class ItemCreate(BaseModel):
    """A matter before the council, optionally from an appeal or a proposal (public id)."""

    title: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=5000)
    source_type: Literal["appeal", "proposal", "need", "staff"] = "staff"
    source_id: str | None = Field(
        default=None, min_length=1, max_length=32, description="an appeal's or proposal's public id, a need's number"
    )
    major: bool = Field(default=True, description="a major matter goes through 四议两公开")
    meeting_id: DbId | None = None


class StepBody(BaseModel):
    """One of the four deliberations, in order."""

    step: Literal["party_proposal", "committees_consult", "party_review", "representatives_resolve"]
    held_on: date
    outcome: Literal["approved", "rejected"]
    note: str = Field(default="", max_length=5000)


class NewProposal(BaseModel):
    """A micro-project proposal created by the decision."""

    title: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=5000)
    rough_cost_yuan: int = Field(default=0, ge=0, le=100_000_000)


class NewNeed(BaseModel):
    """A co-building need (需求清单) the decision asks the member units for."""

    title: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=5000)
    beneficiaries: int = Field(default=0, ge=0, le=1_000_000)
    wanted_by: date | None = None


class PublishBody(BaseModel):
    """决议公开 or 实施结果公开: a notice pushed to residents in scope."""

    step: Literal["publish_resolution", "publish_result"]
    held_on: date
    text: str = Field(min_length=1, max_length=5000)
    proposal: NewProposal | None = Field(default=None, description="with the resolution: create this proposal")
    need: NewNeed | None = Field(default=None, description="with the resolution: post this co-building need")


class DecideBody(BaseModel):
    """The decision on an ordinary (not major) item."""

    decision: str = Field(min_length=1, max_length=5000)
    create: Literal["proposal", "notice", "need"] | None = None
    proposal: NewProposal | None = None
    need: NewNeed | None = None


def _proposal(session: Session, p: Proposal) -> dict[str, Any]:
    target = session.get(Proposal, p.merged_into_id) if p.merged_into_id else None
    return proposals.view(p, merged_into_public_id=target.public_id if target else None)


def _done(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    commit_and_enqueue(session)  # the publications' pushes reach RQ after the commit
    return body


# ---------------------------------------------------------------- proposals and ballots


@bp.get("/proposals", responses={200: Body, **ERRORS})
def list_proposals(query: ProposalQuery) -> dict[str, Any]:
    """Proposals of my community, oldest first (screen them in order)."""
    staff, session = current_staff(), db_session()
    rows = session.scalars(proposals.for_staff(session, staff, query.status).limit(query.limit).offset(query.offset))
    body = {"items": [_proposal(session, p) for p in rows]}
    session.commit()
    return Body.model_validate(body).model_dump(mode="json")


@bp.put("/support-threshold", responses={200: Body, **ERRORS})
def set_support_threshold(body: ThresholdBody) -> dict[str, Any]:
    """Set my community's support threshold for new proposals (N supports within a period before screening)."""
    staff, session = current_staff(), db_session()
    rule = supports.set_threshold(session, staff, supports_needed=body.supports_needed, window_days=body.window_days)
    return _done(session, {"supports_needed": rule.supports_needed, "window_days": rule.window_days})


@bp.post("/proposals/<proposal_id>/screen", responses={200: Body, **ERRORS})
def screen_proposal(path: ProposalPath, body: ScreenBody) -> dict[str, Any]:
    """Feasible / merged (into `merged_into`) / declined (with `reason`)."""
    staff, session = current_staff(), db_session()
    proposal = proposals.get_for_staff(session, staff, path.proposal_id, for_update=True)
    target = proposals.get_for_staff(session, staff, body.merged_into) if body.merged_into else None
    proposals.screen(session, staff, proposal, body.decision, reason=body.reason, merged_into=target)
    return _done(session, _proposal(session, proposal))


@bp.post("/ballots", responses={201: Body, **ERRORS})
def create_ballot(body: BallotCreate) -> tuple[dict[str, Any], int]:
    """Open a ballot: its projects, scope, window, rule and how many choices a ballot holds."""
    staff, session = current_staff(), db_session()
    ballot = ballots.open_ballot(
        session,
        staff,
        title=body.title,
        scope=body.scope,
        estate_id=body.estate_id,
        building_id=body.building_id,
        proposal_ids=body.proposals,
        opens_at=body.opens_at,
        closes_at=body.closes_at,
        rule=body.rule,
        max_choices=body.max_choices,
    )
    out = ballots.view(session, ballot, now=clock.now())
    return Body.model_validate(_done(session, out)).model_dump(mode="json"), 201


@bp.get("/ballots/<ballot_id>", responses={200: Body, **ERRORS})
def get_ballot(path: BallotPath) -> dict[str, Any]:
    """A ballot of my community (no counts before the close)."""
    staff, session = current_staff(), db_session()
    body = ballots.view(session, ballots.get_for_staff(session, staff, path.ballot_id), now=clock.now())
    session.commit()
    return Body.model_validate(body).model_dump(mode="json")


@bp.get("/ballots/<ballot_id>/results", responses={200: Body, **ERRORS})
def ballot_results(path: BallotPath) -> dict[str, Any]:
    """Published results and a recount of the stored papers (409 results_not_published before the close)."""
    staff, session = current_staff(), db_session()
    ballot = ballots.get_for_staff(session, staff, path.ballot_id)
    body = tally.results(session, ballot, now=clock.now())
    again = tally.recount(session, ballot)
    body["recount_matches"] = again.matches
    session.commit()
    return Body.model_validate(body).model_dump(mode="json")


# ---------------------------------------------------------------- budget and projects


@bp.put("/budgets/<int:year>", responses={200: Body, **ERRORS})
def set_budget(path: YearPath, body: BudgetBody) -> dict[str, Any]:
    """Set my community's micro-project budget cap for the year."""
    staff, session = current_staff(), db_session()
    budget = projects.set_budget(session, staff, year=path.year, cap_yuan=body.cap_yuan)
    out = {"year": budget.year, "cap_yuan": budget.cap_yuan, "committed_yuan": budget.committed_yuan}
    return _done(session, out)


@bp.post("/proposals/<proposal_id>/fund", responses={201: Body, **ERRORS})
def fund_proposal(path: ProposalPath, body: FundBody) -> tuple[dict[str, Any], int]:
    """Fund a proposal from the year's budget (409 budget_exceeded beyond the cap)."""
    staff, session = current_staff(), db_session()
    proposal = proposals.get_for_staff(session, staff, path.proposal_id, for_update=True)
    project = projects.fund(session, staff, proposal, budget_yuan=body.budget_yuan, year=body.year)
    return Body.model_validate(_done(session, projects.view(session, project))).model_dump(mode="json"), 201


@bp.post("/projects/<project_id>/progress", responses={200: Body, **ERRORS})
def report_progress(path: ProjectPath, body: ProgressBody) -> dict[str, Any]:
    """A progress report with photos; 100 % completes the project."""
    staff, session = current_staff(), db_session()
    project = projects.get_for_staff(session, staff, path.project_id)
    projects.report_progress(
        session,
        staff,
        project,
        note=body.note,
        progress_percent=body.progress_percent,
        spent_yuan=body.spent_yuan,
        photos=body.photos,
    )
    out = projects.view(session, project, with_updates=True)
    return Body.model_validate(_done(session, out)).model_dump(mode="json")


# ---------------------------------------------------------------- councils and 四议两公开


@bp.post("/councils", responses={201: Body, **ERRORS})
def create_council(body: CouncilCreate) -> tuple[dict[str, Any], int]:
    """A council for my community or one of its estates."""
    staff, session = current_staff(), db_session()
    council = councils.create_council(session, staff, name=body.name, estate_id=body.estate_id)
    return Body.model_validate(_done(session, councils.view(session, council))).model_dump(mode="json"), 201


@bp.get("/councils/<council_id>", responses={200: Body, **ERRORS})
def get_council(path: CouncilPath) -> dict[str, Any]:
    """A council with members, meetings (agenda, attendance, minutes) and items."""
    staff, session = current_staff(), db_session()
    body = councils.view(session, councils.get_for_staff(session, staff, path.council_id))
    session.commit()
    return Body.model_validate(body).model_dump(mode="json")


@bp.post("/councils/<council_id>/members", responses={200: Body, **ERRORS})
def add_member(path: CouncilPath, body: MemberCreate) -> dict[str, Any]:
    """Seat a member."""
    staff, session = current_staff(), db_session()
    council = councils.get_for_staff(session, staff, path.council_id)
    councils.add_member(session, staff, council, name=body.name, kind=body.kind, organisation=body.organisation)
    return Body.model_validate(_done(session, councils.view(session, council))).model_dump(mode="json")


@bp.post("/councils/<council_id>/meetings", responses={200: Body, **ERRORS})
def schedule_meeting(path: CouncilPath, body: MeetingCreate) -> dict[str, Any]:
    """Call a meeting with its agenda."""
    staff, session = current_staff(), db_session()
    council = councils.get_for_staff(session, staff, path.council_id)
    councils.schedule_meeting(
        session, staff, council, title=body.title, held_at=body.held_at, agenda=body.agenda, location=body.location
    )
    return Body.model_validate(_done(session, councils.view(session, council))).model_dump(mode="json")


@bp.post("/meetings/<int:meeting_id>/record", responses={200: Body, **ERRORS})
def record_meeting(path: MeetingPath, body: MeetingRecord) -> dict[str, Any]:
    """Attendance and minutes of a meeting."""
    staff, session = current_staff(), db_session()
    meeting = councils.get_meeting(session, staff, path.meeting_id)
    councils.record_meeting(session, staff, meeting, present_member_ids=body.present_member_ids, minutes=body.minutes)
    council = session.get(Council, meeting.council_id)
    assert council is not None  # foreign key
    return Body.model_validate(_done(session, councils.view(session, council))).model_dump(mode="json")


@bp.post("/councils/<council_id>/items", responses={201: Body, **ERRORS})
def add_item(path: CouncilPath, body: ItemCreate) -> tuple[dict[str, Any], int]:
    """Put a matter before the council (from an appeal, a proposal, a need, or staff)."""
    staff, session = current_staff(), db_session()
    council = councils.get_for_staff(session, staff, path.council_id)
    meeting = councils.get_meeting(session, staff, body.meeting_id) if body.meeting_id else None
    item = councils.add_item(
        session,
        staff,
        council,
        title=body.title,
        description=body.description,
        source_type=body.source_type,
        source_id=body.source_id,
        major=body.major,
        meeting=meeting,
    )
    return Body.model_validate(_done(session, procedure.view(session, item))).model_dump(mode="json"), 201


@bp.get("/items/<item_id>", responses={200: Body, **ERRORS})
def get_item(path: ItemPath) -> dict[str, Any]:
    """An item with its procedure: steps recorded, the next step, what the decision created."""
    staff, session = current_staff(), db_session()
    body = procedure.view(session, councils.get_item(session, staff, path.item_id))
    session.commit()
    return Body.model_validate(body).model_dump(mode="json")


@bp.post("/items/<item_id>/steps", responses={200: Body, **ERRORS})
def record_step(path: ItemPath, body: StepBody) -> dict[str, Any]:
    """Record the next deliberation (409 step_out_of_order otherwise)."""
    staff, session = current_staff(), db_session()
    item = councils.get_item(session, staff, path.item_id, for_update=True)
    procedure.deliberate(session, staff, item, body.step, held_on=body.held_on, outcome=body.outcome, note=body.note)
    return Body.model_validate(_done(session, procedure.view(session, item))).model_dump(mode="json")


@bp.post("/items/<item_id>/publish", responses={200: Body, **ERRORS})
def publish_step(path: ItemPath, body: PublishBody) -> dict[str, Any]:
    """决议公开 / 实施结果公开: a notice pushed to the residents in scope."""
    staff, session = current_staff(), db_session()
    item = councils.get_item(session, staff, path.item_id, for_update=True)
    procedure.publish(
        session,
        staff,
        item,
        body.step,
        held_on=body.held_on,
        text=body.text,
        proposal=body.proposal.model_dump() if body.proposal else None,
        need=body.need.model_dump() if body.need else None,
    )
    return Body.model_validate(_done(session, procedure.view(session, item))).model_dump(mode="json")


@bp.post("/items/<item_id>/decide", responses={200: Body, **ERRORS})
def decide_item(path: ItemPath, body: DecideBody) -> dict[str, Any]:
    """Decide an ordinary item; the decision may create a proposal, a notice or a co-building need."""
    staff, session = current_staff(), db_session()
    item = councils.get_item(session, staff, path.item_id, for_update=True)
    procedure.decide(
        session,
        staff,
        item,
        decision=body.decision,
        create=body.create,
        proposal=body.proposal.model_dump() if body.proposal else None,
        need=body.need.model_dump() if body.need else None,
    )
    return Body.model_validate(_done(session, procedure.view(session, item))).model_dump(mode="json")
