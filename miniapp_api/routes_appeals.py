"""Residents' own appeals: submit from the form, list, detail with timeline, rate, chase, reopen, withdraw.

The same domain code as the chat; where the chat asks "which appeal is this about?", the form says `about`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import current_app
from pydantic import BaseModel, Field
from sqlalchemy import select

from infra.http import ApiError
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from miniapp_api.auth import current_principal, login_required
from miniapp_api.blueprint import api_blueprint
from miniapp_api.idempotency import idempotent
from miniapp_api.pagination import Page, PageQuery, paginate
from miniapp_api.schemas import WRITE_ERRORS, DbId, responses
from models.appeal import APPEAL_STATES, RATINGS, Appeal
from models.org import Building
from models.resident import Resident
from services.errors import NotFound

bp = api_blueprint("miniapp_appeals", __name__, "appeals", "my appeals (民意诉求): submit, follow, rate, chase")


class AppealPath(BaseModel):
    """An appeal by its public id."""

    appeal_id: str = Field(min_length=1, max_length=32)


class AppealListQuery(PageQuery):
    """Filter by state, or open / closed."""

    status: Literal[(*APPEAL_STATES, "open")] | None = None  # type: ignore[valid-type]


class AppealCreate(BaseModel):
    """A new appeal from the mini-program form."""

    text: str = Field(min_length=2, max_length=2000)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    building_id: DbId | None = None
    about: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        description='"new" files a new appeal; an appeal\'s id adds the text to that appeal; omitted: decided by '
        "the server, which answers 409 about_required (with the open appeals in details.options) when the text "
        "may be about one of them",
    )


class RateBody(BaseModel):
    """满意 / 基本满意 / 不满意."""

    rating: Literal[RATINGS]  # type: ignore[valid-type]
    comment: str | None = Field(None, max_length=500)


class ReopenBody(BaseModel):
    """What is still wrong (重办)."""

    reason: str = Field(min_length=1, max_length=500)


class WithdrawBody(BaseModel):
    """Why the resident withdraws (optional)."""

    reason: str | None = Field(None, max_length=500)


class AppealItem(BaseModel):
    """An appeal in my list."""

    id: str
    number: str | None
    kind: str
    status: str
    category: str | None
    text: str
    created_at: datetime
    rating: str | None


class AppealDetail(AppealItem):
    """An appeal with its resident-facing timeline."""

    due_at: datetime | None
    closure_code: str | None
    timeline: list[dict[str, Any]]


class SubmitResult(BaseModel):
    """What the form submission did, and the reply the resident reads."""

    outcome: Literal["created", "joined", "noted", "answered"] = Field(
        description="created: a new appeal; joined: added as a supporter of another resident's appeal on the same "
        "problem; noted: added to one of my appeals; answered: a consultation or greeting answered at once"
    )
    reply: str
    appeal: AppealItem | None


def _item(a: Appeal) -> dict[str, Any]:
    return AppealItem(
        id=a.public_id,
        number=a.number,
        kind=a.kind,
        status=a.status,
        category=a.category,
        text=a.text,
        created_at=a.created_at,
        rating=a.rating,
    ).model_dump(mode="json")


def _own_appeal(session: Any, public_id: str) -> Appeal:
    """The caller's appeal; another resident's is 'not found' (OWASP API1)."""
    appeal = session.scalar(
        select(Appeal).where(Appeal.public_id == public_id, Appeal.resident_id == current_principal().resident_id)
    )
    if appeal is None:
        raise NotFound("没有找到这件诉求")
    return appeal


def _detail(session: Any, appeal: Appeal) -> dict[str, Any]:
    from services.appeals import workflow

    return AppealDetail(
        **_item(appeal),
        due_at=appeal.due_at,
        closure_code=appeal.closure_code,
        timeline=workflow.timeline(session, appeal, audience="resident"),
    ).model_dump(mode="json")


@bp.get("/appeals", responses=responses(Page[AppealItem]), summary="my appeals, newest first")
@login_required
def list_appeals(query: AppealListQuery) -> Any:
    """The caller's appeals with their status."""
    from services.appeals.states import NOT_CLOSED

    session = db_session()
    stmt = select(Appeal).where(Appeal.resident_id == current_principal().resident_id)
    if query.status == "open":
        stmt = stmt.where(Appeal.status.in_(NOT_CLOSED))
    elif query.status:
        stmt = stmt.where(Appeal.status == query.status)
    stmt = stmt.order_by(Appeal.created_at.desc(), Appeal.id.desc())
    return paginate(session, stmt, query, _item)


