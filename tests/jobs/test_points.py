"""Points cron jobs: reconciliation proves cached == SUM(ledger) or fails loudly; expiry refunds once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from jobs import points as points_jobs
from models import Resident
from services.points import ledger as points
from services.points import rewards


def _funded(session, org, amount: int) -> Resident:
    r = Resident(name="吴居民", community_id=org.community.id, grid_id=org.grids["G1"].id)
    session.add(r)
    session.flush()
    points.post(session, r.id, amount, kind="earn", source_type="manual", source_id=None, idempotency_key=f"f{r.id}")
    return r


def test_reconcile_passes_when_cache_equals_ledger_and_fails_loudly_otherwise(app, session, org, clock):
    r = _funded(session, org, 40)
    session.commit()
    with app.app_context():
        assert points_jobs.reconcile() == 1
    session.execute(sa.update(points.PointsAccount).values(balance=41))
    session.commit()
    with app.app_context(), pytest.raises(points_jobs.LedgerMismatch, match="1 points account"):
        points_jobs.reconcile()
    assert points.reconcile(session) == [points.Mismatch(r.id, 41, 40)]


def test_expire_redemptions_refunds_once(app, session, org, clock):
    r = _funded(session, org, 40)
    partner = points.create_partner(session, org.community.id, "P-J", "联盟药房")
    reward = rewards.create_reward(session, partner.id, name="口罩", cost_points=15, stock=3, pickup_days=2)
    rewards.redeem(session, r.id, reward.id, request_key="k", secret="s")
    session.commit()
    with app.app_context():
        assert points_jobs.expire_redemptions() == 0
    clock.advance(timedelta(days=2))
    with app.app_context():
        assert points_jobs.expire_redemptions() == 1
    with app.app_context():
        assert points_jobs.expire_redemptions() == 0
    session.expire_all()
    assert points.balance_of(session, r.id) == 40
    assert rewards.stock_of(session, reward.id) == 3
    assert points.reconcile(session) == []


def test_jobs_run_through_rq_with_stable_ids(app, session, org, clock, run_jobs):
    _funded(session, org, 10)
    session.commit()
    with app.app_context():
        from jobs.queue import enqueue, get_queue

        enqueue("jobs.points.reconcile", job_id="points-reconcile-2026-11-20")
        assert enqueue("jobs.points.reconcile", job_id="points-reconcile-2026-11-20") is None  # idempotent
        assert run_jobs() == 1
        assert get_queue().finished_job_registry.get_job_ids() == ["points-reconcile-2026-11-20"]
