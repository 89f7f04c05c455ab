"""Rewards API (联盟单位积分兑换): catalogue, redeem (one transaction), my codes, cancel, partner scan."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, request
from pydantic import BaseModel, Field
from sqlalchemy import select

from infra.http import ApiError
from infra.web import db_session
from miniapp_api.auth import current_principal, login_required, require_roles
from miniapp_api.blueprint import api_blueprint
from miniapp_api.idempotency import HEADER, idempotent
from miniapp_api.pagination import Page, PageQuery, paginate
from miniapp_api.schemas import WRITE_ERRORS, DbId, ErrorBody, responses
from models.points import PartnerUnit, Redemption, Reward
from models.resident import Resident
from services.errors import Forbidden, NotFound
from services.points import ledger as points
from services.points import rewards as svc

bp = api_blueprint("miniapp_rewards", __name__, "rewards", "积分兑换: partner-unit rewards, redemption QR codes")

REWARD_ERRORS = {**WRITE_ERRORS, 422: ErrorBody, 428: ErrorBody}


class RewardPath(BaseModel):
    """A reward by id."""

    reward_id: DbId


class RedemptionPath(BaseModel):
    """A redemption by id."""

    redemption_id: DbId


class RewardOut(BaseModel):
    """A reward in the catalogue."""

    id: int
    partner_id: int
    partner_name: str
    name: str
    description: str
    cost_points: int
    stock: int
    per_person_limit: int | None
    pickup_days: int


class RewardCreate(BaseModel):
    """A new reward in the caller's partner unit's catalogue."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=300)
    cost_points: int = Field(ge=1, le=1_000_000)
    stock: int = Field(ge=0, le=1_000_000)
    per_person_limit: int | None = Field(None, ge=1, le=1000)
    pickup_days: int = Field(7, ge=1, le=365)


class RedemptionOut(BaseModel):
    """A redemption; `qr` is present only for the owner while the reward waits to be picked up."""

    id: int
    reward_id: int
    partner_id: int
    cost_points: int
    status: str
    expires_at: datetime
    redeemed_at: datetime | None
    qr: str | None = None
    balance: int | None = Field(None, description="the caller's balance after this redemption")


class ScanBody(BaseModel):
    """The resident's redemption QR payload, as scanned."""

    token: str = Field(min_length=1, max_length=300)


class SettlementQuery(BaseModel):
    """The month to settle."""

    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM (local)")


class SettlementOut(BaseModel):
    """Rewards handed over by the partner unit in a month."""

    partner_id: int
    month: str
    count: int
    points: int


def _reward_out(reward: Reward, partner: PartnerUnit) -> dict[str, Any]:
    return RewardOut(
        id=reward.id,
        partner_id=partner.id,
        partner_name=partner.name,
        name=reward.name,
        description=reward.description,
        cost_points=reward.cost_points,
        stock=reward.stock,
        per_person_limit=reward.per_person_limit,
        pickup_days=reward.pickup_days,
    ).model_dump()


def _redemption_out(r: Redemption, *, owner: bool, balance: int | None = None) -> dict[str, Any]:
    qr = svc.qr_for(current_app.config["SECRET_KEY"], r) if owner and r.status == "reserved" else None
    return RedemptionOut(
        id=r.id,
        reward_id=r.reward_id,
        partner_id=r.partner_id,
        cost_points=r.cost_points,
        status=r.status,
        expires_at=r.expires_at,
        redeemed_at=r.redeemed_at,
        qr=qr,
        balance=balance,
    ).model_dump(mode="json")


@bp.get("/rewards", responses=responses(Page[RewardOut]), summary="the rewards catalogue")
@login_required
def catalogue(query: PageQuery) -> Any:
    """Active rewards of the partner units of the caller's community, cheapest first."""
    session = db_session()
    resident = session.get(Resident, current_principal().resident_id)
    stmt = (
        select(Reward)
        .join(PartnerUnit, PartnerUnit.id == Reward.partner_id)
        .where(Reward.active.is_(True), PartnerUnit.active.is_(True))
        .order_by(Reward.cost_points, Reward.id)
    )
    # Partner units serve their own community; a resident not yet bound to one sees an empty catalogue.
    stmt = stmt.where(PartnerUnit.community_id == (resident.community_id if resident else None))
    return paginate(session, stmt, query, lambda r: _reward_out(r, session.get(PartnerUnit, r.partner_id)))


