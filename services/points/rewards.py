"""Rewards from partner units (联盟单位): catalogue, redemption, single-use QR hand-over, expiry refunds.

A redemption is one transaction: lock the resident's points account, replay check on
(resident, request_key), per-person limit as a numbered slot under a UNIQUE key, conditional stock decrement
`UPDATE reward SET stock = stock - 1 WHERE id = ? AND stock > 0`, conditional balance debit through the
ledger, then a signed single-use QR. The partner's scan is a conditional UPDATE on `status = 'reserved'`, so a
second scan changes nothing and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra import clock
from models import Resident
from models.points import PartnerMember, PartnerUnit, Redemption, Reward
from services.errors import Conflict, DomainError, Forbidden, NotFound
from services.points import ledger as points

QR_KIND = "rdm"


def create_reward(
    session: Session,
    partner_id: int,
    *,
    name: str,
    cost_points: int,
    stock: int,
    per_person_limit: int | None = None,
    pickup_days: int = 7,
    description: str = "",
) -> Reward:
    """Add a reward to a partner unit's catalogue."""
    if session.get(PartnerUnit, partner_id) is None:
        raise NotFound("联盟单位不存在")
    if cost_points <= 0:
        raise DomainError("兑换所需积分必须大于 0", code="bad_cost")
    if stock < 0:
        raise DomainError("库存不能为负数", code="bad_stock")
    if per_person_limit is not None and per_person_limit <= 0:
        raise DomainError("每人限兑数量必须大于 0", code="bad_limit")
    if pickup_days <= 0:
        raise DomainError("领取期限必须大于 0 天", code="bad_pickup_days")
    reward = Reward(
        partner_id=partner_id,
        name=name.strip(),
        description=description.strip(),
        cost_points=cost_points,
        stock=stock,
        per_person_limit=per_person_limit,
        pickup_days=pickup_days,
    )
    session.add(reward)
    session.flush()
    return reward


def catalogue(
    session: Session, *, community_id: int | None = None, limit: int = 50, offset: int = 0
) -> list[tuple[Reward, PartnerUnit]]:
    """Active rewards of active partner units (of the community when given), cheapest first."""
    stmt = (
        select(Reward, PartnerUnit)
        .join(PartnerUnit, PartnerUnit.id == Reward.partner_id)
        .where(Reward.active.is_(True), PartnerUnit.active.is_(True))
        .order_by(Reward.cost_points, Reward.id)
        .limit(limit)
        .offset(offset)
    )
    if community_id is not None:
        stmt = stmt.where(PartnerUnit.community_id == community_id)
    return [(r, p) for r, p in session.execute(stmt).all()]


@dataclass(frozen=True)
class RedeemResult:
    """A redemption, whether this call created it (False on a replay), and the QR payload to show."""

    redemption: Redemption
    created: bool
    qr: str
    balance: int


def qr_for(secret: str, redemption: Redemption) -> str:
    """The signed QR payload of a redemption (shown only to its owner)."""
    return points.sign_qr(secret, QR_KIND, redemption.id, redemption.qr_nonce)


