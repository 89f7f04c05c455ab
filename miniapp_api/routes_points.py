"""Volunteer points API (积分制管理): balance and ledger, task submission, grid-leader review, rankings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, field_validator
from sqlalchemy import select

from infra.http import ApiError
from infra.web import db_session
from miniapp_api.auth import current_principal, login_required, require_roles
from miniapp_api.blueprint import api_blueprint
from miniapp_api.idempotency import idempotent
from miniapp_api.pagination import Page, PageQuery, paginate
from miniapp_api.schemas import WRITE_ERRORS, DbId, ErrorBody, responses
from models.points import PointsLedger, TaskCategory, TaskSubmission
from models.resident import Resident
from services.errors import Forbidden, NotFound
from services.points import board as rankings
from services.points import ledger as svc

bp = api_blueprint("miniapp_points", __name__, "points", "积分制管理: points ledger, volunteer tasks, review, rankings")

POINTS_ERRORS = {**WRITE_ERRORS, 422: ErrorBody}


class SubmissionPath(BaseModel):
    """A task submission by id."""

    submission_id: DbId


class BalanceOut(BaseModel):
    """The caller's balance (cached, reconciled with the ledger nightly) and this season's rank."""

    balance: int
    season: str
    season_points: int
    season_rank: int | None


class LedgerItem(BaseModel):
    """One ledger row."""

    id: int
    delta: int
    kind: str
    source_type: str
    source_id: int | None
    reason: str
    period_key: str
    created_at: datetime


class CategoryOut(BaseModel):
    """A task category and its rules."""

    id: int
    code: str
    name: str
    description: str
    standard_points: int
    max_per_period: int
    cap_period: str
    second_review_above: int


class SubmissionCreate(BaseModel):
    """Work done: what, evidence photos (media ids or URLs from the upload), where and when."""

    category_id: DbId
    text: str = Field(min_length=1, max_length=2000)
    photos: list[str] = Field(min_length=1, max_length=svc.MAX_PHOTOS)
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    occurred_at: AwareDatetime | None = None

    @field_validator("photos")
    @classmethod
    def _photo_refs(cls, value: list[str]) -> list[str]:
        if any(not p.strip() or len(p) > 500 for p in value):
            raise ValueError("each photo must be a media id or URL of 1-500 characters")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        if value is not None and not 2000 <= value.year <= 2100:
            raise ValueError("must be between the years 2000 and 2100")
        return value


class SubmissionOut(BaseModel):
    """A submission and its review state."""

    id: int
    category_id: int
    text: str
    photos: list[str]
    lat: float
    lng: float
    occurred_at: datetime
    points: int
    status: str
    review_note: str
    first_reviewed_at: datetime | None
    second_reviewed_at: datetime | None


class ReviewBody(BaseModel):
    """Approve, or reject with a reason."""

    approve: bool
    note: str = Field("", max_length=300)


class RankingQuery(BaseModel):
    """Which board."""

    season: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    grid_id: DbId | None = Field(None, description="a grid of my community; omit for the community board")
    limit: int = Field(20, ge=1, le=100)


class RankOut(BaseModel):
    """A line of a board: masked name only."""

    rank: int
    name: str
    points: int
    grid_id: int | None
    me: bool


class BoardOut(BaseModel):
    """A monthly board."""

    season: str
    grid_id: int | None
    items: list[RankOut]


def _resident(session: Any) -> Resident:
    resident = session.get(Resident, current_principal().resident_id)
    if resident is None:  # pragma: no cover - the session names an existing resident
        raise ApiError(401, "unauthorized", "请重新登录")
    return resident


def _submission_out(s: TaskSubmission) -> dict[str, Any]:
    return SubmissionOut(
        id=s.id,
        category_id=s.category_id,
        text=s.text,
        photos=list(s.photos or []),
        lat=s.lat,
        lng=s.lng,
        occurred_at=s.occurred_at,
        points=s.points,
        status=s.status,
        review_note=s.review_note,
        first_reviewed_at=s.first_reviewed_at,
        second_reviewed_at=s.second_reviewed_at,
    ).model_dump(mode="json")


@bp.get("/points/balance", responses=responses(BalanceOut), summary="my balance and season rank")
@login_required
def balance() -> Any:
    """The caller's balance, and their points and rank in this month's community board."""
    session = db_session()
    resident = _resident(session)
    season = svc.season_key()
    mine = (
        rankings.my_rank(session, season, resident.id, community_id=resident.community_id)
        if resident.community_id is not None
        else None
    )
    return BalanceOut(
        balance=svc.balance_of(session, resident.id),
        season=season,
        season_points=mine.points if mine else 0,
        season_rank=mine.rank if mine else None,
    ).model_dump()


@bp.get("/points/ledger", responses=responses(Page[LedgerItem]), summary="my points history")
@login_required
def ledger(query: PageQuery) -> Any:
    """Every credit and debit of the caller, newest first."""
    session = db_session()
    stmt = (
        select(PointsLedger)
        .where(PointsLedger.resident_id == current_principal().resident_id)
        .order_by(PointsLedger.id.desc())
    )
    return paginate(
        session,
        stmt,
        query,
        lambda e: LedgerItem.model_validate(e, from_attributes=True).model_dump(mode="json"),
    )


@bp.get("/points/categories", responses=responses(Page[CategoryOut]), summary="task categories and their points")
@login_required
def categories(query: PageQuery) -> Any:
    """Active task categories with standard points and caps."""
    session = db_session()
    stmt = select(TaskCategory).where(TaskCategory.active.is_(True)).order_by(TaskCategory.id)
    return paginate(session, stmt, query, lambda c: CategoryOut.model_validate(c, from_attributes=True).model_dump())


@bp.post(
    "/points/submissions",
    responses=responses(SubmissionOut, status=201, errors=POINTS_ERRORS),
    summary="submit volunteer work (volunteers)",
)
@require_roles("volunteer")
@idempotent
def submit(body: SubmissionCreate) -> Any:
    """Report work with photos and location; points are credited after a grid leader approves it."""
    session = db_session()
    row = svc.submit_task(
        session,
        current_principal().resident_id,
        body.category_id,
        text=body.text,
        photos=body.photos,
        lat=body.lat,
        lng=body.lng,
        occurred_at=body.occurred_at,
    )
    out = _submission_out(row)
    session.commit()
    return out, 201


@bp.get("/points/submissions", responses=responses(Page[SubmissionOut]), summary="my submissions")
@login_required
def my_submissions(query: PageQuery) -> Any:
    """The caller's submissions, newest first."""
    session = db_session()
    stmt = (
        select(TaskSubmission)
        .where(TaskSubmission.resident_id == current_principal().resident_id)
        .order_by(TaskSubmission.id.desc())
    )
    return paginate(session, stmt, query, _submission_out)


