"""Party members in the mini-program: 党员报到, my households (党员联户), my 先锋日志 and its points."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from infra.web import db_session
from miniapp_api.auth import current_principal, login_required
from miniapp_api.blueprint import api_blueprint
from miniapp_api.idempotency import idempotent
from miniapp_api.schemas import WRITE_ERRORS, DbId, ErrorBody, responses
from models.party import PartyMember
from services.party import activity, members
from services.points import ledger as points

bp = api_blueprint("miniapp_party", __name__, "party", "党员报到, 党员联户, 先锋日志")

ERRORS = {**WRITE_ERRORS, 422: ErrorBody}


class RegisterBody(BaseModel):
    """党员报到."""

    category: str = Field(description="在职 | 离退休 | 流动")
    organisation: str = Field(min_length=1, max_length=100, description="own party organisation")


class MemberOut(BaseModel):
    """My registration (my own data, shown to me)."""

    id: int
    category: str
    organisation: str
    status: str


class HouseholdOut(BaseModel):
    """A household I look after."""

    building_id: int
    building: str
    room: str


class LogBody(BaseModel):
    """A 先锋日志 entry."""

    category_id: DbId
    text: str = Field(min_length=5, max_length=2000)
    photos: list[str] = Field(default_factory=list, max_length=activity.MAX_PHOTOS)
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    occurred_at: AwareDatetime | None = None


class LogOut(BaseModel):
    """One of my log entries."""

    id: int
    category_id: int
    text: str
    occurred_at: datetime
    points: int
    status: str
    review_note: str


class MyPartyOut(BaseModel):
    """My party page: registration, households, log and points."""

    member: MemberOut | None
    households: list[HouseholdOut]
    logs: list[LogOut]
    points: int


def _member_out(m: PartyMember) -> MemberOut:
    return MemberOut(id=m.id, category=m.category, organisation=m.organisation, status=m.status)


def _log_out(e: Any) -> LogOut:
    return LogOut.model_validate(e, from_attributes=True)


@bp.post("/party/register", responses=responses(MemberOut, status=201, errors=ERRORS), summary="党员报到")
@login_required
@idempotent
def register(body: RegisterBody) -> Any:
    """Register with the community where I live; staff verify it."""
    session = db_session()
    row = members.register(session, current_principal().resident_id, **body.model_dump())
    out = _member_out(row).model_dump()
    session.commit()
    return out, 201


@bp.get("/party/me", responses=responses(MyPartyOut), summary="my party page")
@login_required
def me() -> Any:
    """My registration, the households I look after, my 先锋日志 and my points."""
    session = db_session()
    resident_id = current_principal().resident_id
    member = session.scalar(select(PartyMember).where(PartyMember.resident_id == resident_id))
    return MyPartyOut(
        member=_member_out(member) if member else None,
        households=[
            HouseholdOut(building_id=b.id, building=b.name, room=h.room)
            for h, b in members.households_of(session, resident_id)
        ],
        logs=[_log_out(e) for e in activity.logs_of(session, resident_id)],
        points=points.balance_of(session, resident_id),
    ).model_dump(mode="json")


@bp.post("/party/logs", responses=responses(LogOut, status=201, errors=ERRORS), summary="log a 先锋日志 entry")
@login_required
@idempotent
def log(body: LogBody) -> Any:
    """Log what I did; grid staff review it and approved entries earn the category's points."""
    session = db_session()
    entry = activity.log_entry(session, current_principal().resident_id, **body.model_dump())
    out = _log_out(entry).model_dump(mode="json")
    session.commit()
    return out, 201
