"""Volunteers and call-ups in the mini-program: apply, my teams/posts/shifts/points/rank, call-ups and sign-up."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import current_app
from pydantic import BaseModel, Field
from sqlalchemy import select

from infra.http import ApiError
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from miniapp_api.auth import current_principal, login_required
from miniapp_api.blueprint import api_blueprint
from miniapp_api.idempotency import idempotent
from miniapp_api.schemas import WRITE_ERRORS, DbId, ErrorBody, responses
from models.callup import Callup, CallupShift, ShiftSignup
from models.resident import Resident
from models.volunteer import VolunteerPost
from services.errors import Conflict, NotFound
from services.points import board as rankings
from services.points import ledger as points
from services.volunteering import applications, callups, teams

bp = api_blueprint(
    "miniapp_volunteers", __name__, "volunteers", "志愿者与倡议: apply, teams, posts (认岗), call-ups, shift sign-up"
)

ERRORS = {**WRITE_ERRORS, 422: ErrorBody}


class ApplicationCreate(BaseModel):
    """A volunteer application."""

    skills: list[str] = Field(default_factory=list, max_length=10)
    availability: str = Field("", max_length=200)
    preferred_team_id: DbId | None = None
    service_area: str = Field("", max_length=200)


class ApplicationOut(BaseModel):
    """The caller's application."""

    id: int
    status: str
    skills: list[str]
    decline_reason: str
    created_at: datetime


class TeamOut(BaseModel):
    """A team (leader and members are not named here)."""

    id: int
    name: str
    grid_id: int | None
    description: str
    role: str | None = Field(None, description="my role: leader | member | null")


class PostOut(BaseModel):
    """A post (岗位) and how many seats are free."""

    id: int
    name: str
    duties: str
    holders: int
    free: int


class ClaimBody(BaseModel):
    """The duty period of a claim."""

    starts_on: date
    ends_on: date


class ClaimOut(BaseModel):
    """A post I hold."""

    claim_id: int
    post_id: int
    post_name: str
    starts_on: date
    ends_on: date


class ShiftOut(BaseModel):
    """A shift with places left and my status."""

    id: int
    place: str
    starts_at: datetime
    ends_at: datetime
    quota: int
    places_left: int
    my_status: str | None = None


class CallupOut(BaseModel):
    """A call-up I am part of."""

    id: int
    title: str
    description: str
    signup_closes_at: datetime
    points_on_attendance: int
    shifts: list[ShiftOut]


class TeamOutList(BaseModel):
    """Teams."""

    items: list[TeamOut]


class PostOutList(BaseModel):
    """Posts."""

    items: list[PostOut]


class CallupOutList(BaseModel):
    """Call-ups."""

    items: list[CallupOut]


class MyShiftOut(BaseModel):
    """One of my upcoming shifts."""

    signup_id: int
    shift_id: int
    callup_title: str
    place: str
    starts_at: datetime
    status: str
    waitlist_position: int | None


class MeOut(BaseModel):
    """Everything a volunteer sees on their page."""

    is_volunteer: bool
    application: ApplicationOut | None
    skills: list[str]
    teams: list[TeamOut]
    posts: list[ClaimOut]
    shifts: list[MyShiftOut]
    points: int
    season_rank: int | None


class SignupOut(BaseModel):
    """My sign-up on a shift."""

    id: int
    shift_id: int
    status: str
    waitlist_position: int | None


class CheckinCode(BaseModel):
    """The signed single-use check-in code to render as a QR code."""

    shift_id: int
    token: str


class ShiftCodeBody(BaseModel):
    """The shift's check-in QR, as scanned at its place."""

    token: str = Field(min_length=1, max_length=300)


class PostPath(BaseModel):
    """A post by id."""

    post_id: DbId


class ClaimPath(BaseModel):
    """A post claim by id."""

    claim_id: DbId


class CallupPath(BaseModel):
    """A call-up by id."""

    callup_id: DbId


class ShiftPath(BaseModel):
    """A shift by id."""

    shift_id: DbId


def _resident(session: Any) -> Resident:
    resident = session.get(Resident, current_principal().resident_id)
    if resident is None:  # pragma: no cover - the session names an existing resident
        raise ApiError(401, "unauthorized", "请重新登录")
    return resident


def _application_out(row: Any) -> dict[str, Any]:
    return ApplicationOut.model_validate(row, from_attributes=True).model_dump(mode="json")


