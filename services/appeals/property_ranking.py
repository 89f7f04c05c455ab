"""The property companies' red/black list (物业红黑榜), recomputed monthly from events.

Sample: residents' ratings given in the 90 days before the first day of the month (the last `rate` event of
each appeal in the window; consultations excluded), attributed to the property company named by the appeal's
latest `dispatch` before that rating.

Score (Bayesian smoothing with a Beta prior): score = (satisfied + m·p0) / (rated + m), where satisfied
counts 满意 and 基本满意, p0 is the pooled satisfaction rate of all companies in the window (0.8 when there
is no rating at all) and m = 10 is the prior's weight in ratings. A company with 3 ratings out of 3 does not
beat one with 95 out of 100; with few ratings a company sits near the pooled rate. Companies with fewer than
5 ratings are not ranked (样本不足). The top third of the ranked companies whose score is above p0 form the
red list, the bottom third below p0 the black list. Every snapshot is stored with its method text; changes
of rank or list against the previous snapshot are stored (RankingChange) and logged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from infra import clock
from models.appeal import AppealEvent
from models.org import PropertyCompany
from models.reports import RankingChange, RankingEntry, RankingSnapshot
from services.errors import NotFound

log = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
KIND = "property_company"
PRIOR_WEIGHT = 10.0  # m: the prior counts as this many ratings
DEFAULT_PRIOR = 0.8  # p0 when the window holds no rating at all
MIN_RATINGS = 5
WINDOW_DAYS = 90
SATISFIED = ("satisfied", "basically_satisfied")
RATINGS = (*SATISFIED, "unsatisfied")
LIST_LABELS = {"red": "红榜", "black": "黑榜", "middle": "—", "unranked": "样本不足"}


@dataclass(frozen=True)
class CompanyScore:
    """One company's numbers in a ranking."""

    property_company_id: int
    name: str
    rated: int
    satisfied: int
    raw_rate: float | None
    score: float
    rank: int | None
    list: str


def company_ratings(session: Session, *, start: datetime, end: datetime) -> dict[int, tuple[int, int]]:
    """(rated, satisfied) per property company for ratings given in [start, end), from the event log."""
    last_rate = (
        select(AppealEvent.appeal_id, func.max(AppealEvent.id).label("rate_id"))
        .where(AppealEvent.action == "rate", AppealEvent.created_at >= start, AppealEvent.created_at < end)
        .group_by(AppealEvent.appeal_id)
        .subquery()
    )
    consultations = select(AppealEvent.appeal_id).where(
        AppealEvent.action == "create", AppealEvent.payload["kind"].as_string() == "consultation"
    )
    last_dispatch = (
        select(last_rate.c.rate_id, func.max(AppealEvent.id).label("dispatch_id"))
        .join(
            AppealEvent,
            and_(
                AppealEvent.appeal_id == last_rate.c.appeal_id,
                AppealEvent.action == "dispatch",
                AppealEvent.id < last_rate.c.rate_id,
            ),
        )
        .where(last_rate.c.appeal_id.not_in(consultations))
        .group_by(last_rate.c.rate_id)
        .subquery()
    )
    rate, dispatch = aliased(AppealEvent), aliased(AppealEvent)
    company = dispatch.payload["property_company_id"].as_integer()
    handler = func.coalesce(dispatch.payload["handler_type"].as_string(), KIND)
    rating = rate.payload["rating"].as_string()
    stmt = (
        select(company, func.count(), func.sum(case((rating.in_(SATISFIED), 1), else_=0)))
        .select_from(last_dispatch)
        .join(dispatch, dispatch.id == last_dispatch.c.dispatch_id)
        .join(rate, rate.id == last_dispatch.c.rate_id)
        .where(company.is_not(None), handler == KIND, rating.in_(RATINGS))
        .group_by(company)
    )
    return {int(c): (int(n), int(s or 0)) for c, n, s in session.execute(stmt)}


