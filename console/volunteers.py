"""Staff API for volunteers and call-ups under /console/api: applications, teams, posts, call-ups and their send.

Same bearer authentication as the appeal API (console.auth); the services check the caller's role and scope
(grid staff in their grid, community staff in their community) and raise Forbidden otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import AwareDatetime, BaseModel, Field

from console.auth import STAFF_BEARER, current_staff
from infra import privacy
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from miniapp_api.schemas import DbId
from miniapp_api.schemas import ErrorBody as ErrorOut
from models.resident import Resident
from services.volunteering import applications, callups, send, teams

bp = APIBlueprint(
    "console_volunteers",
    __name__,
    url_prefix="/console/api",
    abp_tags=[Tag(name="console-volunteers", description="staff console: volunteers, teams, posts and call-ups")],
    abp_security=STAFF_BEARER,
)


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class ApplicationPath(BaseModel):
    """An application by id."""

    application_id: DbId


class TeamPath(BaseModel):
    """A team by id."""

    team_id: DbId


class CallupPath(BaseModel):
    """A call-up by id."""

    callup_id: DbId


class ApplicationItem(BaseModel):
    """An application to review (name and phone masked)."""

    id: int
    resident_id: int
    name: str
    phone: str
    grid_id: int | None
    skills: list[str]
    availability: str
    preferred_team_id: int | None
    service_area: str
    status: str
    decline_reason: str
    created_at: datetime


class ApplicationList(BaseModel):
    """Applications to review."""

    items: list[ApplicationItem]


class DeclineBody(BaseModel):
    """Why the application is declined (told to the resident)."""

    reason: str = Field(min_length=1, max_length=300)


class TeamCreate(BaseModel):
    """A new team."""

    community_id: DbId
    name: str = Field(min_length=1, max_length=100)
    grid_id: DbId | None = None
    leader_resident_id: DbId | None = None
    description: str = Field("", max_length=500)


class TeamOut(BaseModel):
    """A team."""

    id: int
    community_id: int
    grid_id: int | None
    name: str
    leader_resident_id: int | None
    members: int


class MemberBody(BaseModel):
    """A volunteer to add to a team."""

    resident_id: DbId
    leader: bool = False


class PostCreate(BaseModel):
    """A new post (岗位)."""

    community_id: DbId
    name: str = Field(min_length=1, max_length=100)
    duties: str = Field("", max_length=500)
    holders: int = Field(1, ge=1, le=1000)
    grid_id: DbId | None = None
    team_id: DbId | None = None


class PostOut(BaseModel):
    """A post."""

    id: int
    name: str
    holders: int


class ShiftIn(BaseModel):
    """One shift of a new call-up."""

    place: str = Field(min_length=1, max_length=200)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    quota: int = Field(ge=1, le=100_000)


class AudienceIn(BaseModel):
    """Who a call-up goes to."""

    volunteers: bool = True
    party_members: bool = False
    grid_ids: list[DbId] = Field(default_factory=list, max_length=100)
    team_ids: list[DbId] = Field(default_factory=list, max_length=100)
    skills: list[str] = Field(default_factory=list, max_length=20)


class CallupCreate(BaseModel):
    """A new call-up (倡议)."""

    community_id: DbId
    title: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=5000)
    shifts: list[ShiftIn] = Field(min_length=1, max_length=callups.MAX_SHIFTS)
    audience: AudienceIn = Field(default_factory=AudienceIn)
    signup_opens_at: AwareDatetime | None = None
    signup_closes_at: AwareDatetime
    points_on_attendance: int = Field(0, ge=0, le=1000)
    waitlist_capacity: int = Field(50, ge=0, le=100_000)


class FillOut(BaseModel):
    """A call-up's live fill rate and send progress."""

    callup_id: int
    status: str
    quota: int
    taken: int
    fill_rate: float
    shifts: list[dict[str, Any]]
    recipients: int
    queued: int
    sent: int
    failed: int
    uncertain: int


class SendOut(BaseModel):
    """The send was started (or already had been)."""

    callup_id: int
    recipients: int


class CheckinBody(BaseModel):
    """The volunteer's QR payload, as scanned."""

    token: str = Field(min_length=1, max_length=300)


class CheckinOut(BaseModel):
    """A checked-in sign-up."""

    signup_id: int
    shift_id: int
    status: str


def _application_item(session: Any, row: Any) -> dict[str, Any]:
    person = session.get(Resident, row.resident_id)
    return ApplicationItem(
        id=row.id, resident_id=row.resident_id, name=privacy.mask_name(person.name or ""),
        phone=privacy.mask_phone(person.phone or ""), grid_id=row.grid_id, skills=row.skills,
        availability=row.availability, preferred_team_id=row.preferred_team_id, service_area=row.service_area,
        status=row.status, decline_reason=row.decline_reason, created_at=row.created_at,
    ).model_dump(mode="json")  # fmt: skip


def _fill(session: Any, callup_id: int) -> dict[str, Any]:
    callup = callups.get_callup(session, callup_id)
    shifts = callups.fill_rate(session, callup_id)
    quota = sum(s["quota"] for s in shifts)
    taken = sum(s["taken"] for s in shifts)
    p = send.progress(session, callup_id)
    return FillOut(
        callup_id=callup.id, status=callup.status, quota=quota, taken=taken,
        fill_rate=round(taken / quota, 4) if quota else 0.0,
        shifts=[{**s, "starts_at": s["starts_at"].isoformat(), "ends_at": s["ends_at"].isoformat()} for s in shifts],
        recipients=p.recipients, queued=p.queued, sent=p.sent, failed=p.failed, uncertain=p.uncertain,
    ).model_dump(mode="json")  # fmt: skip