@bp.get("/points/submissions/<int:submission_id>", responses=responses(SubmissionOut), summary="one submission")
@login_required
def get_submission(path: SubmissionPath) -> Any:
    """A submission: its author, or a staff member who may review it."""
    session = db_session()
    principal = current_principal()
    row = session.get(TaskSubmission, path.submission_id)
    if row is None:
        raise NotFound("任务提交不存在")
    if row.resident_id != principal.resident_id:
        visible = None
        if principal.staff_id is not None:
            try:
                visible = session.scalar(
                    svc.review_queue_stmt(session, principal.staff_id).where(TaskSubmission.id == row.id)
                )
            except Forbidden:
                visible = None  # not a reviewer: someone else's submission does not exist for them
        if visible is None:
            raise NotFound("任务提交不存在")
    return _submission_out(row)


@bp.get("/points/review-queue", responses=responses(Page[SubmissionOut]), summary="submissions to review (staff)")
@require_roles("staff")
def review_queue(query: PageQuery) -> Any:
    """Grid leaders: their grid's pending work; community staff: pending and second reviews."""
    session = db_session()
    staff_id = current_principal().staff_id
    if staff_id is None:  # pragma: no cover - the staff role implies a staff record
        raise Forbidden("需要工作人员身份")
    return paginate(session, svc.review_queue_stmt(session, staff_id), query, _submission_out)


@bp.post(
    "/points/submissions/<int:submission_id>/review",
    responses=responses(SubmissionOut, errors=POINTS_ERRORS),
    summary="approve or reject (grid leader / community staff)",
)
@require_roles("staff")
@idempotent
def review(path: SubmissionPath, body: ReviewBody) -> Any:
    """First or second review; the final approval credits the ledger (reviewer ≠ submitter, caps enforced)."""
    session = db_session()
    principal = current_principal()
    if principal.staff_id is None:  # pragma: no cover - the staff role implies a staff record
        raise Forbidden("需要工作人员身份")
    row = svc.review_task(
        session,
        path.submission_id,
        principal.staff_id,
        approve=body.approve,
        note=body.note,
        reviewer_resident_id=principal.resident_id,
    )
    out = _submission_out(row)
    session.commit()
    return out


@bp.get("/points/rankings", responses=responses(BoardOut), summary="monthly ranking (community or grid)")
@login_required
def ranking(query: RankingQuery) -> Any:
    """This community's (or one of its grids') board for a season; names are masked."""
    session = db_session()
    resident = _resident(session)
    if resident.community_id is None:
        raise NotFound("请先绑定所在社区")
    rows = rankings.board(
        session, query.season, community_id=resident.community_id, grid_id=query.grid_id, limit=query.limit
    )
    return BoardOut(
        season=query.season,
        grid_id=query.grid_id,
        items=[
            RankOut(rank=r.rank, name=r.name, points=r.points, grid_id=r.grid_id, me=r.resident_id == resident.id)
            for r in rows
        ],
    ).model_dump()