@bp.get("/appeals/<appeal_id>", responses=responses(AppealDetail), summary="my appeal with its timeline")
@login_required
def get_appeal(path: AppealPath) -> Any:
    """Detail and the resident-facing timeline (no internal notes)."""
    session = db_session()
    return _detail(session, _own_appeal(session, path.appeal_id))


@bp.post(
    "/appeals",
    responses=responses(SubmitResult, status=201, errors=WRITE_ERRORS),
    summary="submit an appeal",
)
@login_required
@idempotent
def create_appeal(body: AppealCreate) -> Any:
    """Submit from the form: the same intake as the chat (classification, routing, duplicates), with `about`."""
    from services.appeals.intake import submit_from_form

    session = db_session()
    resident = session.get(Resident, current_principal().resident_id)
    assert resident is not None
    if body.building_id is not None and session.get(Building, body.building_id) is None:
        raise ApiError(422, "invalid_building", "没有这栋楼")
    about: Appeal | str | None = None
    if body.about == "new":
        about = "new"
    elif body.about is not None:
        about = _own_appeal(session, body.about)
    result = submit_from_form(
        session,
        resident,
        body.text,
        about=about,
        latitude=body.latitude,
        longitude=body.longitude,
        building_id=body.building_id,
        default_community=str(current_app.config.get("DEFAULT_COMMUNITY") or ""),
    )
    out = SubmitResult(
        outcome=result.outcome,
        reply=result.reply,
        appeal=_item(result.appeal) if result.appeal else None,
    )
    commit_and_enqueue(session)
    return out.model_dump(mode="json"), 201


@bp.post("/appeals/<appeal_id>/rate", responses=responses(AppealDetail, errors=WRITE_ERRORS), summary="rate")
@login_required
@idempotent
def rate_appeal(path: AppealPath, body: RateBody) -> Any:
    """满意 / 基本满意 / 不满意 on a resolved appeal."""
    from services.appeals import evaluation

    session = db_session()
    appeal = _own_appeal(session, path.appeal_id)
    evaluation.rate(
        session, appeal, resident_id=current_principal().resident_id, rating=body.rating, comment=body.comment
    )
    out = _detail(session, appeal)
    commit_and_enqueue(session)
    return out


@bp.post("/appeals/<appeal_id>/chase", responses=responses(AppealDetail, errors=WRITE_ERRORS), summary="催办")
@login_required
@idempotent
def chase_appeal(path: AppealPath) -> Any:
    """Remind the handler (once per period; 429 when too soon)."""
    from services.appeals import evaluation

    session = db_session()
    appeal = _own_appeal(session, path.appeal_id)
    evaluation.chase(
        session,
        appeal,
        resident_id=current_principal().resident_id,
        period_hours=float(current_app.config["APPEAL_CHASE_HOURS"]),
    )
    out = _detail(session, appeal)
    commit_and_enqueue(session)
    return out


@bp.post("/appeals/<appeal_id>/reopen", responses=responses(AppealDetail, errors=WRITE_ERRORS), summary="重办")
@login_required
@idempotent
def reopen_appeal(path: AppealPath, body: ReopenBody) -> Any:
    """Not fixed: a resolved appeal (or one closed as resolved within the reopen window) goes back to its unit."""
    from services.appeals import evaluation

    session = db_session()
    appeal = _own_appeal(session, path.appeal_id)
    evaluation.reopen(
        session,
        appeal,
        resident_id=current_principal().resident_id,
        reason=body.reason,
        reopen_days=float(current_app.config["APPEAL_REOPEN_DAYS"]),
    )
    out = _detail(session, appeal)
    commit_and_enqueue(session)
    return out


@bp.post("/appeals/<appeal_id>/withdraw", responses=responses(AppealDetail, errors=WRITE_ERRORS), summary="撤回")
@login_required
@idempotent
def withdraw_appeal(path: AppealPath, body: WithdrawBody) -> Any:
    """Withdraw an appeal that is not closed yet: closed as withdrawn, the unit is told to stop."""
    from services.appeals import evaluation

    session = db_session()
    appeal = _own_appeal(session, path.appeal_id)
    evaluation.withdraw(session, appeal, resident_id=current_principal().resident_id, reason=body.reason)
    out = _detail(session, appeal)
    commit_and_enqueue(session)
    return out