def _signup_out(session: Any, row: ShiftSignup) -> dict[str, Any]:
    return SignupOut(
        id=row.id, shift_id=row.shift_id, status=row.status, waitlist_position=callups.waitlist_position(session, row)
    ).model_dump()


@bp.post("/volunteers/applications", responses=responses(ApplicationOut, status=201, errors=ERRORS), summary="apply")
@login_required
@idempotent
def apply(body: ApplicationCreate) -> Any:
    """Apply to become a volunteer (skills, availability, preferred team, service area); staff review it."""
    session = db_session()
    row = applications.apply(session, _resident(session).id, **body.model_dump())
    out = _application_out(row)
    session.commit()
    return out, 201


@bp.get("/volunteers/me", responses=responses(MeOut), summary="my volunteer page")
@login_required
def me() -> Any:
    """My application, skills, teams, posts, upcoming shifts, points and this month's rank."""
    session = db_session()
    resident = _resident(session)
    latest = applications.latest_of(session, resident.id)
    season = points.season_key()
    mine = (
        rankings.my_rank(session, season, resident.id, community_id=resident.community_id)
        if resident.community_id is not None
        else None
    )
    out = MeOut(
        is_volunteer=resident.is_volunteer,
        application=ApplicationOut(**_application_out(latest)) if latest else None,
        skills=applications.skills_of(session, resident.id),
        teams=[
            TeamOut(id=t.id, name=t.name, grid_id=t.grid_id, description=t.description, role=role)
            for t, role in teams.teams_of(session, resident.id)
        ],
        posts=[
            ClaimOut(claim_id=c.id, post_id=p.id, post_name=p.name, starts_on=c.starts_on, ends_on=c.ends_on)
            for c, p in teams.posts_of(session, resident.id)
        ],
        shifts=[
            MyShiftOut(
                signup_id=s.id,
                shift_id=sh.id,
                callup_title=c.title,
                place=sh.place,
                starts_at=sh.starts_at,
                status=s.status,
                waitlist_position=callups.waitlist_position(session, s),
            )
            for s, sh, c in callups.upcoming_shifts_of(session, resident.id)
        ],
        points=points.balance_of(session, resident.id),
        season_rank=mine.rank if mine else None,
    )
    return out.model_dump(mode="json")


@bp.get("/volunteers/teams", responses=responses(TeamOutList), summary="teams of my community")
@login_required
def list_teams() -> Any:
    """Active teams of my community (to choose a preferred team when applying)."""
    session = db_session()
    resident = _resident(session)
    if resident.community_id is None:
        return {"items": []}
    return {
        "items": [
            TeamOut(id=t.id, name=t.name, grid_id=t.grid_id, description=t.description).model_dump()
            for t in teams.list_teams(session, resident.community_id)
        ]
    }


@bp.get("/volunteers/posts", responses=responses(PostOutList), summary="posts of my community")
@login_required
def list_posts() -> Any:
    """Posts (岗位) of my community with free seats."""
    session = db_session()
    resident = _resident(session)
    if resident.community_id is None:
        return {"items": []}
    return {
        "items": [
            PostOut(id=p.id, name=p.name, duties=p.duties, holders=p.holders, free=free).model_dump()
            for p, free in teams.list_posts(session, resident.community_id)
        ]
    }


@bp.post(
    "/volunteers/posts/<int:post_id>/claim",
    responses=responses(ClaimOut, status=201, errors=ERRORS),
    summary="claim a post (认岗领责)",
)
@login_required
@idempotent
def claim(path: PostPath, body: ClaimBody) -> Any:
    """Hold a post for a duty period (409 post_full when every seat is held)."""
    session = db_session()
    row = teams.claim_post(session, path.post_id, _resident(session).id, starts_on=body.starts_on, ends_on=body.ends_on)
    post = session.get(VolunteerPost, row.post_id)
    out = ClaimOut(
        claim_id=row.id, post_id=row.post_id, post_name=post.name, starts_on=row.starts_on, ends_on=row.ends_on
    )
    session.commit()
    return out.model_dump(mode="json"), 201


@bp.post(
    "/volunteers/claims/<int:claim_id>/release",
    responses=responses(ClaimOut, errors=ERRORS),
    summary="give a post back",
)
@login_required
def release(path: ClaimPath) -> Any:
    """Give a post back before the end of its duty period."""
    session = db_session()
    row = teams.release_post(session, path.claim_id, _resident(session).id)
    post = session.get(VolunteerPost, row.post_id)
    out = ClaimOut(
        claim_id=row.id, post_id=row.post_id, post_name=post.name, starts_on=row.starts_on, ends_on=row.ends_on
    )
    session.commit()
    return out.model_dump(mode="json")


