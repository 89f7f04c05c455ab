"""Rewards over HTTP: catalogue, redeem (Idempotency-Key required), replay, partner scan, cancel, settle."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from infra.web import get_db
from models.points import PointsLedger, Redemption
from services.points import ledger as points
from services.points import rewards
from tests.miniapp_api.conftest import make_login, resident_id_of


def setup_shop(session: Any, org: Any, login_as: Any) -> dict[str, Any]:
    """A partner unit with a clerk who logs in, a 10-point reward, and a funded resident."""
    # Log in first: on SQLite an open transaction in `session` holds the write lock that login needs.
    clerk = login_as(None, community_id=org.community.id)
    buyer = login_as(None, community_id=org.community.id, grid_id=org.grids["G1"].id)
    partner = points.create_partner(session, org.community.id, "P-TEA", "湖畔茶社")
    reward = rewards.create_reward(session, partner.id, name="茶饮券", cost_points=10, stock=50)
    points.add_partner_member(session, partner.id, resident_id=resident_id_of(session, clerk))
    rid = resident_id_of(session, buyer)
    points.post(session, rid, 25, kind="earn", source_type="manual", source_id=None, idempotency_key="fund")
    session.commit()
    return {"partner": partner, "reward": reward, "clerk": clerk, "buyer": buyer, "buyer_id": rid}


def test_redeem_scan_once_and_settle(client, session, login_as, org, clock):
    shop = setup_shop(session, org, login_as)
    buyer, clerk, reward_id = shop["buyer"], shop["clerk"], shop["reward"].id
    items = client.get("/api/v1/rewards", headers=buyer).get_json()["items"]
    assert [(i["name"], i["partner_name"], i["stock"]) for i in items] == [("茶饮券", "湖畔茶社", 50)]
    r = client.post(f"/api/v1/rewards/{reward_id}/redeem", headers=buyer)
    assert r.status_code == 428
    assert r.get_json()["code"] == "idempotency_key_required"
    r = client.post(f"/api/v1/rewards/{reward_id}/redeem", headers={**buyer, "Idempotency-Key": "k1"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["status"] == "reserved"
    assert body["balance"] == 15
    assert body["qr"]
    r = client.post("/api/v1/rewards/scan", json={"token": body["qr"]}, headers=buyer)
    assert r.status_code == 403  # only partner members scan
    r = client.post("/api/v1/rewards/scan", json={"token": body["qr"]}, headers=clerk)
    assert r.status_code == 200
    assert r.get_json()["status"] == "redeemed"
    assert r.get_json()["qr"] is None
    r = client.post("/api/v1/rewards/scan", json={"token": body["qr"]}, headers=clerk)
    assert r.status_code == 409
    assert r.get_json() == {
        "code": "already_redeemed",
        "message": "该兑换码已核销，不能重复使用",
    }
    settle = client.get("/api/v1/rewards/settlement?month=2026-11", headers=clerk).get_json()
    assert settle == {"partner_id": shop["partner"].id, "month": "2026-11", "count": 1, "points": 10}
    mine = client.get("/api/v1/rewards/redemptions", headers=buyer).get_json()["items"]
    assert [(i["status"], i["qr"]) for i in mine] == [("redeemed", None)]


def test_replay_returns_the_first_answer_and_spends_once(client, session, login_as, org, clock):
    shop = setup_shop(session, org, login_as)
    headers = {**shop["buyer"], "Idempotency-Key": "same-key"}
    url = f"/api/v1/rewards/{shop['reward'].id}/redeem"
    first, again = client.post(url, headers=headers), client.post(url, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert points.balance_of(session, shop["buyer_id"]) == 15
    assert session.scalar(select(func.count()).select_from(Redemption)) == 1


def test_refusals_carry_their_message(client, session, login_as, org, clock):
    shop = setup_shop(session, org, login_as)
    url = f"/api/v1/rewards/{shop['reward'].id}/redeem"
    for key in ("a", "b"):
        assert client.post(url, headers={**shop["buyer"], "Idempotency-Key": key}).status_code == 201
    r = client.post(url, headers={**shop["buyer"], "Idempotency-Key": "c"})
    assert r.status_code == 409
    assert r.get_json()["code"] == "insufficient_points"
    assert r.get_json()["message"] == "积分不足：兑换「茶饮券」需要 10 分，当前余额 5 分"
    assert (
        client.post("/api/v1/rewards/9999/redeem", headers={**shop["buyer"], "Idempotency-Key": "d"}).status_code == 404
    )
    # Another community's resident cannot see or redeem this partner's rewards.
    outsider = login_as(None)
    assert client.get("/api/v1/rewards", headers=outsider).get_json()["items"] == []
    assert client.post(url, headers={**outsider, "Idempotency-Key": "e"}).status_code == 404


def test_cancel_refunds_and_only_the_owner_may_cancel(client, session, login_as, org, clock):
    shop = setup_shop(session, org, login_as)
    r = client.post(f"/api/v1/rewards/{shop['reward'].id}/redeem", headers={**shop["buyer"], "Idempotency-Key": "k"})
    rid = r.get_json()["id"]
    stranger = login_as(None, community_id=org.community.id)
    assert client.post(f"/api/v1/rewards/redemptions/{rid}/cancel", headers=stranger).status_code == 404
    r = client.post(f"/api/v1/rewards/redemptions/{rid}/cancel", headers=shop["buyer"])
    assert r.status_code == 200
    assert r.get_json()["status"] == "cancelled"
    assert r.get_json()["balance"] == 25
    r = client.post(f"/api/v1/rewards/redemptions/{rid}/cancel", headers=shop["buyer"])
    assert r.status_code == 409


def test_partners_add_rewards_to_their_own_catalogue(client, session, login_as, org, clock):
    shop = setup_shop(session, org, login_as)
    body = {"name": "理发券", "cost_points": 30, "stock": 5, "per_person_limit": 1}
    r = client.post("/api/v1/rewards", json=body, headers=shop["clerk"])
    assert r.status_code == 201
    assert r.get_json()["partner_id"] == shop["partner"].id
    assert client.post("/api/v1/rewards", json=body, headers=shop["buyer"]).status_code == 403
    assert client.post("/api/v1/rewards", json={**body, "stock": -1}, headers=shop["clerk"]).status_code == 422


def test_expired_codes_are_refunded_by_the_job(client, session, login_as, org, clock, run_jobs, app):
    shop = setup_shop(session, org, login_as)
    r = client.post(f"/api/v1/rewards/{shop['reward'].id}/redeem", headers={**shop["buyer"], "Idempotency-Key": "k"})
    qr = r.get_json()["qr"]
    clerk_id = resident_id_of(session, shop["clerk"])
    clock.advance(timedelta(days=8))
    with app.app_context():
        from jobs.queue import enqueue

        enqueue("jobs.points.expire_redemptions", job_id="expire-test")
    assert run_jobs() == 1
    session.expire_all()
    assert points.balance_of(session, shop["buyer_id"]) == 25
    clerk = login_as(clerk_id)  # a week later the clerk's session has expired: log in again
    r = client.post("/api/v1/rewards/scan", json={"token": qr}, headers=clerk)
    assert r.status_code == 409
    assert r.get_json()["code"] == "redemption_expired"


def _parallel_replays(app: Any) -> None:
    """20 threads send the same Idempotency-Key at once: one redemption, one debit, identical answers."""
    from services.demo import seed_org

    db = get_db(app)
    with db.transaction() as s:
        org = seed_org(s)
        partner = points.create_partner(s, org.community.id, "P-X", "联盟超市")
        reward_id = rewards.create_reward(s, partner.id, name="鸡蛋", cost_points=10, stock=100).id
        community_id = org.community.id
    headers = make_login(app)(None, community_id=community_id)
    with db.transaction() as s:
        rid = resident_id_of(s, headers)
        points.post(s, rid, 100, kind="earn", source_type="manual", source_id=None, idempotency_key="fund")
    barrier = threading.Barrier(20)
    answers: list[Any] = [None] * 20

    def run(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post(f"/api/v1/rewards/{reward_id}/redeem", headers={**headers, "Idempotency-Key": "race"})
        answers[i] = (r.status_code, r.get_json())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = [body for status, body in answers if status == 201]
    # Every answer is the first one, or a clean "still running, retry" while the first had not finished.
    assert created, answers[:3]
    assert all(body == created[0] for body in created), answers[:3]
    assert all(status in (201, 409) for status, _ in answers)
    with db.transaction() as s:
        assert points.balance_of(s, rid) == 90
        assert s.scalar(select(func.count()).select_from(PointsLedger).where(PointsLedger.delta < 0)) == 1


def test_parallel_replays_of_one_key_spend_once_on_sqlite(app, clock):
    _parallel_replays(app)


@pytest.mark.postgres
def test_parallel_replays_of_one_key_spend_once_on_postgres(pg_app, clock):
    _parallel_replays(pg_app)