def rank_companies(
    companies: dict[int, str],
    ratings: dict[int, tuple[int, int]],
    *,
    prior_weight: float = PRIOR_WEIGHT,
    min_ratings: int = MIN_RATINGS,
) -> tuple[float, list[CompanyScore]]:
    """The pooled prior p0 and each company's smoothed score, rank and list (pure; see module docstring)."""
    total_rated = sum(n for n, _ in ratings.values())
    total_satisfied = sum(s for _, s in ratings.values())
    prior = total_satisfied / total_rated if total_rated else DEFAULT_PRIOR
    scored = []
    for company_id, name in companies.items():
        rated, satisfied = ratings.get(company_id, (0, 0))
        score = (satisfied + prior_weight * prior) / (rated + prior_weight)
        scored.append((company_id, name, rated, satisfied, score))
    eligible = sorted((c for c in scored if c[2] >= min_ratings), key=lambda c: (-c[4], -c[2], c[0]))
    band = math.ceil(len(eligible) / 3)
    ranks = {c[0]: i + 1 for i, c in enumerate(eligible)}
    lists: dict[int, str] = {}
    for i, c in enumerate(eligible):
        if i < band and c[4] > prior:
            lists[c[0]] = "red"
        elif i >= len(eligible) - band and c[4] < prior:
            lists[c[0]] = "black"
        else:
            lists[c[0]] = "middle"
    result = [
        CompanyScore(
            property_company_id=company_id,
            name=name,
            rated=rated,
            satisfied=satisfied,
            raw_rate=satisfied / rated if rated else None,
            score=score,
            rank=ranks.get(company_id),
            list=lists.get(company_id, "unranked"),
        )
        for company_id, name, rated, satisfied, score in scored
    ]
    result.sort(key=lambda c: (c.rank is None, c.rank or 0, -c.rated, c.property_company_id))
    return prior, result


def method_text(start: datetime, end: datetime, prior: float, prior_weight: float, min_ratings: int) -> str:
    """The visible method shown with the list (Chinese, for staff and residents)."""
    first = start.astimezone(LOCAL_TZ).strftime("%Y-%m-%d")
    last = (end - timedelta(seconds=1)).astimezone(LOCAL_TZ).strftime("%Y-%m-%d")
    m = f"{prior_weight:g}"
    return (
        f"物业公司红黑榜口径：样本为 {first} 至 {last}（近{WINDOW_DAYS}天）居民对物业公司承办诉求的评价，"
        "每件诉求取最后一次评价，咨询类不计。满意度 =（满意 + 基本满意）÷ 评价数。"
        "为避免评价很少的公司因偶然结果排到两端，得分采用贝叶斯平滑："
        f"得分 =（满意数 + {m} × p0）÷（评价数 + {m}），"
        f"其中 p0 = 全部物业公司的总体满意率（本期 {prior * 100:.1f}%），{m} 相当于先验的评价条数。"
        f"评价少于 {min_ratings} 条的公司不参与排名（样本不足）。按得分从高到低排名，"
        "前三分之一且得分高于总体满意率的列入红榜，后三分之一且低于总体满意率的列入黑榜。每月1日重算，名次变化留痕。"
    )


def monthly_window(now: datetime) -> tuple[str, datetime, datetime]:
    """(YYYY-MM, start, end): the 90 days before the first day of the local month of `now`."""
    local = now.astimezone(LOCAL_TZ)
    end = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    return local.strftime("%Y-%m"), end - timedelta(days=WINDOW_DAYS), end


def _previous(session: Session, period_key: str) -> RankingSnapshot | None:
    return session.scalar(
        select(RankingSnapshot)
        .where(RankingSnapshot.kind == KIND, RankingSnapshot.period_key < period_key)
        .order_by(RankingSnapshot.period_key.desc())
        .limit(1)
    )