@bp.get("/volunteers/applications", responses={200: ApplicationList, **ERRORS})
def list_applications() -> Any:
    """Pending volunteer applications I may review, oldest first."""
    staff = current_staff()
    session = db_session()
    body = {"items": [_application_item(session, a) for a in applications.queue(session, staff.id)]}
    session.commit()
    return body


@bp.post("/volunteers/applications/<int:application_id>/approve", responses={200: ApplicationItem, **ERRORS})
def approve(path: ApplicationPath) -> Any:
    """Approve: the resident becomes a volunteer and is told."""
    staff = current_staff()
    session = db_session()
    row = applications.approve(session, path.application_id, staff.id)
    body = _application_item(session, row)
    commit_and_enqueue(session)
    return body


@bp.post("/volunteers/applications/<int:application_id>/decline", responses={200: ApplicationItem, **ERRORS})
def decline(path: ApplicationPath, body: DeclineBody) -> Any:
    """Decline with a reason the resident is told."""
    staff = current_staff()
    session = db_session()
    row = applications.decline(session, path.application_id, staff.id, body.reason)
    out = _application_item(session, row)
    commit_and_enqueue(session)
    return out


def _team_out(session: Any, team: Any) -> dict[str, Any]:
    return TeamOut(
        id=team.id, community_id=team.community_id, grid_id=team.grid_id, name=team.name,
        leader_resident_id=team.leader_resident_id, members=teams.team_size(session, team.id),
    ).model_dump()  # fmt: skip


@bp.post("/volunteers/teams", responses={201: TeamOut, **ERRORS})
def create_team(body: TeamCreate) -> Any:
    """Form a volunteer team (志愿服务队)."""
    staff = current_staff()
    session = db_session()
    team = teams.create_team(session, staff.id, **body.model_dump())
    out = _team_out(session, team)
    session.commit()
    return out, 201


@bp.post("/volunteers/teams/<int:team_id>/members", responses={200: TeamOut, **ERRORS})
def add_member(path: TeamPath, body: MemberBody) -> Any:
    """Add a volunteer to a team (or make them its leader)."""
    staff = current_staff()
    session = db_session()
    if body.leader:
        teams.set_leader(session, staff.id, path.team_id, body.resident_id)
    else:
        teams.add_member(session, staff.id, path.team_id, body.resident_id)
    out = _team_out(session, session.get(teams.VolunteerTeam, path.team_id))
    session.commit()
    return out


@bp.post("/volunteers/posts", responses={201: PostOut, **ERRORS})
def create_post(body: PostCreate) -> Any:
    """Open a post volunteers can claim."""
    staff = current_staff()
    session = db_session()
    post = teams.create_post(session, staff.id, **body.model_dump())
    out = PostOut(id=post.id, name=post.name, holders=post.holders).model_dump()
    session.commit()
    return out, 201


@bp.post("/callups", responses={201: FillOut, **ERRORS})
def create_callup(body: CallupCreate) -> Any:
    """Issue a call-up with its shifts and audience (send it with POST /callups/<id>/send)."""
    staff = current_staff()
    session = db_session()
    callup = callups.create_callup(
        session, staff.id, community_id=body.community_id, title=body.title, description=body.description,
        shifts=[callups.ShiftSpec(s.place, s.starts_at, s.ends_at, s.quota) for s in body.shifts],
        audience=body.audience.model_dump(), signup_opens_at=body.signup_opens_at,
        signup_closes_at=body.signup_closes_at, points_on_attendance=body.points_on_attendance,
        waitlist_capacity=body.waitlist_capacity,
    )  # fmt: skip
    out = _fill(session, callup.id)
    session.commit()
    return out, 201


@bp.post("/callups/<int:callup_id>/send", responses={202: SendOut, **ERRORS})
def send_callup(path: CallupPath) -> Any:
    """Send the call-up to its audience (resumable; sending twice reaches nobody twice)."""
    staff = current_staff()
    session = db_session()
    total = send.start_send(session, path.callup_id, staff.id)
    commit_and_enqueue(session)
    return SendOut(callup_id=path.callup_id, recipients=total).model_dump(), 202


@bp.get("/callups/<int:callup_id>/fill", responses={200: FillOut, **ERRORS})
def fill(path: CallupPath) -> Any:
    """Live fill rate per shift, and how far the send has come (call-ups of my scope only)."""
    staff = current_staff()
    session = db_session()
    callups.callup_for_staff(session, path.callup_id, staff.id)
    body = _fill(session, path.callup_id)
    session.commit()
    return body


@bp.post("/callups/<int:callup_id>/close", responses={200: FillOut, **ERRORS})
def close(path: CallupPath) -> Any:
    """Close sign-up early."""
    staff = current_staff()
    session = db_session()
    callups.close_callup(session, path.callup_id, staff.id)
    body = _fill(session, path.callup_id)
    session.commit()
    return body


@bp.post("/callups/checkin", responses={200: CheckinOut, **ERRORS})
def checkin(body: CheckinBody) -> Any:
    """Scan a volunteer's check-in code: once, within the window; attendance points go to the ledger."""
    staff = current_staff()
    session = db_session()
    row = callups.check_in(session, body.token, staff.id, secret=current_app.config["SECRET_KEY"])
    out = CheckinOut(signup_id=row.id, shift_id=row.shift_id, status=row.status).model_dump()
    session.commit()
    return out