def _callup_out(session: Any, callup: Any, resident_id: int) -> dict[str, Any]:
    shifts = callups.shifts_of(session, callup.id)
    mine = {
        s.shift_id: s.status
        for s in session.scalars(
            select(ShiftSignup).where(
                ShiftSignup.resident_id == resident_id, ShiftSignup.shift_id.in_([s.id for s in shifts])
            )
        )
    }
    return CallupOut(
        id=callup.id,
        title=callup.title,
        description=callup.description,
        signup_closes_at=callup.signup_closes_at,
        points_on_attendance=callup.points_on_attendance,
        shifts=[
            ShiftOut(
                id=s.id,
                place=s.place,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                quota=s.quota,
                places_left=max(0, s.quota - s.taken),
                my_status=mine.get(s.id),
            )
            for s in shifts
        ],
    ).model_dump(mode="json")


@bp.get("/callups", responses=responses(CallupOutList), summary="open call-ups for me")
@login_required
def list_callups() -> Any:
    """Open call-ups whose audience includes me, newest first, with places left per shift."""
    session = db_session()
    resident = _resident(session)
    return {"items": [_callup_out(session, c, resident.id) for c in callups.open_callups_for(session, resident.id)]}


@bp.get("/callups/<int:callup_id>", responses=responses(CallupOut), summary="one call-up")
@login_required
def get_callup(path: CallupPath) -> Any:
    """A call-up I am part of (404 otherwise)."""
    session = db_session()
    resident = _resident(session)
    callup = session.get(Callup, path.callup_id)
    if callup is None or not callups.in_audience(session, callup, resident.id):
        raise NotFound("倡议不存在")
    return _callup_out(session, callup, resident.id)


@bp.post(
    "/callups/shifts/<int:shift_id>/signup",
    responses=responses(SignupOut, status=201, errors=ERRORS),
    summary="sign up for a shift (or its waitlist)",
)
@login_required
@idempotent
def signup(path: ShiftPath) -> Any:
    """First come, first served; a waitlist place when full (409 shift_full when that is full too)."""
    session = db_session()
    row = callups.sign_up(session, path.shift_id, _resident(session).id)
    out = _signup_out(session, row)
    session.commit()
    return out, 201


@bp.post("/callups/shifts/<int:shift_id>/cancel", responses=responses(SignupOut, errors=ERRORS), summary="cancel")
@login_required
@idempotent
def cancel(path: ShiftPath) -> Any:
    """Cancel before the shift; a freed place goes to the first on the waitlist, who is told."""
    session = db_session()
    row, _ = callups.cancel(session, path.shift_id, _resident(session).id)
    out = _signup_out(session, row)
    commit_and_enqueue(session)
    return out


@bp.get("/callups/shifts/<int:shift_id>/checkin-code", responses=responses(CheckinCode), summary="my check-in QR")
@login_required
def checkin_code(path: ShiftPath) -> Any:
    """The signed single-use code to show the organiser (confirmed sign-ups only)."""
    session = db_session()
    row = session.scalar(
        select(ShiftSignup).where(
            ShiftSignup.shift_id == path.shift_id, ShiftSignup.resident_id == current_principal().resident_id
        )
    )
    if row is None or row.status == "cancelled" or session.get(CallupShift, path.shift_id) is None:
        raise NotFound("您没有报名该班次")
    if row.status != "confirmed":
        raise Conflict("候补中或已签到，没有可用的签到码", code="not_confirmed")
    token = callups.qr_for(current_app.config["SECRET_KEY"], row)
    return CheckinCode(shift_id=row.shift_id, token=token).model_dump()


@bp.post("/callups/checkin", responses=responses(SignupOut, errors=ERRORS), summary="check in with the shift's QR")
@login_required
def checkin_at_shift(body: ShiftCodeBody) -> Any:
    """Scan the QR the organisers show at the shift (wx.scanCode): a confirmed sign-up is marked attended, once.

    https://developers.weixin.qq.com/miniprogram/dev/api/device/scan/wx.scanCode.html"""
    session = db_session()
    row = callups.check_in_at_shift(session, body.token, _resident(session).id,
                                    secret=current_app.config["SECRET_KEY"])  # fmt: skip
    out = _signup_out(session, row)
    session.commit()
    return out