def compute_snapshot(
    session: Session,
    *,
    now: datetime | None = None,
    prior_weight: float = PRIOR_WEIGHT,
    min_ratings: int = MIN_RATINGS,
) -> tuple[RankingSnapshot, bool]:
    """Compute (once per month) the red/black list snapshot; returns (snapshot, created). Caller commits."""
    period_key, start, end = monthly_window(now or clock.now())
    existing = session.scalar(
        select(RankingSnapshot).where(RankingSnapshot.kind == KIND, RankingSnapshot.period_key == period_key)
    )
    if existing is not None:
        return existing, False
    companies = {i: n for i, n in session.execute(select(PropertyCompany.id, PropertyCompany.name))}
    prior, scores = rank_companies(
        companies,
        company_ratings(session, start=start, end=end),
        prior_weight=prior_weight,
        min_ratings=min_ratings,
    )
    snapshot = RankingSnapshot(
        kind=KIND,
        period_key=period_key,
        window_start=start,
        window_end=end,
        prior_mean=prior,
        prior_weight=prior_weight,
        min_ratings=min_ratings,
        method=method_text(start, end, prior, prior_weight, min_ratings),
    )
    session.add(snapshot)
    session.flush()
    for s in scores:
        session.add(
            RankingEntry(
                snapshot_id=snapshot.id,
                property_company_id=s.property_company_id,
                rated=s.rated,
                satisfied=s.satisfied,
                raw_rate=s.raw_rate,
                score=s.score,
                rank=s.rank,
                list=s.list,
            )
        )
    previous = _previous(session, period_key)
    before: dict[int, RankingEntry] = {}
    if previous is not None:
        before = {
            e.property_company_id: e
            for e in session.scalars(select(RankingEntry).where(RankingEntry.snapshot_id == previous.id))
        }
    for s in scores:
        old = before.get(s.property_company_id)
        if old is not None and old.rank == s.rank and old.list == s.list:
            continue
        session.add(
            RankingChange(
                snapshot_id=snapshot.id,
                previous_snapshot_id=previous.id if previous is not None else None,
                property_company_id=s.property_company_id,
                from_rank=old.rank if old is not None else None,
                to_rank=s.rank,
                from_list=old.list if old is not None else None,
                to_list=s.list,
            )
        )
        log.info(
            "red/black list %s: company %s rank %s → %s, list %s → %s",
            period_key,
            s.property_company_id,
            old.rank if old is not None else "-",
            s.rank if s.rank is not None else "-",
            old.list if old is not None else "-",
            s.list,
        )
    session.flush()
    return snapshot, True


def window_days(view: dict[str, Any]) -> tuple[date, date]:
    """A snapshot's [start, end) UTC window as the local days people read, both included."""
    start = datetime.fromisoformat(view["window_start"]).astimezone(clock.LOCAL_TZ).date()
    end = (datetime.fromisoformat(view["window_end"]) - timedelta(microseconds=1)).astimezone(clock.LOCAL_TZ)
    return start, end.date()


def snapshot_view(session: Session, snapshot: RankingSnapshot) -> dict:
    """A snapshot with its entries (company names, counts, scores, lists) and changes, ready for JSON."""
    names = {i: n for i, n in session.execute(select(PropertyCompany.id, PropertyCompany.name))}
    entries = session.scalars(
        select(RankingEntry)
        .where(RankingEntry.snapshot_id == snapshot.id)
        .order_by(RankingEntry.rank.is_(None), RankingEntry.rank, RankingEntry.property_company_id)
    )
    changes = session.scalars(
        select(RankingChange).where(RankingChange.snapshot_id == snapshot.id).order_by(RankingChange.id)
    )
    return {
        "period": snapshot.period_key,
        "window_start": snapshot.window_start.isoformat(),
        "window_end": snapshot.window_end.isoformat(),
        "prior_mean": snapshot.prior_mean,
        "prior_weight": snapshot.prior_weight,
        "min_ratings": snapshot.min_ratings,
        "method": snapshot.method,
        "entries": [
            {
                "property_company_id": e.property_company_id,
                "name": names.get(e.property_company_id, ""),
                "rated": e.rated,
                "satisfied": e.satisfied,
                "raw_rate": e.raw_rate,
                "score": round(e.score, 4),
                "rank": e.rank,
                "list": e.list,
                "list_label": LIST_LABELS[e.list],
            }
            for e in entries
        ],
        "changes": [
            {
                "property_company_id": c.property_company_id,
                "from_rank": c.from_rank,
                "to_rank": c.to_rank,
                "from_list": c.from_list,
                "to_list": c.to_list,
            }
            for c in changes
        ],
    }


def latest_snapshot(session: Session, period_key: str | None = None) -> RankingSnapshot:
    """The newest snapshot (or the one for `period_key`); NotFound when none was computed yet."""
    stmt = select(RankingSnapshot).where(RankingSnapshot.kind == KIND)
    if period_key is not None:
        stmt = stmt.where(RankingSnapshot.period_key == period_key)
    snapshot = session.scalar(stmt.order_by(RankingSnapshot.period_key.desc()).limit(1))
    if snapshot is None:
        raise NotFound("no red/black list has been computed yet" if period_key is None else f"no list for {period_key}")
    return snapshot