def redeem(session: Session, resident_id: int, reward_id: int, *, request_key: str, secret: str) -> RedeemResult:
    """Spend points on a reward: debit, stock and per-person limit in one transaction; replay-safe by key."""
    request_key = (request_key or "").strip()
    if not request_key or len(request_key) > 200:
        raise DomainError("缺少或过长的请求幂等键", code="bad_request_key")
    if session.get(Resident, resident_id) is None:
        raise NotFound("居民不存在")
    # Serialise this resident's spending: the account row lock (PostgreSQL) or BEGIN IMMEDIATE (SQLite)
    # makes the replay check and the per-person count below race-free.
    account = points.lock_account(session, resident_id)
    existing = session.scalar(
        select(Redemption).where(Redemption.resident_id == resident_id, Redemption.request_key == request_key)
    )
    if existing is not None:
        if existing.reward_id != reward_id:
            raise Conflict("该幂等键已用于兑换另一件奖品", code="idempotency_mismatch")
        return RedeemResult(existing, False, qr_for(secret, existing), points.balance_of(session, resident_id))
    reward = session.get(Reward, reward_id)
    partner = session.get(PartnerUnit, reward.partner_id) if reward else None
    if reward is None or partner is None or not reward.active or not partner.active:
        raise NotFound("奖品不存在或已下架")
    balance = account.balance if account is not None else 0
    if balance < reward.cost_points:
        raise points.InsufficientPoints(
            f"积分不足：兑换「{reward.name}」需要 {reward.cost_points} 分，当前余额 {balance} 分",
            details={"needed": reward.cost_points, "balance": balance},
        )
    slot = _limit_slot(session, resident_id, reward)
    # Conditional decrement: 0 rows means sold out, whatever other requests are doing right now.
    took = session.execute(
        update(Reward)
        .where(Reward.id == reward.id, Reward.stock > 0)
        .values(stock=Reward.stock - 1)
        .returning(Reward.stock)
    ).scalar()
    if took is None:
        raise Conflict(f"「{reward.name}」已兑完", code="out_of_stock")
    now = clock.now()
    redemption = Redemption(
        resident_id=resident_id,
        reward_id=reward.id,
        partner_id=reward.partner_id,
        request_key=request_key,
        cost_points=reward.cost_points,
        status="reserved",
        limit_slot=slot,
        qr_nonce=points.new_nonce(),
        expires_at=now + timedelta(days=reward.pickup_days),
    )
    session.flush()  # pending changes go first: begin_nested() would flush them outside the savepoint
    try:
        with session.begin_nested():
            session.add(redemption)
            session.flush()
    except IntegrityError:
        # Only reachable if two requests raced past the account lock (no account row yet): the UNIQUE keys
        # on (resident, request_key) and (reward, resident, limit_slot) refused the second one.
        raise Conflict("兑换请求冲突，请稍后重试", code="redeem_race") from None
    posting = points.post(
        session,
        resident_id,
        -reward.cost_points,
        kind="spend",
        source_type="redemption",
        source_id=redemption.id,
        idempotency_key=f"redemption:{redemption.id}",
        reason=f"兑换 {reward.name}",
    )
    return RedeemResult(redemption, True, qr_for(secret, redemption), posting.balance)


def _limit_slot(session: Session, resident_id: int, reward: Reward) -> int | None:
    """The lowest free per-person slot, or None when the reward has no limit; refuses when all are taken."""
    if reward.per_person_limit is None:
        return None
    taken = set(
        session.scalars(
            select(Redemption.limit_slot).where(
                Redemption.reward_id == reward.id,
                Redemption.resident_id == resident_id,
                Redemption.limit_slot.is_not(None),
            )
        )
    )
    for slot in range(1, reward.per_person_limit + 1):
        if slot not in taken:
            return slot
    raise Conflict(f"「{reward.name}」每人限兑 {reward.per_person_limit} 份，您已兑满", code="limit_reached")


def scanner_member(session: Session, *, resident_id: int | None, staff_id: int | None) -> PartnerMember | None:
    """The active partner membership of the caller (as a resident first, then as staff), or None."""
    for column, value in ((PartnerMember.resident_id, resident_id), (PartnerMember.staff_id, staff_id)):
        if value is None:
            continue
        member = session.scalar(
            select(PartnerMember)
            .join(PartnerUnit, PartnerUnit.id == PartnerMember.partner_id)
            .where(column == value, PartnerMember.active.is_(True), PartnerUnit.active.is_(True))
            .order_by(PartnerMember.id)
            .limit(1)
        )
        if member is not None:
            return member
    return None


