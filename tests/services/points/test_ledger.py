"""Volunteer points: append-only ledger, submissions, two-level review, caps by unique keys, reconcile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import DatabaseError, IntegrityError

from infra.web import get_db
from models import Resident
from models.points import PointsAccount, PointsLedger, TaskSubmission
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from services.points import ledger as points
from tests.concurrency import race


def volunteer(session: Any, org: Any, name: str = "张志愿", grid: str = "G1", **fields: Any) -> Resident:
    """A volunteer resident of the demo community."""
    fields.setdefault("is_volunteer", True)
    r = Resident(name=name, community_id=org.community.id, grid_id=org.grids[grid].id, **fields)
    session.add(r)
    session.flush()
    return r


def submit(session: Any, resident: Resident, category: Any, **kw: Any) -> TaskSubmission:
    """A valid submission with one photo and a location."""
    args: dict[str, Any] = {
        "text": "巡查3幢消防通道，清理堆物两处",
        "photos": ["media:abc"],
        "lat": 31.302,
        "lng": 120.702,
    }
    args.update(kw)
    return points.submit_task(session, resident.id, category.id, **args)


@pytest.fixture
def cats(session, org, clock):
    found = points.seed_task_categories(session)
    session.commit()
    return found


# ---------------------------------------------------------------- ledger


def test_credit_and_debit_move_the_cached_balance_and_append_rows(session, org, clock):
    r = volunteer(session, org)
    first = points.post(session, r.id, 30, kind="earn", source_type="manual", source_id=None, idempotency_key="k1")
    assert first.created
    assert first.balance == 30
    spent = points.post(session, r.id, -12, kind="spend", source_type="manual", source_id=None, idempotency_key="k2")
    assert spent.balance == 18
    session.commit()
    assert points.balance_of(session, r.id) == 18
    rows = points.ledger_of(session, r.id)
    assert [(e.delta, e.kind, e.period_key, e.grid_id) for e in rows] == [
        (-12, "spend", "2026-11", org.grids["G1"].id),
        (30, "earn", "2026-11", org.grids["G1"].id),
    ]
    assert points.reconcile(session) == []


def test_replaying_an_idempotency_key_changes_nothing(session, org, clock):
    r = volunteer(session, org)
    points.post(session, r.id, 10, kind="earn", source_type="manual", source_id=None, idempotency_key="same")
    again = points.post(session, r.id, 10, kind="earn", source_type="manual", source_id=None, idempotency_key="same")
    assert not again.created
    assert again.balance == 10
    assert session.scalar(select(func.count()).select_from(PointsLedger)) == 1
    with pytest.raises(Conflict, match="幂等键已用于另一笔"):
        points.post(session, r.id, 99, kind="earn", source_type="manual", source_id=None, idempotency_key="same")


def test_a_debit_beyond_the_balance_is_refused_and_leaves_no_trace(session, org, clock):
    r = volunteer(session, org)
    points.post(session, r.id, 5, kind="earn", source_type="manual", source_id=None, idempotency_key="in")
    with pytest.raises(points.InsufficientPoints, match="积分不足：需要 6 分，当前余额 5 分"):
        points.post(session, r.id, -6, kind="spend", source_type="manual", source_id=None, idempotency_key="out")
    session.commit()  # the savepoint rolled the refused debit back; the rest of the transaction stands
    assert points.balance_of(session, r.id) == 5
    assert session.scalar(select(PointsLedger).where(PointsLedger.idempotency_key == "out")) is None
    with pytest.raises(DomainError, match="不能为 0"):
        points.post(session, r.id, 0, kind="adjust", source_type="manual", source_id=None, idempotency_key="z")


def test_the_ledger_is_append_only_in_the_database(session, org, clock):
    r = volunteer(session, org)
    points.post(session, r.id, 5, kind="earn", source_type="manual", source_id=None, idempotency_key="a")
    session.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(sa.text("UPDATE points_ledger SET delta = 500"))
    session.rollback()
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(sa.text("DELETE FROM points_ledger"))
    session.rollback()
    assert points.balance_of(session, r.id) == 5


def test_the_balance_check_constraint_is_a_backstop(session, org, clock):
    r = volunteer(session, org)
    points.post(session, r.id, 5, kind="earn", source_type="manual", source_id=None, idempotency_key="a")
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(sa.text("UPDATE points_account SET balance = -1"))
    session.rollback()


def test_reconcile_finds_a_tampered_cache(session, org, clock):
    r = volunteer(session, org)
    points.post(session, r.id, 20, kind="earn", source_type="manual", source_id=None, idempotency_key="a")
    session.commit()
    assert points.reconcile(session) == []
    session.execute(sa.update(PointsAccount).values(balance=25))
    session.commit()
    assert points.reconcile(session) == [points.Mismatch(r.id, 25, 20)]


def test_qr_tokens_are_signed_and_typed():
    token = points.sign_qr("s3cret", "rdm", 42, "nonce")
    assert points.verify_qr("s3cret", "rdm", token) == (42, "nonce")
    with pytest.raises(DomainError, match="签名不符"):
        points.verify_qr("other", "rdm", token)
    with pytest.raises(DomainError, match="不是本类二维码"):
        points.verify_qr("s3cret", "evt", token)
    forged = token.replace(".42.", ".43.")
    with pytest.raises(DomainError, match="签名不符"):
        points.verify_qr("s3cret", "rdm", forged)


# ---------------------------------------------------------------- submissions and review


def test_submission_needs_a_volunteer_text_photo_and_location(session, org, clock, cats):
    cat = cats["hazard_inspection"]
    plain = volunteer(session, org, "王居民", is_volunteer=False)
    with pytest.raises(Forbidden, match="只有登记的志愿者"):
        submit(session, plain, cat)
    v = volunteer(session, org)
    with pytest.raises(DomainError, match="至少上传一张现场照片"):
        submit(session, v, cat, photos=[])
    with pytest.raises(DomainError, match="至少 5 个字"):
        submit(session, v, cat, text="巡查")
    with pytest.raises(DomainError, match="定位无效"):
        submit(session, v, cat, lat=95.0)
    with pytest.raises(DomainError, match="照片最多 9 张"):
        submit(session, v, cat, photos=[f"m{i}" for i in range(10)])
    with pytest.raises(DomainError, match="不能晚于现在"):
        submit(session, v, cat, occurred_at=clock.now() + timedelta(hours=1))
    with pytest.raises(DomainError, match="30 天内"):
        submit(session, v, cat, occurred_at=clock.now() - timedelta(days=31))
    s = submit(session, v, cat)
    assert (s.status, s.points, s.period_key, s.grid_id) == ("pending", 10, "2026-11", org.grids["G1"].id)
    assert points.balance_of(session, v.id) == 0  # nothing before review


def test_grid_leader_approval_credits_the_ledger_once(session, org, clock, cats):
    v = volunteer(session, org)
    s = submit(session, v, cats["hazard_inspection"])
    reviewed = points.review_task(session, s.id, org.staff["g1_leader"].id, approve=True)
    assert reviewed.status == "approved"
    assert reviewed.cap_slot == 1
    session.commit()
    assert points.balance_of(session, v.id) == 10
    entry = session.get(PointsLedger, reviewed.ledger_id)
    assert (entry.source_type, entry.source_id, entry.kind) == ("task_submission", s.id, "earn")
    with pytest.raises(InvalidTransition, match="已审核"):
        points.review_task(session, s.id, org.staff["g1_leader"].id, approve=True)
    assert points.balance_of(session, v.id) == 10


def test_reviewer_must_be_the_grid_leader_of_the_grid_and_not_the_submitter(session, org, clock, cats):
    v = volunteer(session, org)
    s = submit(session, v, cats["hazard_inspection"])
    with pytest.raises(Forbidden, match="只能审核本网格"):
        points.review_task(session, s.id, org.staff["g2_leader"].id, approve=True)
    with pytest.raises(Forbidden, match="无权审核"):
        points.review_task(session, s.id, org.staff["g1_worker"].id, approve=True)
    with pytest.raises(Forbidden, match="不能审核自己"):
        points.review_task(session, s.id, org.staff["g1_leader"].id, approve=True, reviewer_resident_id=v.id)
    # The same person by phone: the grid leader submitted as a volunteer and tries to approve it.
    leader = org.staff["g1_leader"]
    leader.phone = "13800001111"
    v.phone = "13800001111"
    session.flush()
    with pytest.raises(Forbidden, match="不能审核自己"):
        points.review_task(session, s.id, leader.id, approve=True)
    with pytest.raises(NotFound):
        points.review_task(session, 99999, leader.id, approve=True)


def test_rejection_needs_a_reason_and_credits_nothing(session, org, clock, cats):
    v = volunteer(session, org)
    s = submit(session, v, cats["hazard_inspection"])
    with pytest.raises(DomainError, match="驳回时请填写原因"):
        points.review_task(session, s.id, org.staff["g1_leader"].id, approve=False)
    done = points.review_task(session, s.id, org.staff["g1_leader"].id, approve=False, note="照片与描述不符")
    assert done.status == "rejected"
    assert done.review_note == "照片与描述不符"
    assert points.balance_of(session, v.id) == 0


def test_above_the_threshold_a_second_community_level_review_is_needed(session, org, clock, cats):
    v = volunteer(session, org)
    s = submit(session, v, cats["emergency_response"])  # 60 points > 50
    first = points.review_task(session, s.id, org.staff["g1_leader"].id, approve=True)
    assert first.status == "awaiting_second_review"
    assert points.balance_of(session, v.id) == 0
    with pytest.raises(Forbidden, match="无权审核"):
        points.review_task(session, s.id, org.staff["g1_leader"].id, approve=True)  # a grid leader again
    final = points.review_task(session, s.id, org.staff["secretary"].id, approve=True)
    assert final.status == "approved"
    assert final.second_reviewer_id == org.staff["secretary"].id
    assert points.balance_of(session, v.id) == 60


def test_second_reviewer_must_differ_from_the_first(session, org, clock, cats):
    v = volunteer(session, org)
    s = submit(session, v, cats["emergency_response"])
    points.review_task(session, s.id, org.staff["community_staff"].id, approve=True)
    with pytest.raises(Forbidden, match="另一位审核人"):
        points.review_task(session, s.id, org.staff["community_staff"].id, approve=True)


def test_the_per_period_cap_holds_and_a_new_month_starts_afresh(session, org, clock, cats):
    cat = cats["dispute_mediation"]  # 30 points, at most 4 a month
    v = volunteer(session, org)
    leader = org.staff["g1_leader"].id
    subs = [submit(session, v, cat) for _ in range(5)]
    for s in subs[:4]:
        points.review_task(session, s.id, leader, approve=True)
    session.commit()
    with pytest.raises(Conflict, match="「矛盾调解」每月最多计 4 次积分"):
        points.review_task(session, subs[4].id, leader, approve=True)
    session.rollback()
    assert points.balance_of(session, v.id) == 120
    clock.advance(timedelta(days=15))  # December in Suzhou
    dec = submit(session, v, cat)
    assert dec.period_key == "2026-12"
    assert points.review_task(session, dec.id, leader, approve=True).cap_slot == 1


def test_the_cap_is_a_unique_key_in_the_database(session, org, clock, cats):
    cat = cats["hazard_inspection"]
    v = volunteer(session, org)
    a, b = submit(session, v, cat), submit(session, v, cat)
    a.cap_slot = 1
    session.flush()
    b.cap_slot = 1
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_review_queue_shows_the_leaders_grid_only(session, org, clock, cats):
    g1 = volunteer(session, org, "甲")
    g2 = volunteer(session, org, "乙", grid="G2")
    s1 = submit(session, g1, cats["info_collection"])
    s2 = submit(session, g2, cats["info_collection"])
    assert [s.id for s in points.review_queue(session, org.staff["g1_leader"].id)] == [s1.id]
    assert {s.id for s in points.review_queue(session, org.staff["secretary"].id)} == {s1.id, s2.id}
    with pytest.raises(Forbidden):
        points.review_queue(session, org.staff["pc_lh"].id)


def test_partner_membership_lookup(session, org, clock):
    r = volunteer(session, org, "店主")
    partner = points.create_partner(session, org.community.id, "P-CAFE", "湖畔咖啡")
    assert points.partner_id_for_resident(session, r.id) is None
    points.add_partner_member(session, partner.id, resident_id=r.id)
    points.add_partner_member(session, partner.id, staff_id=org.staff["community_staff"].id)
    assert points.partner_id_for_resident(session, r.id) == partner.id
    assert points.partner_id_for_staff(session, org.staff["community_staff"].id) == partner.id
    partner.active = False
    session.flush()
    assert points.partner_id_for_resident(session, r.id) is None
    with pytest.raises(DomainError, match="一位居民或一位工作人员"):
        points.add_partner_member(session, partner.id)


# ---------------------------------------------------------------- concurrency


def _concurrent_approvals_respect_the_cap(app: Any) -> None:
    db = get_db(app)
    with db.transaction() as s:
        from services.demo import seed_org

        org = seed_org(s)
        cats = points.seed_task_categories(s)
        v = volunteer(s, org)
        ids = [submit(s, v, cats["dispute_mediation"]).id for _ in range(12)]
        leader, vid = org.staff["g1_leader"].id, v.id
    results = race(db, 12, lambda s, i: points.review_task(s, ids[i], leader, approve=True).id)
    ok = [r for r in results if isinstance(r, int)]
    assert len(ok) == 4, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, int))
    with db.transaction() as s:
        assert points.balance_of(s, vid) == 120
        slots = sorted(s.scalars(select(TaskSubmission.cap_slot).where(TaskSubmission.cap_slot.is_not(None))))
        assert slots == [1, 2, 3, 4]
        assert points.reconcile(s) == []


def test_concurrent_approvals_respect_the_cap_on_sqlite(app, clock):
    _concurrent_approvals_respect_the_cap(app)


@pytest.mark.postgres
def test_concurrent_approvals_respect_the_cap_on_postgres(pg_app, clock):
    _concurrent_approvals_respect_the_cap(pg_app)


@pytest.mark.postgres
def test_ledger_is_append_only_on_postgres(pg_app, clock):
    db = get_db(pg_app)
    with db.transaction() as s:
        from services.demo import seed_org

        org = seed_org(s)
        r = volunteer(s, org)
        points.post(s, r.id, 5, kind="earn", source_type="manual", source_id=None, idempotency_key="a")
    with db.session() as s, pytest.raises(DatabaseError, match="append-only"):
        s.execute(sa.text("UPDATE points_ledger SET delta = 7"))
