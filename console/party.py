"""Staff API for the party side under /console/api: verify 党员报到, branch lists, 联户 and coverage, review
先锋日志, totals per branch and month, 行动支部, tags, and the monthly awards.

Same bearer authentication as the appeal API (console.auth); services check role and scope.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from console.auth import STAFF_BEARER, current_staff
from infra import privacy
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from miniapp_api.schemas import DbId
from miniapp_api.schemas import ErrorBody as ErrorOut
from services.errors import Forbidden
from services.organisation.organisers import ORGANISER_ROLES
from services.party import activity, awards, members

bp = APIBlueprint(
    "console_party",
    __name__,
    url_prefix="/console/api",
    abp_tags=[Tag(name="console-party", description="staff console: party members, 联户, 先锋日志, 行动支部, awards")],
    abp_security=STAFF_BEARER,
)


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class IdPath(BaseModel):
    """An object by id."""

    object_id: DbId


class GridPath(BaseModel):
    """A grid by id."""

    grid_id: DbId


class VerifyBody(BaseModel):
    """Accept a registration, or reject it with the reason the member is told."""

    accept: bool = True
    reason: str = Field("", max_length=300)


class HouseholdBody(BaseModel):
    """Link a member to a household."""

    member_id: DbId
    building_id: DbId
    room: str = Field(min_length=1, max_length=20)


class ReviewBody(BaseModel):
    """Approve or reject a log entry."""

    approve: bool
    note: str = Field("", max_length=300)


class MonthQuery(BaseModel):
    """A local month."""

    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")


class BranchCreate(BaseModel):
    """A new action branch."""

    community_id: DbId
    name: str = Field(min_length=1, max_length=100)
    goal: str = Field(min_length=1, max_length=500)
    starts_on: date
    ends_on: date
    grid_id: DbId | None = None
    member_ids: list[DbId] = Field(default_factory=list, max_length=500)


class ProgressBody(BaseModel):
    """Progress of an action branch."""

    progress: int = Field(ge=0, le=100)
    note: str = Field("", max_length=300)


class CloseBody(BaseModel):
    """The result an action branch closes with."""

    result: str = Field(min_length=1, max_length=500)


class TagCreate(BaseModel):
    """A community tag."""

    community_id: DbId
    name: str = Field(min_length=1, max_length=30)
    applies_to: str = Field(description="party_member | household | post")


class TagAssign(BaseModel):
    """Give a tag to a member, household or post."""

    target_id: DbId


class AwardsBody(BaseModel):
    """The month to compute award candidates for."""

    community_id: DbId
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    top: int = Field(10, ge=1, le=100)


class ApproveAwardsBody(BaseModel):
    """The candidates staff approve (the rest are left out)."""

    candidate_ids: list[DbId] = Field(min_length=1, max_length=100)


class Items(BaseModel):
    """A list answer."""

    items: list[dict[str, Any]]


def _community(staff: Any) -> int:
    if staff.role not in ORGANISER_ROLES or staff.community_id is None:
        raise Forbidden("需要社区工作人员身份", code="not_organiser")
    return int(staff.community_id)


@bp.get("/party/members/pending", responses={200: Items, **ERRORS})
def pending_members() -> Any:
    """Registrations waiting for verification in my community (grid staff: my grid; phone masked)."""
    staff = current_staff()
    session = db_session()
    body = {
        "items": [
            {"id": m.id, "name": privacy.mask_name(r.name), "phone": privacy.mask_phone(r.phone),
             "category": m.category, "organisation": privacy.mask_organisation(m.organisation), "grid_id": m.grid_id}
            for m, r in members.pending(session, staff.id)
        ]
    }  # fmt: skip
    session.commit()
    return body


@bp.post("/party/members/<int:object_id>/verify", responses={200: Items, **ERRORS})
def verify(path: IdPath, body: VerifyBody) -> Any:
    """Verify (or reject) a registration; the member is told."""
    staff = current_staff()
    session = db_session()
    row = members.verify(session, path.object_id, staff.id, accept=body.accept, reason=body.reason)
    out = {"items": [{"id": row.id, "status": row.status}]}
    commit_and_enqueue(session)
    return out


@bp.get("/party/branches/<int:grid_id>", responses={200: Items, **ERRORS})
def branch(path: GridPath) -> Any:
    """Verified members of a grid branch I may see (personal data masked)."""
    staff = current_staff()
    session = db_session()
    body = {"items": [vars(m) for m in members.branch_for_staff(session, staff.id, path.grid_id)]}
    session.commit()
    return body


@bp.post("/party/households", responses={201: Items, **ERRORS})
def link_household(body: HouseholdBody) -> Any:
    """Link a verified member to a household of their grid."""
    staff = current_staff()
    session = db_session()
    link = members.link_household(session, staff.id, body.member_id, body.building_id, body.room)
    out = {"items": [{"id": link.id, "member_id": link.member_id, "grid_id": link.grid_id}]}
    session.commit()
    return out, 201


@bp.get("/party/coverage", responses={200: Items, **ERRORS})
def coverage() -> Any:
    """Households with a member, per grid of my community."""
    staff = current_staff()
    session = db_session()
    body = {
        "items": [
            {"grid_id": c.grid_id, "grid": c.grid_name, "households": c.households, "covered": c.covered,
             "rate": round(c.rate, 4)}
            for c in members.coverage(session, _community(staff))
        ]
    }  # fmt: skip
    session.commit()
    return body


@bp.get("/party/logs/pending", responses={200: Items, **ERRORS})
def pending_logs() -> Any:
    """先锋日志 entries waiting for review in my community (grid staff: my grid)."""
    staff = current_staff()
    session = db_session()
    body = {
        "items": [
            {"id": e.id, "category_id": e.category_id, "text": e.text, "photos": e.photos, "points": e.points,
             "occurred_at": e.occurred_at.isoformat(), "grid_id": e.grid_id}
            for e in activity.pending_logs(session, staff.id)
        ]
    }  # fmt: skip
    session.commit()
    return body


@bp.post("/party/logs/<int:object_id>/review", responses={200: Items, **ERRORS})
def review_log(path: IdPath, body: ReviewBody) -> Any:
    """Approve (points credited once) or reject with a note."""
    staff = current_staff()
    session = db_session()
    entry = activity.review_log(session, path.object_id, staff.id, approve=body.approve, note=body.note)
    out = {"items": [{"id": entry.id, "status": entry.status, "ledger_id": entry.ledger_id}]}
    session.commit()
    return out


@bp.get("/party/logs/totals", responses={200: Items, **ERRORS})
def log_totals(query: MonthQuery) -> Any:
    """Approved entries and points per grid branch for a month."""
    staff = current_staff()
    session = db_session()
    body = {
        "items": [
            {"grid_id": g, "entries": n, "points": p}
            for g, n, p in activity.branch_month_totals(session, _community(staff), query.period)
        ]
    }
    session.commit()
    return body


def _branch_out(b: Any) -> dict[str, Any]:
    return {"id": b.id, "name": b.name, "goal": b.goal, "progress": b.progress, "status": b.status, "result": b.result}


@bp.post("/party/action-branches", responses={201: Items, **ERRORS})
def create_branch(body: BranchCreate) -> Any:
    """Form a 行动支部 with a goal, a period and members."""
    staff = current_staff()
    session = db_session()
    b = activity.create_branch(session, staff.id, **body.model_dump())
    out = {"items": [_branch_out(b)]}
    session.commit()
    return out, 201


@bp.post("/party/action-branches/<int:object_id>/progress", responses={200: Items, **ERRORS})
def branch_progress(path: IdPath, body: ProgressBody) -> Any:
    """Record progress."""
    staff = current_staff()
    session = db_session()
    out = {
        "items": [_branch_out(activity.report_progress(session, staff.id, path.object_id, body.progress, body.note))]
    }
    session.commit()
    return out


@bp.post("/party/action-branches/<int:object_id>/close", responses={200: Items, **ERRORS})
def close_branch(path: IdPath, body: CloseBody) -> Any:
    """Close with the result."""
    staff = current_staff()
    session = db_session()
    out = {"items": [_branch_out(activity.close_branch(session, staff.id, path.object_id, body.result))]}
    session.commit()
    return out


@bp.post("/party/tags", responses={201: Items, **ERRORS})
def define_tag(body: TagCreate) -> Any:
    """Define a community tag (党员示范户, 先锋岗 …)."""
    staff = current_staff()
    session = db_session()
    tag = activity.define_tag(session, staff.id, body.community_id, body.name, body.applies_to)
    out = {"items": [{"id": tag.id, "name": tag.name, "applies_to": tag.applies_to}]}
    session.commit()
    return out, 201


@bp.post("/party/tags/<int:object_id>/assign", responses={200: Items, **ERRORS})
def assign_tag(path: IdPath, body: TagAssign) -> Any:
    """Give a tag to a member, household or post."""
    staff = current_staff()
    session = db_session()
    row = activity.assign_tag(session, staff.id, path.object_id, body.target_id)
    out = {"items": [{"id": row.id, "tag_id": row.tag_id, "target_id": row.target_id}]}
    session.commit()
    return out


@bp.post("/party/awards/candidates", responses={200: Items, **ERRORS})
def award_candidates(body: AwardsBody) -> Any:
    """Compute (or recompute) a month's award candidates from the ledger and the 先锋日志."""
    staff = current_staff()
    session = db_session()
    rows = awards.compute_candidates(session, staff.id, body.community_id, body.period, top=body.top)
    out = {"items": [awards.candidate_view(session, c) for c in rows]}
    session.commit()
    return out


@bp.post("/party/awards/<int:object_id>/publish", responses={200: Items, **ERRORS})
def publish_awards(path: IdPath, body: ApproveAwardsBody) -> Any:
    """Approve the chosen candidates of an award round and publish them as a notice."""
    staff = current_staff()
    session = db_session()
    notice = awards.approve_and_publish(session, staff.id, path.object_id, body.candidate_ids)
    out = {"items": [{"notice_id": notice.id, "title": notice.title}]}
    commit_and_enqueue(session)
    return out