def scan(
    session: Session, token: str, *, secret: str, resident_id: int | None = None, staff_id: int | None = None
) -> Redemption:
    """A partner member scans the resident's QR to hand over the reward; the second scan is refused."""
    redemption_id, nonce = points.verify_qr(secret, QR_KIND, token)
    member = scanner_member(session, resident_id=resident_id, staff_id=staff_id)
    if member is None:
        raise Forbidden("只有联盟单位的核销人员可以扫码核销", code="not_partner")
    redemption = session.get(Redemption, redemption_id)
    if redemption is None or redemption.qr_nonce != nonce:
        raise NotFound("兑换记录不存在")
    if redemption.partner_id != member.partner_id:
        raise Forbidden("该奖品不属于本单位，不能核销", code="other_partner")
    member_id = member.id
    now = clock.now()
    # Single use: the state predicate is part of the UPDATE, so of two simultaneous scans exactly one wins.
    done = session.execute(
        update(Redemption)
        .where(Redemption.id == redemption_id, Redemption.status == "reserved", Redemption.expires_at > now)
        .values(status="redeemed", redeemed_at=now, redeemed_by_member_id=member_id, updated_at=now)
        .returning(Redemption.id)
    ).scalar()
    session.refresh(redemption)
    if done is None:
        if redemption.status == "redeemed":
            raise Conflict("该兑换码已核销，不能重复使用", code="already_redeemed")
        if redemption.status in ("expired", "cancelled") or redemption.expires_at <= now:
            raise Conflict("该兑换码已过期或已取消，积分已退回", code="redemption_expired")
        raise Conflict("该兑换码当前不可核销", code="not_redeemable")
    return redemption


def _refund(session: Session, redemption: Redemption, new_status: str, reason: str) -> bool:
    """Move a reserved redemption to `new_status`, return stock and points; False if already moved."""
    now = clock.now()
    moved = session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.status == "reserved")
        .values(status=new_status, refunded_at=now, limit_slot=None, updated_at=now)
        .returning(Redemption.id)
    ).scalar()
    if moved is None:
        return False
    session.execute(update(Reward).where(Reward.id == redemption.reward_id).values(stock=Reward.stock + 1))
    points.post(
        session,
        redemption.resident_id,
        redemption.cost_points,
        kind="refund",
        source_type="redemption",
        source_id=redemption.id,
        idempotency_key=f"refund:redemption:{redemption.id}",
        reason=reason,
    )
    session.refresh(redemption)
    return True


def cancel(session: Session, redemption_id: int, resident_id: int) -> Redemption:
    """The resident gives up an unredeemed reward: stock and points come back."""
    redemption = session.get(Redemption, redemption_id)
    if redemption is None or redemption.resident_id != resident_id:
        raise NotFound("兑换记录不存在")
    if not _refund(session, redemption, "cancelled", "取消兑换退回"):
        raise Conflict(f"该兑换已{_STATUS_NAMES.get(redemption.status, redemption.status)}，不能取消")
    return redemption


_STATUS_NAMES = {"reserved": "待领取", "redeemed": "核销", "expired": "过期", "cancelled": "取消"}


def expire_due(session: Session, now: datetime | None = None, *, limit: int = 500) -> int:
    """Expire reserved redemptions past their pickup deadline and refund them (idempotent); the count."""
    now = now or clock.now()
    due = list(
        session.scalars(
            select(Redemption)
            .where(Redemption.status == "reserved", Redemption.expires_at <= now)
            .order_by(Redemption.id)
            .limit(limit)
        )
    )
    return sum(1 for r in due if _refund(session, r, "expired", "兑换码过期退回"))


def redemptions_of(session: Session, resident_id: int, *, limit: int = 50, offset: int = 0) -> list[Redemption]:
    """A resident's redemptions, newest first."""
    return list(
        session.scalars(
            select(Redemption)
            .where(Redemption.resident_id == resident_id)
            .order_by(Redemption.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def settlement(session: Session, partner_id: int, month: str) -> dict[str, int]:
    """A partner unit's monthly settlement: rewards handed over in local month YYYY-MM and their points."""
    rows = session.execute(
        select(Redemption.redeemed_at, Redemption.cost_points).where(
            Redemption.partner_id == partner_id, Redemption.status == "redeemed"
        )
    ).all()
    picked = [cost for at, cost in rows if at is not None and points.season_key(at) == month]
    return {"count": len(picked), "points": int(sum(picked))}


def stock_of(session: Session, reward_id: int) -> int:
    """Current stock of a reward."""
    return int(session.scalar(select(Reward.stock).where(Reward.id == reward_id)) or 0)


def count_active(session: Session, reward_id: int) -> int:
    """Redemptions of a reward that hold stock (reserved or redeemed)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Redemption)
            .where(Redemption.reward_id == reward_id, Redemption.status.in_(("reserved", "redeemed")))
        )
        or 0
    )