@bp.post(
    "/rewards",
    responses=responses(RewardOut, status=201, errors=REWARD_ERRORS),
    summary="add a reward (partner)",
)
@require_roles("partner")
@idempotent
def create_reward(body: RewardCreate) -> Any:
    """A partner member adds a reward to their own unit's catalogue."""
    session = db_session()
    partner_id = current_principal().partner_id
    if partner_id is None:  # pragma: no cover - the partner role implies a partner id
        raise Forbidden("需要联盟单位身份")
    reward = svc.create_reward(session, partner_id, **body.model_dump())
    out = _reward_out(reward, session.get(PartnerUnit, partner_id))
    session.commit()
    return out, 201


@bp.post(
    "/rewards/<int:reward_id>/redeem",
    responses=responses(RedemptionOut, status=201, errors=REWARD_ERRORS),
    summary="spend points on a reward (Idempotency-Key required)",
)
@login_required
@idempotent
def redeem(path: RewardPath) -> Any:
    """Debit points, reserve stock and issue a single-use QR in one transaction; a replay changes nothing.

    The Idempotency-Key header is required here (spending): it is also the redemption's request key, so
    even a replay that outlives the idempotency record returns the first redemption.
    """
    key = (request.headers.get(HEADER) or "").strip()
    if not key:
        raise ApiError(428, "idempotency_key_required", f"使用积分需要请求头 {HEADER}（一个新的 UUID）")
    session = db_session()
    resident_id = current_principal().resident_id
    resident = session.get(Resident, resident_id)
    reward = session.get(Reward, path.reward_id)
    partner = session.get(PartnerUnit, reward.partner_id) if reward else None
    if reward is None or partner is None or resident is None or partner.community_id != resident.community_id:
        raise NotFound("奖品不存在或已下架")
    result = svc.redeem(session, resident_id, path.reward_id, request_key=key, secret=current_app.config["SECRET_KEY"])
    out = _redemption_out(result.redemption, owner=True, balance=result.balance)
    session.commit()
    return out, 201


@bp.get("/rewards/redemptions", responses=responses(Page[RedemptionOut]), summary="my redemptions and codes")
@login_required
def my_redemptions(query: PageQuery) -> Any:
    """The caller's redemptions, newest first, with the QR of those waiting to be picked up."""
    session = db_session()
    stmt = (
        select(Redemption)
        .where(Redemption.resident_id == current_principal().resident_id)
        .order_by(Redemption.id.desc())
    )
    return paginate(session, stmt, query, lambda r: _redemption_out(r, owner=True))


@bp.post(
    "/rewards/redemptions/<int:redemption_id>/cancel",
    responses=responses(RedemptionOut, errors=REWARD_ERRORS),
    summary="give up a reward before pickup (refund)",
)
@login_required
@idempotent
def cancel(path: RedemptionPath) -> Any:
    """Cancel an unredeemed reward: stock and points come back."""
    session = db_session()
    resident_id = current_principal().resident_id
    row = svc.cancel(session, path.redemption_id, resident_id)
    out = _redemption_out(row, owner=True, balance=points.balance_of(session, resident_id))
    session.commit()
    return out


@bp.post("/rewards/scan", responses=responses(RedemptionOut, errors=REWARD_ERRORS), summary="hand over (partner)")
@require_roles("partner")
def scan(body: ScanBody) -> Any:
    """A partner member scans the resident's code: valid once, before expiry, at the right partner unit."""
    session = db_session()
    principal = current_principal()
    row = svc.scan(
        session,
        body.token,
        secret=current_app.config["SECRET_KEY"],
        resident_id=principal.resident_id,
        staff_id=principal.staff_id,
    )
    out = _redemption_out(row, owner=False)
    session.commit()
    return out


@bp.get("/rewards/settlement", responses=responses(SettlementOut), summary="monthly settlement (partner)")
@require_roles("partner")
def settlement(query: SettlementQuery) -> Any:
    """How many rewards the caller's partner unit handed over in a month, and their points."""
    session = db_session()
    partner_id = current_principal().partner_id
    if partner_id is None:  # pragma: no cover - the partner role implies a partner id
        raise Forbidden("需要联盟单位身份")
    totals = svc.settlement(session, partner_id, query.month)
    return SettlementOut(partner_id=partner_id, month=query.month, **totals).model_dump()
