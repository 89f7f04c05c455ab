"""Rewards: one-transaction redemption, per-person limits, single-use QR, expiry refunds, no double spend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from infra.web import get_db
from models import Resident
from models.points import PointsLedger, Redemption
from services.errors import Conflict, DomainError, Forbidden, NotFound
from services.points import ledger as points
from services.points import rewards
from tests.concurrency import race

SECRET = "test-secret"


def resident(session: Any, org: Any, name: str = "刘居民", grid: str = "G1") -> Resident:
    r = Resident(name=name, community_id=org.community.id, grid_id=org.grids[grid].id, is_volunteer=True)
    session.add(r)
    session.flush()
    return r


def fund(session: Any, r: Resident, amount: int, key: str | None = None) -> None:
    points.post(
        session,
        r.id,
        amount,
        kind="earn",
        source_type="manual",
        source_id=None,
        idempotency_key=key or f"f{r.id}",
    )


@pytest.fixture
def shop(session, org, clock):
    """A partner unit with one scanning member, and a 10-point reward with ample stock."""
    partner = points.create_partner(session, org.community.id, "P-TEA", "湖畔茶社")
    clerk = resident(session, org, "茶社店员")
    member = points.add_partner_member(session, partner.id, resident_id=clerk.id)
    reward = rewards.create_reward(session, partner.id, name="茶饮券", cost_points=10, stock=100)
    session.commit()
    return {"partner": partner, "clerk": clerk, "member": member, "reward": reward}


def test_redeem_debits_reserves_stock_and_issues_a_qr(session, org, clock, shop):
    r = resident(session, org)
    fund(session, r, 25)
    result = rewards.redeem(session, r.id, shop["reward"].id, request_key="req-1", secret=SECRET)
    session.commit()
    assert result.created
    assert result.balance == 15
    red = result.redemption
    assert (red.status, red.cost_points, red.expires_at) == ("reserved", 10, clock.now() + timedelta(days=7))
    assert rewards.stock_of(session, shop["reward"].id) == 99
    debit = session.scalar(select(PointsLedger).where(PointsLedger.idempotency_key == f"redemption:{red.id}"))
    assert (debit.delta, debit.kind, debit.source_type, debit.source_id) == (
        -10,
        "spend",
        "redemption",
        red.id,
    )
    assert points.verify_qr(SECRET, "rdm", result.qr) == (red.id, red.qr_nonce)
    assert points.reconcile(session) == []


def test_a_replayed_request_key_returns_the_first_redemption(session, org, clock, shop):
    r = resident(session, org)
    fund(session, r, 25)
    first = rewards.redeem(session, r.id, shop["reward"].id, request_key="req-1", secret=SECRET)
    again = rewards.redeem(session, r.id, shop["reward"].id, request_key="req-1", secret=SECRET)
    assert not again.created
    assert again.redemption.id == first.redemption.id
    assert again.qr == first.qr
    assert points.balance_of(session, r.id) == 15
    assert rewards.stock_of(session, shop["reward"].id) == 99
    other = rewards.create_reward(session, shop["partner"].id, name="书签", cost_points=1, stock=5)
    with pytest.raises(Conflict, match="另一件奖品"):
        rewards.redeem(session, r.id, other.id, request_key="req-1", secret=SECRET)


def test_refusals_say_why(session, org, clock, shop):
    r = resident(session, org)
    with pytest.raises(points.InsufficientPoints, match="需要 10 分，当前余额 0 分"):
        rewards.redeem(session, r.id, shop["reward"].id, request_key="a", secret=SECRET)
    fund(session, r, 100)
    with pytest.raises(NotFound, match="奖品不存在"):
        rewards.redeem(session, r.id, 9999, request_key="b", secret=SECRET)
    empty = rewards.create_reward(session, shop["partner"].id, name="限量徽章", cost_points=5, stock=0)
    with pytest.raises(Conflict, match="「限量徽章」已兑完"):
        rewards.redeem(session, r.id, empty.id, request_key="c", secret=SECRET)
    limited = rewards.create_reward(
        session, shop["partner"].id, name="月饼", cost_points=5, stock=9, per_person_limit=2
    )
    rewards.redeem(session, r.id, limited.id, request_key="d1", secret=SECRET)
    rewards.redeem(session, r.id, limited.id, request_key="d2", secret=SECRET)
    with pytest.raises(Conflict, match="每人限兑 2 份"):
        rewards.redeem(session, r.id, limited.id, request_key="d3", secret=SECRET)
    with pytest.raises(DomainError, match="幂等键"):
        rewards.redeem(session, r.id, limited.id, request_key="", secret=SECRET)
    shop["reward"].active = False
    session.flush()
    with pytest.raises(NotFound, match="已下架"):
        rewards.redeem(session, r.id, shop["reward"].id, request_key="e", secret=SECRET)
    with pytest.raises(DomainError, match="必须大于 0"):
        rewards.create_reward(session, shop["partner"].id, name="x", cost_points=0, stock=1)


def test_a_cancelled_redemption_frees_its_per_person_slot(session, org, clock, shop):
    r = resident(session, org)
    fund(session, r, 100)
    limited = rewards.create_reward(
        session, shop["partner"].id, name="月饼", cost_points=5, stock=9, per_person_limit=1
    )
    first = rewards.redeem(session, r.id, limited.id, request_key="x1", secret=SECRET).redemption
    rewards.cancel(session, first.id, r.id)
    assert first.status == "cancelled"
    assert first.limit_slot is None
    assert points.balance_of(session, r.id) == 100
    assert rewards.stock_of(session, limited.id) == 9
    assert rewards.redeem(session, r.id, limited.id, request_key="x2", secret=SECRET).redemption.limit_slot == 1
    with pytest.raises(Conflict, match="已取消，不能取消"):
        rewards.cancel(session, first.id, r.id)
    stranger = resident(session, org, "路人")
    with pytest.raises(NotFound):
        rewards.cancel(session, first.id, stranger.id)


def test_scan_hands_over_once_and_only_at_the_right_partner(session, org, clock, shop):
    r = resident(session, org)
    fund(session, r, 30)
    result = rewards.redeem(session, r.id, shop["reward"].id, request_key="q", secret=SECRET)
    session.commit()
    with pytest.raises(Forbidden, match="只有联盟单位的核销人员"):
        rewards.scan(session, result.qr, secret=SECRET, resident_id=r.id)
    other = points.create_partner(session, org.community.id, "P-GYM", "健身房")
    points.add_partner_member(session, other.id, staff_id=org.staff["community_staff"].id)
    with pytest.raises(Forbidden, match="不属于本单位"):
        rewards.scan(session, result.qr, secret=SECRET, staff_id=org.staff["community_staff"].id)
    forged = result.qr[:-1] + ("1" if result.qr.endswith("0") else "0")  # always differs from the real code
    with pytest.raises(DomainError, match="签名不符"):
        rewards.scan(session, forged, secret=SECRET, resident_id=shop["clerk"].id)
    done = rewards.scan(session, result.qr, secret=SECRET, resident_id=shop["clerk"].id)
    assert done.status == "redeemed"
    assert done.redeemed_by_member_id == shop["member"].id
    session.commit()
    with pytest.raises(Conflict, match="已核销，不能重复使用"):
        rewards.scan(session, result.qr, secret=SECRET, resident_id=shop["clerk"].id)
    with pytest.raises(Conflict, match="已核销"):
        rewards.cancel(session, done.id, r.id)
    assert rewards.settlement(session, shop["partner"].id, "2026-11") == {"count": 1, "points": 10}
    assert rewards.settlement(session, shop["partner"].id, "2026-12") == {"count": 0, "points": 0}


def test_expiry_refunds_points_and_stock_once(session, org, clock, shop):
    r = resident(session, org)
    fund(session, r, 30)
    result = rewards.redeem(session, r.id, shop["reward"].id, request_key="q", secret=SECRET)
    session.commit()
    assert rewards.expire_due(session) == 0
    clock.advance(timedelta(days=7))
    with pytest.raises(Conflict, match="已过期"):
        rewards.scan(session, result.qr, secret=SECRET, resident_id=shop["clerk"].id)
    assert rewards.expire_due(session) == 1
    assert rewards.expire_due(session) == 0
    session.commit()
    assert points.balance_of(session, r.id) == 30
    assert rewards.stock_of(session, shop["reward"].id) == 100
    refund = session.scalar(
        select(PointsLedger).where(PointsLedger.idempotency_key == f"refund:redemption:{result.redemption.id}")
    )
    assert (refund.delta, refund.kind) == (10, "refund")
    with pytest.raises(Conflict, match="已过期或已取消"):
        rewards.scan(session, result.qr, secret=SECRET, resident_id=shop["clerk"].id)
    assert points.reconcile(session) == []


def test_catalogue_lists_active_rewards_of_the_community(session, org, clock, shop):
    rewards.create_reward(session, shop["partner"].id, name="书签", cost_points=2, stock=5)
    names = [r.name for r, _ in rewards.catalogue(session, community_id=org.community.id)]
    assert names == ["书签", "茶饮券"]
    assert rewards.catalogue(session, community_id=org.community.id + 1) == []


# ---------------------------------------------------------------- concurrency (SQLite and PostgreSQL)


def _setup(db: Any, *, residents: int, funds: int, stock: int) -> tuple[list[int], int, int]:
    from services.demo import seed_org

    with db.transaction() as s:
        org = seed_org(s)
        partner = points.create_partner(s, org.community.id, "P-RACE", "联盟超市")
        reward = rewards.create_reward(s, partner.id, name="大米", cost_points=10, stock=stock)
        ids = []
        for i in range(residents):
            r = resident(s, org, f"居民{i}")
            fund(s, r, funds)
            ids.append(r.id)
        return ids, reward.id, partner.id


def _fifty_redemptions_against_a_balance_for_ten(app: Any) -> None:
    db = get_db(app)
    (rid,), reward_id, _ = _setup(db, residents=1, funds=100, stock=500)
    results = race(db, 50, lambda s, i: rewards.redeem(s, rid, reward_id, request_key=f"k{i}", secret=SECRET))
    ok = [r for r in results if isinstance(r, rewards.RedeemResult)]
    refused = [r for r in results if isinstance(r, points.InsufficientPoints)]
    crashes = [r for r in results if not isinstance(r, rewards.RedeemResult | points.InsufficientPoints)]
    assert crashes == []
    assert len(ok) == 10
    assert len(refused) == 40
    with db.transaction() as s:
        assert points.balance_of(s, rid) == 0
        assert rewards.stock_of(s, reward_id) == 490
        assert s.scalar(select(func.count()).select_from(Redemption)) == 10
        assert s.scalar(select(func.sum(PointsLedger.delta)).where(PointsLedger.resident_id == rid)) == 0
        assert points.reconcile(s) == []


def _fifty_residents_against_a_stock_of_ten(app: Any) -> None:
    db = get_db(app)
    ids, reward_id, _ = _setup(db, residents=50, funds=10, stock=10)
    results = race(db, 50, lambda s, i: rewards.redeem(s, ids[i], reward_id, request_key="k", secret=SECRET))
    ok = [r for r in results if isinstance(r, rewards.RedeemResult)]
    sold_out = [r for r in results if isinstance(r, Conflict) and r.code == "out_of_stock"]
    assert len(ok) == 10
    assert len(sold_out) == 40
    with db.transaction() as s:
        assert rewards.stock_of(s, reward_id) == 0
        assert sum(points.balance_of(s, i) for i in ids) == 400
        assert points.reconcile(s) == []


def _the_same_key_fifty_times_spends_once(app: Any) -> None:
    db = get_db(app)
    (rid,), reward_id, _ = _setup(db, residents=1, funds=100, stock=500)
    results = race(db, 50, lambda s, i: rewards.redeem(s, rid, reward_id, request_key="one", secret=SECRET))
    ok = [r for r in results if isinstance(r, rewards.RedeemResult)]
    assert len(ok) == 50, [r for r in results if not isinstance(r, rewards.RedeemResult)][:3]
    assert sum(r.created for r in ok) == 1
    assert len({r.redemption.id for r in ok}) == 1
    with db.transaction() as s:
        assert points.balance_of(s, rid) == 90
        assert rewards.stock_of(s, reward_id) == 499


def _double_scanrace(app: Any) -> None:
    db = get_db(app)
    (rid,), reward_id, partner_id = _setup(db, residents=1, funds=100, stock=5)
    with db.transaction() as s:
        from services.demo import seed_org

        org = seed_org(s)
        clerk = resident(s, org, "店员")
        points.add_partner_member(s, partner_id, resident_id=clerk.id)
        qr = rewards.redeem(s, rid, reward_id, request_key="k", secret=SECRET).qr
        clerk_id = clerk.id
    results = race(db, 20, lambda s, i: rewards.scan(s, qr, secret=SECRET, resident_id=clerk_id).id)
    assert sum(isinstance(r, int) for r in results) == 1
    assert all(r.code == "already_redeemed" for r in results if not isinstance(r, int))


def test_fifty_redemptions_against_a_balance_for_ten_on_sqlite(app, clock):
    _fifty_redemptions_against_a_balance_for_ten(app)


@pytest.mark.postgres
def test_fifty_redemptions_against_a_balance_for_ten_on_postgres(pg_app, clock):
    _fifty_redemptions_against_a_balance_for_ten(pg_app)


def test_fifty_residents_against_a_stock_of_ten_on_sqlite(app, clock):
    _fifty_residents_against_a_stock_of_ten(app)


@pytest.mark.postgres
def test_fifty_residents_against_a_stock_of_ten_on_postgres(pg_app, clock):
    _fifty_residents_against_a_stock_of_ten(pg_app)


def test_the_same_key_fifty_times_spends_once_on_sqlite(app, clock):
    _the_same_key_fifty_times_spends_once(app)


@pytest.mark.postgres
def test_the_same_key_fifty_times_spends_once_on_postgres(pg_app, clock):
    _the_same_key_fifty_times_spends_once(pg_app)


def test_a_qr_scanned_twice_at_once_hands_over_once_on_sqlite(app, clock):
    _double_scanrace(app)


@pytest.mark.postgres
def test_a_qr_scanned_twice_at_once_hands_over_once_on_postgres(pg_app, clock):
    _double_scanrace(pg_app)
