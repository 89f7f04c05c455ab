"""The property companies' red/black list: Bayesian smoothing, minimum ratings, attribution and change log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.web import get_db
from models import Appeal, AppealEvent, PropertyCompany, RankingChange, RankingEntry
from services.appeals.property_ranking import (
    company_ratings,
    compute_snapshot,
    latest_snapshot,
    monthly_window,
    rank_companies,
    snapshot_view,
)
from services.demo import seed_org
from services.errors import NotFound

DEC1 = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 2026-12-01 00:30 Suzhou: the December run


def test_smoothing_keeps_a_small_perfect_sample_below_a_large_excellent_one():
    companies = {1: "A", 2: "B", 3: "C", 4: "D", 5: "E"}
    ratings = {1: (5, 5), 2: (100, 95), 3: (20, 10), 4: (4, 0)}  # E has no rating at all
    prior, scores = rank_companies(companies, ratings, prior_weight=10, min_ratings=5)
    p0 = 110 / 129  # pooled: (5 + 95 + 10 + 0) / (5 + 100 + 20 + 4)
    assert prior == pytest.approx(p0)
    by_id = {s.property_company_id: s for s in scores}
    assert by_id[1].score == pytest.approx((5 + 10 * p0) / 15)
    assert by_id[2].score == pytest.approx((95 + 10 * p0) / 110)
    assert by_id[3].score == pytest.approx((10 + 10 * p0) / 30)
    # B (95 of 100) outranks A (5 of 5): A's raw 100% rests on five ratings.
    assert [(s.name, s.rank, s.list) for s in scores] == [
        ("B", 1, "red"),
        ("A", 2, "middle"),
        ("C", 3, "black"),
        ("D", None, "unranked"),  # 4 ratings < minimum 5, even though all were unsatisfied
        ("E", None, "unranked"),
    ]
    assert by_id[4].raw_rate == 0.0
    assert by_id[5].raw_rate is None
    assert by_id[5].score == pytest.approx(p0)  # no data: the prior itself


def test_no_ratings_uses_the_default_prior_and_ranks_nobody():
    prior, scores = rank_companies({1: "A"}, {})
    assert prior == 0.8
    assert [(s.rank, s.list) for s in scores] == [(None, "unranked")]


def test_monthly_window_is_the_90_days_before_the_local_first_of_month():
    key, start, end = monthly_window(DEC1)
    assert key == "2026-12"
    assert end == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 2026-12-01 00:00 Suzhou
    assert start == end - timedelta(days=90)


class Ratings:
    """Appeals dispatched to a unit and rated, written as events."""

    def __init__(self, session: Session, org: Any) -> None:
        self.session, self.org = session, org

    def event(self, appeal: Appeal, action: str, at: datetime, **fields: Any) -> None:
        self.session.add(AppealEvent(appeal_id=appeal.id, action=action, actor_type="system", created_at=at, **fields))
        self.session.flush()

    def dispatch(self, appeal: Appeal, at: datetime, company: str | None) -> None:
        payload = {
            "handler_type": "property_company" if company else "grid",
            "grid_id": self.org.grids["G1"].id,
            "department_id": None,
            "property_company_id": self.org.companies[company].id if company else None,
            "community_id": self.org.community.id,
            "accept_due_at": (at + timedelta(hours=2)).isoformat(),
            "due_at": (at + timedelta(days=3)).isoformat(),
        }
        self.event(appeal, "dispatch", at, to_status="dispatched", payload=payload)

    def rated(self, company: str | None, ratings: list[str], at: datetime, kind: str = "appeal") -> Appeal:
        appeal = Appeal(text="物业问题", kind=kind, community_id=self.org.community.id)
        self.session.add(appeal)
        self.session.flush()
        self.event(appeal, "create", at, payload={"kind": kind, "channel": "wechat"})
        self.dispatch(appeal, at + timedelta(hours=1), company)
        self.event(appeal, "resolve", at + timedelta(hours=5), to_status="resolved")
        self.event(appeal, "close", at + timedelta(hours=6), to_status="closed", reason_code="resolved")
        for i, rating in enumerate(ratings):
            self.event(appeal, "rate", at + timedelta(hours=7 + i), payload={"rating": rating})
        return appeal


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Iterator[tuple[Session, Any]]:
    """A session and the demo org on SQLite and on PostgreSQL (the JSON accessors differ)."""
    flask_app = request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")
    session = get_db(flask_app).session()
    org = seed_org(session)
    session.commit()
    yield session, org
    session.close()


def test_ratings_come_from_events_and_follow_the_last_dispatch(db):
    session, org = db
    r = Ratings(session, org)
    nov = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    for _ in range(6):
        r.rated("PC-LH", ["satisfied"], nov)
    r.rated("PC-LH", ["unsatisfied"], nov)
    r.rated("PC-LH", ["unsatisfied", "basically_satisfied"], nov)  # re-rated: the last rating counts
    r.rated("PC-LH", ["unsatisfied"], nov, kind="consultation")  # consultations are not ranked
    r.rated("PC-LH", ["unsatisfied"], datetime(2026, 8, 1, tzinfo=UTC))  # before the 90-day window
    r.rated("PC-XY", ["unsatisfied"], nov)
    r.rated(None, ["unsatisfied"], nov)  # handled by the grid: no company's rating
    # Dispatched to 星苑物业, returned, re-dispatched to the grid: the rating is the grid's, not 星苑's.
    moved = r.rated("PC-XY", [], nov)
    r.dispatch(moved, nov + timedelta(hours=30), None)
    r.event(moved, "rate", nov + timedelta(hours=40), payload={"rating": "unsatisfied"})
    session.commit()
    _, start, end = monthly_window(DEC1)
    ratings = company_ratings(session, start=start, end=end)
    lh, xy = org.companies["PC-LH"].id, org.companies["PC-XY"].id
    assert ratings == {lh: (8, 7), xy: (1, 0)}


def test_snapshot_is_monthly_idempotent_and_logs_rank_changes(session, org, caplog):
    r = Ratings(session, org)
    third = PropertyCompany(code="PC-3", name="第三物业")
    session.add(third)
    session.flush()
    org.companies["PC-3"] = third
    nov = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    for _ in range(9):
        r.rated("PC-LH", ["satisfied"], nov)
    r.rated("PC-LH", ["unsatisfied"], nov)
    for _ in range(5):
        r.rated("PC-XY", ["unsatisfied"], nov)
    for rating in ["satisfied", "satisfied", "unsatisfied"]:
        r.rated("PC-3", [rating], nov)  # 3 ratings: below the minimum of 5
    session.commit()

    with pytest.raises(NotFound):
        latest_snapshot(session)
    with caplog.at_level(logging.INFO, logger="services.appeals.property_ranking"):
        december, created = compute_snapshot(session, now=DEC1)
        session.commit()
    assert created
    view = snapshot_view(session, december)
    p0 = 11 / 18  # (9 + 0 + 2) / (10 + 5 + 3)
    assert view["prior_mean"] == pytest.approx(p0)
    assert [(e["name"], e["rank"], e["list"], e["rated"], e["satisfied"]) for e in view["entries"]] == [
        ("绿洲物业", 1, "red", 10, 9),
        ("星苑物业", 2, "black", 5, 0),
        ("第三物业", None, "unranked", 3, 2),
    ]
    assert view["entries"][0]["score"] == pytest.approx((9 + 10 * p0) / 20, abs=1e-4)
    assert "贝叶斯平滑" in view["method"]
    assert "少于 5 条" in view["method"]
    assert "61.1%" in view["method"]
    assert len(view["changes"]) == 3  # the first list: every company enters it
    assert "red/black list 2026-12" in caplog.text

    again, created = compute_snapshot(session, now=DEC1 + timedelta(days=3))
    assert (again.id, created) == (december.id, False)

    # January (window still holds November): 星苑物业 collects 40 good ratings, 第三物业 reaches the minimum.
    # p0 = (9 + 40 + 2) / (10 + 45 + 6) = 51/61; 星苑 (40 + 10·p0)/55 = 0.879 beats
    # 绿洲 (9 + 10·p0)/20 = 0.868.
    dec = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)
    for _ in range(40):
        r.rated("PC-XY", ["satisfied"], dec)
    for _ in range(3):
        r.rated("PC-3", ["unsatisfied"], dec)
    session.commit()
    january, created = compute_snapshot(session, now=datetime(2026, 12, 31, 16, 5, tzinfo=UTC))
    session.commit()
    assert created
    assert january.period_key == "2027-01"
    entries = {
        e.property_company_id: (e.rank, e.list)
        for e in session.scalars(select(RankingEntry).where(RankingEntry.snapshot_id == january.id))
    }
    lh, xy, pc3 = (org.companies[c].id for c in ("PC-LH", "PC-XY", "PC-3"))
    assert entries == {xy: (1, "red"), lh: (2, "middle"), pc3: (3, "black")}
    assert january.prior_mean == pytest.approx(51 / 61)
    changes = {
        c.property_company_id: (c.from_rank, c.to_rank, c.from_list, c.to_list)
        for c in session.scalars(select(RankingChange).where(RankingChange.snapshot_id == january.id))
    }
    assert changes == {
        xy: (2, 1, "black", "red"),
        lh: (1, 2, "red", "middle"),
        pc3: (None, 3, "unranked", "black"),
    }
    assert latest_snapshot(session).id == january.id
    assert latest_snapshot(session, "2026-12").id == december.id
